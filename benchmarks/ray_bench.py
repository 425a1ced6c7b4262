"""Ray Serve vs the plain server, side by side in one run: throughput, latency, cold start by phase, memory.

    python -m benchmarks.ray_bench [--duration 8] [--rounds 2] [--out docs/benchmarks.md]

Starts a plain ``python -m service`` and a single-node Ray cluster on 127.0.0.1 (every listener checked) serving
the same application twice: ``one`` with one replica, ``two`` with two, each replica with the plain server's
settings. wrk posts one PNG tile to ``/predict`` at concurrency 1, 8 and 32; each cell's load is given in turns
that rotate over the three servers, so the ratios compare the same moments of a shared machine. Memory is each
process's proportional set size (PSS: shared pages divided among the processes that map them).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.live import free_port, machine_description, run_wrk, sample_png, write_section
from benchmarks.ray_report import (
    CONCURRENCY,
    ONE,
    PLAIN,
    SERVERS,
    TWO,
    Phases,
    format_row,
    report,
    summary,
)
from benchmarks.serve_bench import combine

ROOT = Path(__file__).resolve().parent.parent
# Set before Ray is imported (it reads them once): node, listeners and traffic on 127.0.0.1; no usage reports.
RAY_ENVIRONMENT = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
QUIET = {"access_log": False, "log_level": "warning"}


def pss_mib(pid: int) -> float:
    """The process's proportional set size in MiB (0 when it is gone)."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    kib = next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
    return kib / 1024


def command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def wait_for(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 300.0) -> None:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer 200 in {timeout} s")


def first_predict(url: str, body: bytes) -> None:
    answer = httpx.post(f"{url}/predict", files={"file": ("tile.png", body, "image/png")}, timeout=60)
    answer.raise_for_status()


@contextlib.contextmanager
def plain_server(store: Path, body: bytes) -> Iterator[tuple[str, int, Phases]]:
    """``python -m service`` with its default settings; its URL, process id and start-up phases."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROADLENS_")}
    env.update(ROADLENS_MODEL_STORE=str(store), ROADLENS_ACCESS_LOG="false", ROADLENS_LOG_LEVEL="warning")
    started = time.monotonic()
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url, phases = f"http://127.0.0.1:{port}", Phases([])
    try:
        wait_for(f"{url}/healthz", process)
        phases.add("process up: imports (torch too), HTTP listening (/healthz)", started)
        wait_for(f"{url}/readyz", process)
        phases.add("models loaded and warmed up (/readyz)", started)
        first_predict(url, body)
        phases.add("first /predict answered", started)
        yield url, process.pid, phases
    finally:
        process.terminate()
        process.wait(timeout=60)


def replica_ready_seconds(metrics_url: str, application: str) -> float:
    """Seconds a replica of ``application`` took from building its app to ready (its own gauge, exported by Ray)."""
    from prometheus_client.parser import text_string_to_metric_families

    from service.scale.ray_serve import READY_SECONDS

    give_up = time.monotonic() + 60  # the replica's metrics reach the export a few seconds late
    while time.monotonic() < give_up:
        for family in text_string_to_metric_families(httpx.get(metrics_url, timeout=10).text):
            for sample in family.samples:
                if sample.name == f"ray_{READY_SECONDS}" and sample.labels.get("application") == application:
                    return float(sample.value)
        time.sleep(0.5)
    raise TimeoutError(f"no ray_{READY_SECONDS} for {application}")


@contextlib.contextmanager
def ray_cluster(store: Path, body: bytes) -> Iterator[tuple[dict[str, str], Phases, Phases, str]]:
    """The cluster with applications ``one`` and ``two``; their URLs, the phases of the cluster's start and of
    a 1-replica application's, and the metrics export URL."""
    os.environ.update(RAY_ENVIRONMENT)
    import ray
    from ray import serve

    from service.scale.ray_serve import build_app

    cluster_phases, replica_phases = Phases([]), Phases([])
    started = time.monotonic()
    ray.init(num_cpus=4, _node_ip_address="127.0.0.1", log_to_driver=False)
    cluster_phases.add("ray.init: GCS, raylet, dashboard and agents up", started)
    port = free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        cluster_phases.add("serve.start: controller and HTTP proxy up", started)
        settings = {"model_store": str(store), **QUIET}
        started = time.monotonic()
        serve.run(build_app({"num_replicas": 1, "settings": settings}), name="one", route_prefix="/one")
        replica_phases.add("serve.run returned: the replica RUNNING (scheduled, started, loaded, warmed up)", started)
        first_predict(f"http://127.0.0.1:{port}/one", body)
        replica_phases.add("first /predict answered through the proxy", started)
        serve.run(build_app({"num_replicas": 2, "settings": settings}), name="two", route_prefix="/two")
        [node] = ray.nodes()
        metrics_url = f"http://127.0.0.1:{node['MetricsExportPort']}/metrics"
        urls = {ONE: f"http://127.0.0.1:{port}/one", TWO: f"http://127.0.0.1:{port}/two"}
        yield urls, cluster_phases, replica_phases, metrics_url
    finally:
        serve.shutdown()
        ray.shutdown()


