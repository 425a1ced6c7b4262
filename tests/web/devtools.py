"""A headless Chromium driven over the DevTools protocol: just what the page test needs, nothing installed.

Chromium is started with a private profile and ``--remote-debugging-port=0``; the port it picked is read from
``DevToolsActivePort`` in that profile, and the page target is driven through its WebSocket (``websockets``
comes with ``uvicorn[standard]``, a dependency of the service).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--remote-debugging-port=0",
)


class DevToolsError(RuntimeError):
    """The browser answered a command with an error, or did not do something in time."""


class Page:
    """One browser tab: send commands, evaluate JavaScript, collect the page's uncaught errors."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.errors: list[str] = []

    def call(self, method: str, timeout_s: float = 30.0, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer (events arriving meanwhile are scanned for errors)."""
        command_id = next(self.ids)
        self.socket.send(json.dumps({"id": command_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=timeout_s))
            if message.get("id") == command_id:
                if "error" in message:
                    raise DevToolsError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._note_event(message)

    def _note_event(self, message: dict[str, Any]) -> None:
        if message.get("method") == "Runtime.exceptionThrown":
            details = message["params"]["exceptionDetails"]
            self.errors.append(str(details.get("exception", {}).get("description") or details.get("text")))
        elif message.get("method") == "Runtime.consoleAPICalled" and message["params"]["type"] == "error":
            self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in message["params"]["args"]))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited when it is a promise)."""
        answer = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in answer:
            raise DevToolsError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 30.0) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        give_up = time.monotonic() + timeout_s
        while time.monotonic() < give_up:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise DevToolsError(f"still false after {timeout_s} s: {expression}")

    def navigate(self, url: str) -> None:
        """Open ``url`` and wait for its load event."""
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def set_file(self, selector: str, path: Path) -> None:
        """Choose ``path`` in the file input at ``selector``, as a user would (fires its change event)."""
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        if not node:
            raise DevToolsError(f"no element matches {selector}")
        self.call("DOM.setFileInputFiles", nodeId=node, files=[str(path.resolve())])

    def screenshot(self, path: Path) -> Path:
        """The whole page (not only the viewport) as a PNG at ``path``."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def _debugging_port(profile: Path, process: subprocess.Popen[bytes], timeout_s: float) -> int:
    marker = profile / "DevToolsActivePort"
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise DevToolsError(f"chromium exited with {process.returncode}: {(profile / 'chromium.log').read_text()}")
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        time.sleep(0.05)
    raise DevToolsError("chromium did not open its DevTools port")


@contextmanager
def chromium(executable: str, profile: Path, width: int = 1280, height: int = 900) -> Iterator[Page]:
    """A headless Chromium with one tab of ``width`` x ``height`` CSS pixels; closed on exit."""
    command = [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]
    env = {**os.environ, "HOME": str(profile)}  # keep the browser's caches out of the user's home
    with (profile / "chromium.log").open("wb") as log:  # a file, not a pipe: nothing can fill up and block
        process = subprocess.Popen([*command, "about:blank"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        port = _debugging_port(profile, process, timeout_s=30.0)
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        with connect(url, max_size=None, open_timeout=10) as socket:
            page = Page(socket)
            for domain in ("Page", "Runtime", "DOM"):
                page.call(f"{domain}.enable")
            page.call(
                "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False
            )
            yield page
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
