"""The Markdown report of ``benchmarks.ray_bench``: one section per run, and what the runs show."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from benchmarks.serve_bench import Result

CONCURRENCY = (1, 8, 32)
PLAIN, ONE, TWO = "plain server", "Ray Serve, 1 replica", "Ray Serve, 2 replicas"
SERVERS = (PLAIN, ONE, TWO)


@dataclass
class Phases:
    """Seconds from the start of each way of serving to each milestone, in order."""

    steps: list[tuple[str, float]]

    def add(self, name: str, started: float) -> None:
        self.steps.append((name, time.monotonic() - started))


def format_row(result: Result) -> str:
    statuses = ", ".join(f"{code}: {count}" for code, count in sorted(result.statuses.items()))
    return (
        f"| {result.config} | {result.concurrency} | {result.throughput:,.0f} | {result.p50_ms:.1f} | "
        f"{result.p99_ms:.1f} | {statuses} | {result.socket_errors} |"
    )


def throughput(results: list[Result], name: str, concurrency: int) -> float:
    return next(r.throughput for r in results if r.config == name and r.concurrency == concurrency)


def phase_lines(phases: Phases) -> list[str]:
    return [f"| {name} | {seconds:.1f} |" for name, seconds in phases.steps]


def report(run: dict[str, Any], label: str) -> str:
    results: list[Result] = run["results"]
    ratios = [
        f"| {concurrency} | {throughput(results, ONE, concurrency) / throughput(results, PLAIN, concurrency):.2f}x | "
        f"{throughput(results, TWO, concurrency) / throughput(results, PLAIN, concurrency):.2f}x |"
        for concurrency in CONCURRENCY
    ]
    before, after = run["load"]
    return "\n".join(
        [
            f"### {label}",
            "",
            f"Load average (1 min) when the run started: {before:.1f}, when it ended: {after:.1f}.",
            "",
            "| server | concurrency | req/s | p50 ms | p99 ms | statuses | socket errors |",
            "|---|---:|---:|---:|---:|---|---:|",
            *(format_row(r) for r in results),
            "",
            "| concurrency | Ray 1 replica / plain | Ray 2 replicas / plain |",
            "|---:|---:|---:|",
            *ratios,
            "",
            "| cold start: plain server | seconds from start |",
            "|---|---:|",
            *phase_lines(run["plain_phases"]),
            "",
            "| cold start: Ray | seconds from start |",
            "|---|---:|",
            *phase_lines(run["cluster_phases"]),
            *(f"| application `one`: {line[2:]}" for line in phase_lines(run["replica_phases"])),
            f"| of which the replica from building its app to ready (engine and torch imported, models loaded, "
            f"warmed up; the replica's `roadlens_replica_ready_seconds`) | {run['replica_initialisation_s']:.1f} |",
            "",
            "| memory (PSS) | processes | MiB |",
            "|---|---:|---:|",
            *(f"| {what} | {count} | {mib:,.0f} |" for what, count, mib in run["memory"]),
            "",
        ]
    )


def summary(runs: list[dict[str, Any]]) -> str:
    """What every run shows, as ranges over the runs."""

    def span(values: list[float], unit: str = "", digits: int = 2) -> str:
        low, high = min(values), max(values)
        return (
            f"{low:.{digits}f}{unit}"
            if f"{low:.{digits}f}" == f"{high:.{digits}f}"
            else (f"{low:.{digits}f}-{high:.{digits}f}{unit}")
        )

    def ratio(run: dict[str, Any], name: str, concurrency: int) -> float:
        return throughput(run["results"], name, concurrency) / throughput(run["results"], PLAIN, concurrency)

    def p50(run: dict[str, Any], name: str) -> float:
        return next(r.p50_ms for r in run["results"] if r.config == name and r.concurrency == 1)

    def memory(run: dict[str, Any], prefix: str) -> list[float]:
        return [mib for what, _, mib in run["memory"] if what.startswith(prefix)]

    def first_answer(run: dict[str, Any]) -> float:
        return float(run["cluster_phases"].steps[-1][1] + run["replica_phases"].steps[-1][1])

    ray_own = [sum(memory(run, "Ray's own")) + sum(memory(run, "Serve controller")) for run in runs]
    replicas = [mib for run in runs for mib in memory(run, "replica")]
    return "\n".join(
        [
            "### What the runs show",
            "",
            f"- Throughput through Ray's proxy, as a share of the plain server's: 1 replica "
            f"{span([ratio(r, ONE, 32) for r in runs], 'x')} at concurrency 32 and "
            f"{span([ratio(r, ONE, 1) for r in runs], 'x')} at 1; 2 replicas "
            f"{span([ratio(r, TWO, 32) for r in runs], 'x')} at 32.",
            f"- Median latency at concurrency 1: plain {span([p50(r, PLAIN) for r in runs], ' ms', 1)}, through Ray "
            f"{span([p50(r, ONE) for r in runs], ' ms', 1)}.",
            f"- Memory: Ray's own processes with the Serve controller and proxy {span(ray_own, ' MiB', 0)} before any "
            f"replica; each replica {span(replicas, ' MiB', 0)}; the plain server "
            f"{span([m for r in runs for m in memory(r, 'plain')], ' MiB', 0)} in all.",
            f"- Cold start to the first answer: plain {span([r['plain_phases'].steps[-1][1] for r in runs], ' s', 1)}; "
            f"Ray (cluster, Serve, one replica) {span([first_answer(r) for r in runs], ' s', 1)}.",
            "",
        ]
    )
