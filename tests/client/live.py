"""A real ``python -m service`` on a free port, for the tests of the client, the command line and the web page."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "client-test-key-0123456789"


@dataclass(frozen=True)
class LiveServer:
    """A running service: its base URL, its process and its log file."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(server: LiveServer, headers: dict[str, str], timeout_s: float = 60.0) -> None:
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        assert server.process.poll() is None, server.log.read_text()
        try:
            if httpx.get(f"{server.url}/readyz", headers=headers, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.1)
    raise AssertionError(f"not ready after {timeout_s} s:\n{server.log.read_text()}")


@contextmanager
def live_server(store: Path, folder: Path, api_key: str | None = None) -> Iterator[LiveServer]:
    """The service on ``store`` (CPU, one torch thread, no warm-up), ready; killed on exit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROADLENS_")}
    env.update(ROADLENS_MODEL_STORE=str(store), ROADLENS_DEVICE="cpu", ROADLENS_TORCH_THREADS="1")
    env.update(ROADLENS_WARMUP="false", ROADLENS_ACCESS_LOG="false")
    if api_key:
        env["ROADLENS_API_KEYS"] = api_key
    log = folder / "server.log"
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(server, {"X-API-Key": api_key} if api_key else {})
        yield server
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# One server for the whole run, shared by the client, command-line and web page tests: a session fixture
# defined in two conftest files would start two, and each start costs seconds of torch imports.
_running: dict[Path, LiveServer] = {}
_stack = ExitStack()


def shared_live_server(store: Path, factory: pytest.TempPathFactory, config: pytest.Config) -> LiveServer:
    """The live server on ``store`` with API key ``API_KEY`` required, started on first use, stopped at the end."""
    if store not in _running:
        if not _running:
            config.add_cleanup(_stack.close)
        _running[store] = _stack.enter_context(live_server(store, factory.mktemp("live-server"), api_key=API_KEY))
    return _running[store]
