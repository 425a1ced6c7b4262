"""A real ``python -m service`` (uvicorn, httptools, uvloop) as a subprocess, configured by environment variables."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Server:
    """A running service: its address, process and log file."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://{self.host}:{self.port}"

    def connect(self) -> socket.socket:
        """A fresh TCP connection to the service."""
        return socket.create_connection((self.host, self.port), timeout=10)

    def pids(self) -> list[int]:
        """The server's processes: itself and, when it supervises, its children."""
        return [self.process.pid, *(child.pid for child in psutil.Process(self.process.pid).children(recursive=True))]

    def rss_bytes(self) -> int:
        """The resident memory of the server's processes together."""
        total = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time the server's processes have used."""
        total = 0.0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Until the process has used almost no CPU for 0.3 s (threads finished abandoned work)."""
        give_up = time.monotonic() + timeout_s
        before = self.cpu_seconds()
        while time.monotonic() < give_up:
            time.sleep(0.3)
            now = self.cpu_seconds()
            if now - before < 0.02:
                return
            before = now
        raise AssertionError("the server stayed busy")


def wait_ready(server: Server, timeout_s: float = 60.0) -> None:
    """Poll /readyz until 200 (the log is shown when the process dies or never gets ready)."""
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        assert server.process.poll() is None, server.log.read_text()
        try:
            if httpx.get(server.url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.1)
    raise AssertionError(f"not ready after {timeout_s} s:\n{server.log.read_text()}")


@contextmanager
def running_service(
    model_store: Path, log_dir: Path, environment: Mapping[str, str] | None = None, **settings: str
) -> Iterator[Server]:
    """``python -m service`` on a free port with ``ROADLENS_<NAME>`` = value for each setting given (and any other
    ``environment`` variables); ready. One process unless ``workers`` is given."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROADLENS_")}
    env.update(
        ROADLENS_MODEL_STORE=str(model_store),
        ROADLENS_DEVICE="cpu",
        ROADLENS_TORCH_THREADS="1",
        ROADLENS_WARMUP="false",
        ROADLENS_ACCESS_LOG="false",
        ROADLENS_WORKERS="0",  # one process unless a test asks for front-ends and an engine (workers="2")
    )
    env.update({"ROADLENS_" + name.upper(): value for name, value in settings.items()})
    env.update(environment or {})
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    log = log_dir / f"server-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    server = Server("127.0.0.1", port, process, log)
    try:
        wait_ready(server)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