def check_loopback(pids: set[int]) -> None:
    """Every socket these processes listen on is on 127.0.0.1 (as in tests/ray)."""
    from tests.ray.processes import is_loopback, sockets_of

    outside = [s for s in sockets_of(pids) if s.listening and not is_loopback(s.local[0])]
    if outside:
        raise RuntimeError(f"listening beyond loopback: {outside}")


def memory_rows(plain_pid: int, ray_pids: set[int]) -> list[tuple[str, int, float]]:
    """(what, processes, PSS MiB): the plain server, each replica, and Ray's own processes by kind."""
    rows = [("plain server process", 1, pss_mib(plain_pid))]
    groups: dict[str, list[float]] = {}
    for pid in ray_pids:
        name = command_name(pid)
        if name.startswith("ray::ServeReplica"):
            rows.append((f"replica of application `{name.split(':')[3]}`", 1, pss_mib(pid)))
            continue
        kind = "idle Ray workers" if name == "ray::IDLE" else "Ray's own processes (GCS, raylet, agents, ...)"
        if name.startswith(("ray::ServeController", "ray::ProxyActor")):
            kind = "Serve controller and HTTP proxy"
        groups.setdefault(kind, []).append(pss_mib(pid))
    rows += [(kind, len(values), sum(values)) for kind, values in sorted(groups.items())]
    return rows


def descendants(root: int) -> set[int]:
    from tests.ray.processes import descendants as below

    return below(root)


def measure(store: Path, body_file: Path, seconds: float, rounds: int) -> dict[str, Any]:
    body = body_file.read_bytes()
    load_before = os.getloadavg()[0]
    with plain_server(store, body) as (plain_url, plain_pid, plain_phases):
        others = descendants(os.getpid())
        with ray_cluster(store, body) as (urls, cluster_phases, replica_phases, metrics_url):
            ray_pids = descendants(os.getpid()) - others
            check_loopback(ray_pids | {plain_pid, os.getpid()})
            initialisation = replica_ready_seconds(metrics_url, "one")
            urls = {PLAIN: plain_url, **urls}
            for url in urls.values():
                run_wrk(url, "/predict", 32, min(3.0, seconds), body_file)  # warm-up
            memory = memory_rows(plain_pid, ray_pids)
            results = []
            for concurrency in CONCURRENCY:
                turns: dict[str, list[dict[str, Any]]] = {name: [] for name in SERVERS}
                for _ in range(rounds):
                    for name in SERVERS:
                        turns[name].append(run_wrk(urls[name], "/predict", concurrency, seconds / rounds, body_file))
                for name in SERVERS:
                    results.append(combine(name, "/predict", concurrency, turns[name]))
                    print(format_row(results[-1]), flush=True)
    return {
        "results": results,
        "memory": memory,
        "plain_phases": plain_phases,
        "cluster_phases": cluster_phases,
        "replica_phases": replica_phases,
        "replica_initialisation_s": initialisation,
        "load": (load_before, os.getloadavg()[0]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load per cell")
    parser.add_argument("--rounds", type=int, default=2, help="turns each cell's load is split into")
    parser.add_argument("--runs", type=int, default=2, help="whole runs, each reported (a shared machine is noisy)")
    parser.add_argument("--store", type=Path, default=ROOT / "model_store", help="model store to serve")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="Markdown report")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory() as folder:
        body = Path(folder) / "tile.png"
        body.write_bytes(sample_png())
        runs = [measure(args.store, body, args.duration, args.rounds) for _ in range(args.runs)]
    sections = [report(run, f"Run {number}") for number, run in enumerate(runs, 1)]
    sections.append(summary(runs))
    header = [
        "## Ray Serve vs the plain server",
        "",
        "Made by `python -m benchmarks.ray_bench` (a plain `python -m service` and a single-node Ray cluster on "
        "127.0.0.1 serving the same application with 1 and 2 replicas, all with the default settings; wrk posting a "
        f"{len(sample_png()):,}-byte PNG tile to `/predict`, {args.duration:g} s per cell in {args.rounds} turns "
        "rotating over the three servers; latency percentiles are the median over the turns). Each run starts "
        "everything afresh. Serve's own request log stays on (its default); Ray's throughput-optimised mode "
        "(`RAY_SERVE_THROUGHPUT_OPTIMIZED=1`) is not measured. The machine is shared with other work (each run "
        "gives its load average): compare ratios within a run, not absolute numbers across runs or machines.",
        "",
        f"Machine: {machine_description()}, Ray {ray_version()}.",
        "",
    ]
    write_section(args.out, "ray_bench", "\n".join(header) + "\n" + "\n".join(sections))
    print(f"wrote {args.out}")


def ray_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("ray")


if __name__ == "__main__":
    os.environ.update(RAY_ENVIRONMENT)
    main()
