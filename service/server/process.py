"""What the supervisor's children share: where the engine listens and where metrics go, and how a child starts.

A child process dies with its parent (``PR_SET_PDEATHSIG``), so a supervisor killed outright leaves no orphan
holding the port or the device; it ignores Ctrl-C's SIGINT, which a terminal sends to the whole process group,
because the supervisor stops the children itself, in order (front-ends first, then the engine).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging.config
import signal
from dataclasses import dataclass
from pathlib import Path

from service.config import Settings

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Runtime:
    """One server's private folder (mode 0700) and the port its front-ends share."""

    folder: Path
    port: int

    @property
    def engine_socket(self) -> Path:
        """The engine process's Unix socket."""
        return self.folder / "engine.sock"

    @property
    def metrics_folder(self) -> Path:
        """prometheus-client's multiprocess files (``PROMETHEUS_MULTIPROC_DIR``)."""
        return self.folder / "metrics"


def die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this process when its parent dies (a no-op elsewhere)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def start_child(settings: Settings) -> None:
    """The common start of a supervised process: die with the parent, leave SIGINT to it, log like uvicorn."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from service.server.http import log_config

    logging.config.dictConfig(log_config(settings))
