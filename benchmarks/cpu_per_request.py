"""CPU time per request of the whole server (every process of it), read from /proc over a wrk run.

    python -m benchmarks.cpu_per_request [--workers 0 2] [--endpoint /predict] [--seconds 15] [--concurrency 32]
        [--checkout DIR]

Throughput on a shared 2-core machine swings with whatever else runs; the CPU seconds the server's processes
spend per answered request move much less, so they are what a change to the request path is judged by. For each
``--workers`` value a ``python -m service`` is started (``0``: one process; ``N``: a supervisor, N front-ends and
the engine), warmed up, and loaded by wrk; the utime + stime of the server's process tree before and after the
measured run, divided by the requests answered, is the figure, split into front-end(s) and engine where there are
several processes. ``--checkout`` starts the server of another checkout of the project (an older commit, for a
before/after figure) with this interpreter; ``--workers -1`` starts it without the flag (a version before
``--workers`` existed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.live import LUA, ROOT, free_port, process_cpu, run_wrk, sample_png, wait_ready


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def roles(pid: int) -> dict[str, list[int]]:
    """The server's processes by role: the supervisor (or single process), front-ends, engine."""
    kids = [kid for kid in children(pid) if "resource_tracker" not in Path(f"/proc/{kid}/cmdline").read_text()]
    if not kids:
        return {"server": [pid]}
    listening = _listening_pids(kids)
    return {
        "supervisor": [pid],
        "front-ends": [k for k in kids if k in listening],
        "engine": [k for k in kids if k not in listening],
    }


def _listening_pids(pids: list[int]) -> set[int]:
    """Which of ``pids`` hold a listening TCP socket (front-ends do, the engine does not)."""
    listening_inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "0A":  # LISTEN
                listening_inodes.add(parts[9])
    found = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in listening_inodes:
                found.add(pid)
    return found


@contextmanager
def server(workers: int, checkout: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {**os.environ, "ROADLENS_LOG_LEVEL": "warning", "ROADLENS_ACCESS_LOG": "false"}
    env["ROADLENS_MODEL_STORE"] = str(checkout / "model_store")
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)] if workers >= 0 else []
    with tempfile.TemporaryFile() as log:  # not a pipe: one nobody reads would fill and block the server
        process = subprocess.Popen(command, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_ready(f"http://127.0.0.1:{port}", process, log)
            yield f"http://127.0.0.1:{port}", process.pid
        finally:
            process.terminate()
            process.wait(timeout=60)


def measure(
    workers: int, endpoint: str, seconds: float, concurrency: int, body: Path, checkout: Path
) -> dict[str, float]:
    with server(workers, checkout) as (base, pid):
        run_wrk(base, endpoint, concurrency, 5, body)  # warm-up
        tree = roles(pid)
        before = {role: sum(process_cpu(p) for p in pids) for role, pids in tree.items()}
        result = run_wrk(base, endpoint, concurrency, seconds, body)
        after = {role: sum(process_cpu(p) for p in pids) for role, pids in tree.items()}
    requests = int(result["requests"])
    row = {f"{role} µs": (after[role] - before[role]) / requests * 1e6 for role in tree}
    row["total µs"] = sum(row.values())
    row["req/s"] = requests / (int(result["duration_us"]) / 1e6)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--endpoint", default="/predict")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the checkout whose server is measured")
    args = parser.parse_args(argv)
    assert LUA.exists()
    with tempfile.TemporaryDirectory() as folder:
        body = Path(folder) / "tile.png"
        body.write_bytes(sample_png())
        for workers in args.workers:
            row = measure(workers, args.endpoint, args.seconds, args.concurrency, body, args.checkout.resolve())
            cells = ", ".join(f"{key} {value:,.0f}" for key, value in row.items())
            print(f"workers={workers} {args.endpoint} c={args.concurrency}: {cells}", flush=True)


if __name__ == "__main__":
    main()
