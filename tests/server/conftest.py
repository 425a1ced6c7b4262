"""Real ``python -m service`` processes on free ports: the single-process server and the supervised one."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A running ``python -m service``: its URL, process, log, and (supervised) its children."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    front_ends: int = 0  # --workers: HTTP front-end processes of a supervised server (0: one process serves)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def children(self) -> list[psutil.Process]:
        """The supervisor's children that serve (multiprocessing's resource tracker left out)."""
        kids = psutil.Process(self.process.pid).children()
        return [kid for kid in kids if "resource_tracker" not in " ".join(kid.cmdline())]

    def frontends(self) -> list[psutil.Process]:
        """The processes listening on the port."""
        return [kid for kid in self.children() if _listens_on(kid, self.port)]

    def engine(self) -> psutil.Process:
        """The one child that does not listen on the port."""
        [engine] = [kid for kid in self.children() if not _listens_on(kid, self.port)]
        return engine

    def connections_by_frontend(self) -> dict[int, int]:
        """Established connections to the port, per front-end pid."""
        return {
            kid.pid: sum(
                1 for c in kid.net_connections("tcp") if c.laddr.port == self.port and c.status == "ESTABLISHED"
            )
            for kid in self.frontends()
        }

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, and the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def _established(process: psutil.Process, port: int) -> int:
    return sum(1 for c in process.net_connections("tcp") if c.laddr.port == port and c.status == "ESTABLISHED")


def _listens_on(process: psutil.Process, port: int) -> bool:
    try:
        return any(c.laddr.port == port and c.status == "LISTEN" for c in process.net_connections("tcp"))
    except psutil.NoSuchProcess:
        return False


@contextmanager
def launch(store: Path, folder: Path, *flags: str, **environment: str) -> Iterator[Server]:
    """``python -m service`` on a free port with ``flags``; killed (with its children) if a test leaves it running."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROADLENS_", "PROMETHEUS_"))}
    env.update(ROADLENS_MODEL_STORE=str(store), ROADLENS_DEVICE="cpu", ROADLENS_TORCH_THREADS="1", **environment)
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port), "--no-access-log", *flags]
    log = folder / f"server-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    front_ends = int(flags[flags.index("--workers") + 1]) if "--workers" in flags else 0
    server = Server(f"http://127.0.0.1:{port}", port, process, log, front_ends)
    try:
        yield server
    finally:
        if process.poll() is None:
            family = psutil.Process(process.pid).children(recursive=True)
            process.kill()
            for kid in family:
                kid.kill()
            process.wait(10)


async def wait_until_ready(client: httpx.AsyncClient, server: Server, timeout_s: float = 90) -> None:
    """Until /readyz answers 200 and, for a supervised server, every front-end is connected to the engine.

    /readyz is one front-end's answer: a request that lands on another one still connecting gets 503.
    """
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout_s
    while loop.time() < give_up:
        assert server.process.poll() is None, server.output()
        try:
            if (await client.get("/readyz")).status_code == 200 and await _all_connected(client, server):
                return
        except httpx.TransportError:
            pass  # not listening yet
        await asyncio.sleep(0.05)
    raise AssertionError(f"not ready after {timeout_s} s:\n{server.output()}")


async def _all_connected(client: httpx.AsyncClient, server: Server) -> bool:
    if not server.front_ends:
        return True
    connected = samples((await client.get("/metrics")).text).get(("roadlens_engine_connected", ()), 0.0)
    return connected >= server.front_ends


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, keyed by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(text: str, name: str) -> float:
    """The sum of a sample over its labels."""
    return sum(value for (sample, _), value in samples(text).items() if sample == name)
