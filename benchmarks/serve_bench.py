"""Throughput and latency of the live service under wrk load, batched vs unbatched, in one run.

    python -m benchmarks.serve_bench [--duration 10] [--out docs/benchmarks.md]

For each server configuration (dynamic batching on; ``max_batch_size=1``; and a small queue bound for the
overload check) a real ``python -m service`` process is started on a free loopback port, warmed up, and
driven by ``wrk`` (a C load generator: a Python client on 2 cores measures itself, not the server) posting one
real PNG tile (with a road, so that ``/segment`` cuts a mask) at concurrency 1, 8, 32 and 128 to ``/predict``,
``/visualbackprop`` and ``/segment``. The report is a Markdown table with the machine's description and the ratios
the project promises.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "post_image.lua"
ENDPOINTS = ("/predict", "/visualbackprop", "/segment")
CONCURRENCY = (1, 8, 32, 128)
BEGIN, END = "<!-- serve_bench:begin -->", "<!-- serve_bench:end -->"


@dataclass(frozen=True)
class ServerConfig:
    label: str
    env: dict[str, str]


CONFIGS = (
    ServerConfig("batched", {"ROADLENS_MAX_BATCH_SIZE": "32", "ROADLENS_MAX_QUEUE": "0"}),
    ServerConfig("unbatched", {"ROADLENS_MAX_BATCH_SIZE": "1", "ROADLENS_MAX_QUEUE": "0"}),
)
OVERLOAD = ServerConfig("batched, queue bound 16", {"ROADLENS_MAX_BATCH_SIZE": "32", "ROADLENS_MAX_QUEUE": "16"})


@dataclass(frozen=True)
class Result:
    config: str
    endpoint: str
    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    statuses: dict[str, int]
    socket_errors: int

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sample_png() -> bytes:
    """A real synthetic road tile, PNG-encoded (what a client would send)."""
    from training.data.synthetic import SyntheticConfig, make_tile

    rgb = make_tile(seed=0, index=1, config=SyntheticConfig(road_fraction=1.0)).image
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


@contextmanager
def live_server(config: ServerConfig, store: Path) -> Iterator[str]:
    """Start ``python -m service`` with the configuration's environment; yield its base URL once ready."""
    port = free_port()
    env = {**os.environ, **config.env, "ROADLENS_MODEL_STORE": str(store), "ROADLENS_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server did not become ready")


