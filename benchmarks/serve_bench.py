"""Throughput and latency of the live service under wrk load, in one run: the multi-process server (HTTP
front-ends feeding one engine process) against the in-process one, and batched against unbatched.

    python -m benchmarks.serve_bench [--duration 8] [--rounds 4] [--workers N] [--concurrency 1,8,32,128]
        [--out docs/benchmarks.md]

Each server configuration is a real ``python -m service`` process tree on a free loopback port, all started at
once, warmed up, and driven by ``wrk`` (a C load generator: a Python client on 2 cores measures itself, not the
server) posting one real PNG tile (with a road, so that ``/segment`` cuts a mask) at concurrency 1, 8, 32 and 128
(or the levels given) to ``/predict``, ``/visualbackprop`` and ``/segment``. The report is a Markdown table with the
machine's description and the ratios the project promises.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.live import ROOT, ServerConfig, live_server, machine_description, run_wrk, sample_png, write_section
from service.config import Settings, default_workers

ENDPOINTS = ("/predict", "/visualbackprop", "/segment")
CONCURRENCY = (1, 8, 32, 128)
SECTION = "serve_bench"
IN_PROCESS, MULTI, UNBATCHED = "in-process", "multi-process", "multi-process, unbatched"


def server_configs(workers: int) -> tuple[ServerConfig, ...]:
    """The servers compared: ``workers`` front-ends (the machine's default unless given) vs one process, and the
    multi-process server without batching."""
    batched = {"ROADLENS_MAX_BATCH_SIZE": "32", "ROADLENS_MAX_QUEUE": "0"}
    return (
        ServerConfig(MULTI, batched | {"ROADLENS_WORKERS": str(workers)}),
        ServerConfig(IN_PROCESS, batched | {"ROADLENS_WORKERS": "0"}),
        ServerConfig(UNBATCHED, batched | {"ROADLENS_WORKERS": str(workers), "ROADLENS_MAX_BATCH_SIZE": "1"}),
    )


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
    server = (MULTI, IN_PROCESS, UNBATCHED).index(result.config)
    return server, ENDPOINTS.index(result.endpoint), result.concurrency


def concurrency_levels(text: str) -> tuple[int, ...]:
    """``1,8,32,128``: the ratios of the report are read at 32, so it must be among them."""
    levels = tuple(sorted({int(part) for part in text.split(",")}))
    if 32 not in levels or levels[0] < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: positive concurrency levels, 32 among them")
    return levels


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


def ratio(results: list[Result], config: str, endpoint: str, concurrency: int) -> float:
    return next(
        r.throughput for r in results if r.config == config and r.endpoint == endpoint and r.concurrency == concurrency
    )


def verdict(value: float, target: float) -> str:
    """Whether a ratio reached its target, judged on the unrounded value."""
    return "met" if value >= target else "not met"


def report(results: list[Result], seconds: float, rounds: int, workers: int) -> str:
    header = (
        "| server | endpoint | concurrency | req/s | p50 ms | p90 ms | p99 ms | statuses | socket errors |\n"
        "|---|---|---:|---:|---:|---:|---:|---|---:|"
    )

    def at_32(config: str, endpoint: str) -> float:
        return ratio(results, config, endpoint, 32)

    multi_vs_single = {e: at_32(MULTI, e) / at_32(IN_PROCESS, e) for e in ENDPOINTS}
    batched_vs_unbatched = at_32(MULTI, "/predict") / at_32(UNBATCHED, "/predict")
    vbp_vs_predict = at_32(MULTI, "/visualbackprop") / at_32(MULTI, "/predict")
    segment_vs_vbp = at_32(MULTI, "/segment") / at_32(MULTI, "/visualbackprop")
    tail = next(r for r in results if (r.config, r.endpoint, r.concurrency) == (MULTI, "/predict", 32))
    clean = all(set(r.statuses) == {"200"} and r.socket_errors == 0 for r in results)
    lines = [
        "## HTTP throughput and latency",
        "",
        "Made by `python -m benchmarks.serve_bench` (a live `python -m service` per configuration, all running at "
        f"once; wrk posting a {len(sample_png()):,}-byte PNG tile, {seconds:g} s per cell after a warm-up, given in "
        f"{rounds} turns that rotate over every server and endpoint at each concurrency, so that every ratio "
        "compares the same moments; latency percentiles are the median over the turns). "
        f"`{MULTI}`: {workers} HTTP front-end process(es) and one engine process (`--workers {workers}`); "
        f"`{IN_PROCESS}`: `--workers 0`, one process. Figures from one run on one shared machine: compare ratios "
        "within the table, not absolute numbers across machines.",
        "",
        f"Machine: {machine_description()}.",
        "",
        header,
        *(format_row(r) for r in results),
        "",
        "## What the run shows",
        "",
        *(
            f"- `{endpoint}` at concurrency 32, multi-process vs in-process: **{value:.3f}x**"
            for endpoint, value in multi_vs_single.items()
        ),
        f"- batched `/predict` at concurrency 32 vs `max_batch_size=1`: **{batched_vs_unbatched:.3f}x** "
        f"(target >= 1.5x: {verdict(batched_vs_unbatched, 1.5)})",
        f"- batched `/visualbackprop` vs `/predict` at concurrency 32: **{vbp_vs_predict:.3f}x** "
        f"(target >= 0.8x: {verdict(vbp_vs_predict, 0.8)})",
        f"- batched `/segment` (its mask rests on VisualBackProp) vs `/visualbackprop` at concurrency 32: "
        f"**{segment_vs_vbp:.3f}x** (target >= 0.8x: {verdict(segment_vs_vbp, 0.8)})",
        f"- `/predict` at concurrency 32, p99 / p50: **{tail.p99_ms / tail.p50_ms:.2f}** "
        f"(target <= 3: {'met' if tail.p99_ms <= 3 * tail.p50_ms else 'not met'})",
        f"- every request answered 200 with no socket error: **{'yes' if clean else 'NO'}**",
        *top_level_lines(results),
    ]
    return "\n".join(lines) + "\n"


def top_level_lines(results: list[Result]) -> list[str]:
    """At the highest concurrency measured (the GPU targets are read at 256): throughput and batching's gain."""
    top = max(r.concurrency for r in results)
    if top == 32:
        return []
    predict, vbp = ratio(results, MULTI, "/predict", top), ratio(results, MULTI, "/visualbackprop", top)
    unbatched = ratio(results, UNBATCHED, "/predict", top)
    return [
        f"- at concurrency {top}, multi-process: `/predict` **{predict:,.0f} req/s**, `/visualbackprop` "
        f"**{vbp:,.0f} req/s**; batched vs `max_batch_size=1` **{predict / unbatched:.2f}x**"
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load per cell")
    parser.add_argument("--rounds", type=int, default=4, help="alternating turns each cell's load is split into")
    parser.add_argument("--workers", type=int, default=None, help="front-ends of the multi-process server")
    parser.add_argument("--store", type=Path, default=ROOT / "model_store", help="model store to serve")
    parser.add_argument(
        "--concurrency", type=concurrency_levels, default=CONCURRENCY, help="levels, comma-separated (32 among them)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="Markdown report")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    workers = args.workers or default_workers(Settings())
    with tempfile.TemporaryDirectory() as folder:
        body = Path(folder) / "tile.png"
        body.write_bytes(sample_png())
        rows = measure(server_configs(workers), args.store, body, args.duration, args.concurrency, args.rounds)
    write_section(args.out, SECTION, report(sorted(rows, key=table_order), args.duration, args.rounds, workers))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
