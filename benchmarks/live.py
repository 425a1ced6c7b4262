"""What the HTTP benchmarks share: a live ``python -m service`` on a free loopback port, a real tile to post,
``wrk`` runs, the machine's description and the report sections in ``docs/benchmarks.md``."""

from __future__ import annotations

import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "post_image.lua"


@dataclass(frozen=True)
class ServerConfig:
    """A server to start: its label in the tables and its ``ROADLENS_*`` settings."""

    label: str
    env: dict[str, str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sample_png() -> bytes:
    """A real synthetic road tile, PNG-encoded (what a client would send). One that every shipped version calls
    road (roadnet/2 leaves index 1 at p=0.42), so that ``/segment`` cuts a mask rather than stopping at its gate."""
    from training.data.synthetic import SyntheticConfig, make_tile

    rgb = make_tile(seed=0, index=2, config=SyntheticConfig(road_fraction=1.0)).image
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


@contextmanager
def live_server(config: ServerConfig, store: Path) -> Iterator[str]:
    """Start ``python -m service`` with the configuration's environment; yield its base URL once ready."""
    port = free_port()
    env = {
        **os.environ,
        "ROADLENS_MODEL_STORE": str(store),
        "ROADLENS_LOG_LEVEL": "warning",
        **config.env,
    }
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    # The log goes to a file: a pipe nobody reads fills up, and the server then blocks on its next log line.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, process, log)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=60)


def wait_ready(base: str, process: subprocess.Popen[bytes], log: IO[bytes], timeout: float = 120.0) -> None:
    """Wait for ``/readyz``; raise with the server's log (``log``, its stderr) if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read().decode(errors='replace')}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server did not become ready")


def wrk_threads(concurrency: int) -> int:
    """wrk's threads: one below 8 connections, else a quarter of the cores (at least 2), so that on a 16-core
    machine at 256 connections the load generator is not the bound, and on 2 cores it leaves the server room."""
    if concurrency < 8:
        return 1
    return min(concurrency, max(2, (os.cpu_count() or 2) // 4))


def run_wrk(base: str, endpoint: str, concurrency: int, seconds: float, body: Path) -> dict[str, Any]:
    """One wrk run posting ``body``; its ``RESULT`` line (``post_image.lua``) as a dict."""
    command = [
        "wrk",
        f"-t{wrk_threads(concurrency)}",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA),
        f"{base}{endpoint}",
    ]
    env = {**os.environ, "BODY_FILE": str(body), "CONTENT_TYPE": "image/png"}
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    line = next(row for row in output.splitlines() if row.startswith("RESULT "))
    return dict(json.loads(line.removeprefix("RESULT ")))


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_description() -> str:
    import torch

    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        cpu = names[0] if names else cpu
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU (the service ran on the CPU)"
    return (
        f"{os.cpu_count()} vCPU ({cpu}), {memory:.0f} GiB RAM, {gpu}; Python {platform.python_version()}, "
        f"torch {torch.__version__}, wrk {wrk_version()}"
    )


def wrk_version() -> str:
    completed = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return (completed.stdout or completed.stderr).split()[1] if (completed.stdout or completed.stderr) else "?"


def write_section(path: Path, name: str, section: str) -> None:
    """Replace the section ``name`` of the report (between its markers), keeping every other section; a new
    section goes after the title."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{section}{end}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) + 1 :]
    else:
        text = text.replace("# Benchmarks\n\n", f"# Benchmarks\n\n{block}\n", 1)
    path.write_text(text)