def run_wrk(base: str, endpoint: str, concurrency: int, seconds: float, body: Path) -> dict[str, Any]:
    command = [
        "wrk",
        "-t1" if concurrency < 8 else "-t2",
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


def measure(
    configs: tuple[ServerConfig, ...], store: Path, body: Path, seconds: float, levels: tuple[int, ...], rounds: int
) -> list[Result]:
    """Every configuration's server runs at once, and at each concurrency the load is given in ``rounds`` short
    turns that rotate over every server and endpoint: on a shared machine whose speed drifts over minutes, the
    ratios (batched vs unbatched, /visualbackprop vs /predict) then compare the same moments rather than
    whichever cell happened to run during a slow spell."""
    results = []
    with contextlib.ExitStack() as stack:
        bases = [stack.enter_context(live_server(config, store)) for config in configs]
        cells = [
            (config, base, endpoint) for endpoint in ENDPOINTS for config, base in zip(configs, bases, strict=True)
        ]
        for _, base, endpoint in cells:
            run_wrk(base, endpoint, 32, min(3.0, seconds), body)  # warm caches and thread pools
        for concurrency in levels:
            turns: list[list[dict[str, Any]]] = [[] for _ in cells]
            for _ in range(rounds):
                for index, (_, base, endpoint) in enumerate(cells):
                    turns[index].append(run_wrk(base, endpoint, concurrency, seconds / rounds, body))
            for (config, _, endpoint), raw in zip(cells, turns, strict=True):
                results.append(combine(config.label, endpoint, concurrency, raw))
                print(format_row(results[-1]), flush=True)
    return results


def table_order(result: Result) -> tuple[int, int, int]:
    """One block per server, then by endpoint, then by concurrency."""
    server = [config.label for config in CONFIGS].index(result.config)
    return server, ENDPOINTS.index(result.endpoint), CONCURRENCY.index(result.concurrency)


def combine(config: str, endpoint: str, concurrency: int, turns: list[dict[str, Any]]) -> Result:
    """One cell from its turns: requests and statuses summed, latency percentiles the median over turns."""
    statuses: dict[str, int] = {}
    for turn in turns:
        for code, count in turn["statuses"].items():
            statuses[str(code)] = statuses.get(str(code), 0) + int(count)

    def total(key: str) -> int:
        return sum(int(turn[key]) for turn in turns)

    def median_ms(key: str) -> float:
        return float(statistics.median(int(turn[key]) for turn in turns)) / 1e3

    return Result(
        config=config,
        endpoint=endpoint,
        concurrency=concurrency,
        requests=total("requests"),
        seconds=total("duration_us") / 1e6,
        p50_ms=median_ms("p50_us"),
        p90_ms=median_ms("p90_us"),
        p99_ms=median_ms("p99_us"),
        statuses=statuses,
        socket_errors=sum(int(count) for turn in turns for count in turn["errors"].values()),
    )


def format_row(result: Result) -> str:
    statuses = ", ".join(f"{code}: {count}" for code, count in sorted(result.statuses.items()))
    return (
        f"| {result.config} | `{result.endpoint}` | {result.concurrency} | {result.throughput:,.0f} | "
        f"{result.p50_ms:.1f} | {result.p90_ms:.1f} | {result.p99_ms:.1f} | {statuses} | {result.socket_errors} |"
    )


def machine_description() -> str:
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


def ratio(results: list[Result], config: str, endpoint: str, concurrency: int) -> float:
    return next(
        r.throughput for r in results if r.config == config and r.endpoint == endpoint and r.concurrency == concurrency
    )


def verdict(value: float, target: float) -> str:
    """Whether a ratio reached its target, judged on the unrounded value."""
    return "met" if value >= target else "not met"


def report(results: list[Result], overload: list[Result], seconds: float, rounds: int) -> str:
    header = (
        "| server | endpoint | concurrency | req/s | p50 ms | p90 ms | p99 ms | statuses | socket errors |\n"
        "|---|---|---:|---:|---:|---:|---:|---|---:|"
    )
    batched_vs_unbatched = ratio(results, "batched", "/predict", 32) / ratio(results, "unbatched", "/predict", 32)
    vbp_vs_predict = ratio(results, "batched", "/visualbackprop", 32) / ratio(results, "batched", "/predict", 32)
    segment_vs_vbp = ratio(results, "batched", "/segment", 32) / ratio(results, "batched", "/visualbackprop", 32)
    clean = all(set(r.statuses) == {"200"} and r.socket_errors == 0 for r in results)
    overload_codes = sorted({code for r in overload for code in r.statuses})
    lines = [
        "## HTTP throughput and latency",
        "",
        "Made by `python -m benchmarks.serve_bench` (a live `python -m service` per configuration, all running at "
        f"once; wrk posting a {len(sample_png()):,}-byte PNG tile, {seconds:g} s per cell after a warm-up, given in "
        f"{rounds} turns that rotate over both servers and every endpoint at each concurrency, so that every ratio "
        "compares the same moments; latency percentiles are the median over the turns). Figures from one run on "
        "one shared machine: compare ratios within the table, not absolute numbers across machines.",
        "",
        f"Machine: {machine_description()}.",
        "",
        header,
        *(format_row(r) for r in results),
        "",
        "## Overload (small queue bound)",
        "",
        header,
        *(format_row(r) for r in overload),
        "",
        "## What the run shows",
        "",
        f"- batched `/predict` at concurrency 32 vs `max_batch_size=1`: **{batched_vs_unbatched:.3f}x** "
        f"(target >= 1.5x: {verdict(batched_vs_unbatched, 1.5)})",
        f"- batched `/visualbackprop` vs `/predict` at concurrency 32: **{vbp_vs_predict:.3f}x** "
        f"(target >= 0.8x: {verdict(vbp_vs_predict, 0.8)})",
        f"- batched `/segment` (its mask rests on VisualBackProp) vs `/visualbackprop` at concurrency 32: "
        f"**{segment_vs_vbp:.3f}x** (target >= 0.8x: {verdict(segment_vs_vbp, 0.8)})",
        f"- every request without a queue bound answered 200 with no socket error: **{'yes' if clean else 'NO'}**",
        f"- statuses seen at concurrency 128 with a queue bound of 16: **{', '.join(overload_codes)}** "
        "(only 200 and 429 expected)",
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace this script's section of the report (between its markers), keeping every other section."""
    block = f"{BEGIN}\n{section}{END}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) + 1 :]
    else:
        text = text.replace("# Benchmarks\n\n", f"# Benchmarks\n\n{block}\n", 1)
    path.write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load per cell")
    parser.add_argument("--rounds", type=int, default=4, help="alternating turns each cell's load is split into")
    parser.add_argument("--store", type=Path, default=ROOT / "model_store", help="model store to serve")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="Markdown report")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory() as folder:
        body = Path(folder) / "tile.png"
        body.write_bytes(sample_png())
        rows = measure(CONFIGS, args.store, body, args.duration, CONCURRENCY, args.rounds)
        results = sorted(rows, key=table_order)
        overload = measure((OVERLOAD,), args.store, body, args.duration, (128,), 1)
    write_section(args.out, report(results, overload, args.duration, args.rounds))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
