"""The multi-process server: one engine process that owns the device, N HTTP front-end processes, and this
supervisor, which starts them, replaces whichever dies, and stops them in order.

- Start: a private runtime folder (mode 0700) holds the engine's Unix socket and the metrics files; the port is
  held by a socket that never listens (so port 0 resolves once and no other program can take the port), and
  every front-end binds its own ``SO_REUSEPORT`` socket to it.
- A front-end that dies is replaced while the others keep serving. An engine that dies is restarted; meanwhile
  the front-ends answer 503 at once (their link to it is gone) and reconnect by themselves.
- SIGTERM or SIGINT: the front-ends stop accepting and finish their requests (within the grace period), then the
  engine finishes what it accepted; every process exits and the exit status is 0.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from service.config import Settings
from service.observability.metrics import MULTIPROCESS_DIR_VARIABLE
from service.server.engine_process import run_engine
from service.server.frontend import run_frontend
from service.server.process import Runtime
from service.server.serve import shared_port_socket

logger = logging.getLogger("service.supervisor")

QUICK_EXIT_S = 5.0  # a child that dies sooner than this after its start counts as crashing
MAX_RESTART_DELAY_S = 10.0
EXTRA_STOP_S = 5.0  # beyond the grace period, before a child that will not stop is killed


@dataclass
class Child:
    """One supervised process: what it runs, and its crash history."""

    role: str  # "engine" or "frontend-N"
    target: Any
    args: tuple[Any, ...]
    process: BaseProcess | None = None
    started: float = 0.0
    quick_exits: int = 0
    restart_at: float | None = field(default=None)


class Supervisor:
    """Runs ``settings.workers`` front-ends and one engine until SIGTERM or SIGINT; ``run()`` returns the exit code."""

    def __init__(self, settings: Settings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        self._context = multiprocessing.get_context("spawn")
        self._stopping = False

    def run(self) -> int:
        """Serve until told to stop; 0 after an orderly stop."""
        folder = Path(tempfile.mkdtemp(prefix="roadlens-"))
        wake_reader, wake_writer = socket.socketpair()
        try:
            os.chmod(folder, 0o700)
            self._prepare_metrics(folder)
            with shared_port_socket(self.settings.host, self.settings.port, listen=False) as hold:
                runtime = Runtime(folder, hold.getsockname()[1])
                self._install_signals(wake_writer)
                engine = Child("engine", run_engine, (self.settings, runtime))
                frontends = [
                    Child(f"frontend-{i}", run_frontend, (self.settings, runtime)) for i in range(self.workers)
                ]
                self._start(engine)
                for child in frontends:
                    self._start(child)
                logger.info("serving http://%s:%d: %d front-ends", self.settings.host, runtime.port, self.workers)
                self._watch([engine, *frontends], wake_reader)
                self._stop_all(frontends)
                self._stop_all([engine])
        finally:
            wake_reader.close()
            wake_writer.close()
            shutil.rmtree(folder, ignore_errors=True)
        return 0

    @staticmethod
    def _prepare_metrics(folder: Path) -> None:
        metrics = Runtime(folder, 0).metrics_folder
        metrics.mkdir()
        # prometheus-client picks its multiprocess mode from this variable when a child first imports it.
        os.environ[MULTIPROCESS_DIR_VARIABLE] = str(metrics)

    def _install_signals(self, wake_writer: socket.socket) -> None:
        def stop(signum: int, _frame: object) -> None:
            if not self._stopping:
                logger.info("received %s: stopping the front-ends, then the engine", signal.Signals(signum).name)
            self._stopping = True

        wake_writer.setblocking(False)
        signal.set_wakeup_fd(wake_writer.fileno())
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def _start(self, child: Child) -> None:
        process = self._context.Process(target=child.target, args=child.args, name=f"roadlens-{child.role}")
        process.start()
        child.process, child.started, child.restart_at = process, time.monotonic(), None
        logger.info("started %s (pid %s)", child.role, process.pid)

    def _watch(self, children: list[Child], wake: socket.socket) -> None:
        while not self._stopping:
            live = {child.process.sentinel: child for child in children if child.process is not None}
            timeout = self._next_restart_in(children)
            ready = wait([*live, wake], timeout)
            if wake in ready:
                with contextlib.suppress(BlockingIOError):
                    wake.recv(4096)
            for sentinel in ready:
                if sentinel in live:
                    self._exited(live[sentinel])
            self._restart_due(children)

    def _exited(self, child: Child) -> None:
        process = child.process
        assert process is not None
        process.join()
        child.process = None
        _forget_metrics_of(process.pid)
        if self._stopping:
            return
        quick = time.monotonic() - child.started < QUICK_EXIT_S
        child.quick_exits = child.quick_exits + 1 if quick else 0
        delay = min(MAX_RESTART_DELAY_S, 0.5 * 2 ** (child.quick_exits - 1)) if child.quick_exits else 0.0
        child.restart_at = time.monotonic() + delay
        logger.error("%s (pid %s) exited with %s; restart in %.1f s", child.role, process.pid, process.exitcode, delay)

    def _next_restart_in(self, children: list[Child]) -> float | None:
        due = [child.restart_at for child in children if child.restart_at is not None]
        return max(0.0, min(due) - time.monotonic()) if due else None

    def _restart_due(self, children: list[Child]) -> None:
        now = time.monotonic()
        for child in children:
            if child.restart_at is not None and child.restart_at <= now and not self._stopping:
                self._start(child)

    def _stop_all(self, children: list[Child]) -> None:
        """SIGTERM, then wait the grace period (and a little more), then SIGKILL whatever is left."""
        running = [child.process for child in children if child.process is not None and child.process.is_alive()]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid or 0, signal.SIGTERM)
        give_up = time.monotonic() + self.settings.shutdown_timeout_s + EXTRA_STOP_S
        for process in running:
            process.join(max(0.0, give_up - time.monotonic()))
            if process.is_alive():
                logger.error("pid %s did not stop within the grace period: killed", process.pid)
                process.kill()
                process.join()
            _forget_metrics_of(process.pid)


def _forget_metrics_of(pid: int | None) -> None:
    """Drop a dead process's live gauges (its counters stay: what it counted happened)."""
    if pid is None:
        return
    from prometheus_client import multiprocess

    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(pid)
