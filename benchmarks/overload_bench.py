"""Overload: how fast the service refuses and how late it answers when far more clients wait than its queue holds.

    python -m benchmarks.overload_bench [--connections 256] [--queue 32] [--duration 10] [--out docs/benchmarks.md]

A live server per mode (``--workers 0`` and the machine's default front-ends) with a queue bound of ``--queue``
images is driven by ``--connections`` keep-alive connections, each posting a real PNG tile again as soon as its
previous answer arrived. Latency is measured by the client per answer, from writing the request to reading the
last byte of the body, and reported per status: the refusals (429) must be fast, the accepted requests (200)
must finish within the deadline. wrk cannot split latency by status, so the client is a small asyncio one on
uvloop, raw HTTP/1.1 over ``asyncio`` streams, with one event loop for every connection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import uvloop

from benchmarks.live import ROOT, ServerConfig, live_server, machine_description, sample_png, write_section
from service.config import Settings, default_workers

SECTION = "overload_bench"
ENDPOINTS = ("/predict", "/visualbackprop")


@dataclass
class Tally:
    """What the client saw in the measured window: latencies (ms) per status, refusals without Retry-After,
    connection errors."""

    latencies: dict[int, list[float]]
    missing_retry_after: int = 0
    errors: int = 0
    client_cpu_share: float = 0.0  # of one core, over the whole run (warm-up included)


def request_bytes(path: str, body: bytes) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """One response's status and headers; its body is read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers


async def one_connection(port: int, request: bytes, window: tuple[float, float], tally: Tally) -> None:
    """Post ``request`` again and again until the window ends, counting what lands inside it."""
    start, end = window
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < end:
            sent = time.perf_counter()
            writer.write(request)
            try:
                status, headers = await read_answer(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                tally.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            done = time.perf_counter()
            if start <= sent and done <= end:
                tally.latencies[status].append((done - sent) * 1000)
                tally.missing_retry_after += status == 429 and "retry-after" not in headers
            if headers.get("connection") == "close":
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def load(port: int, request: bytes, connections: int, warmup_s: float, seconds: float) -> Tally:
    tally = Tally(defaultdict(list))
    start = time.perf_counter() + warmup_s
    window = (start, start + seconds)
    await asyncio.gather(*(one_connection(port, request, window, tally) for _ in range(connections)))
    return tally


def row(label: str, endpoint: str, tally: Tally, seconds: float) -> str:
    cells = []
    for status in (200, 429):
        values = np.array(tally.latencies.get(status, [0.0]))
        count = len(tally.latencies.get(status, []))
        cells.append(f"{count / seconds:,.0f} | {np.percentile(values, 50):.1f} | {np.percentile(values, 99):.1f}")
    others = {s: len(v) for s, v in tally.latencies.items() if s not in (200, 429)}
    worst = max((max(v) for v in tally.latencies.values() if v), default=0.0)
    return (
        f"| {label} | `{endpoint}` | {' | '.join(cells)} | {worst:.0f} | {others or '-'} | "
        f"{tally.missing_retry_after} | {tally.errors} | {tally.client_cpu_share:.0%} |"
    )


def report(rows: list[str], connections: int, queue: int, seconds: float, deadline_s: float) -> str:
    return "\n".join(
        [
            "## Overload: refusals and accepted requests under 8x the queue",
            "",
            f"Made by `python -m benchmarks.overload_bench`: {connections} keep-alive connections, each posting a "
            f"{len(sample_png()):,}-byte PNG tile again as soon as it has its answer, against a server with a queue "
            f"bound of {queue} images (`ROADLENS_MAX_QUEUE={queue}`) and the default deadline of {deadline_s:g} s; "
            f"{seconds:g} s measured after a warm-up. Latency from the client (writing the request to the body's "
            "last byte), per status; the client itself shares the machine's cores, so these include its own delays.",
            "",
            f"Machine: {machine_description()}.",
            "",
            "| server | endpoint | 200/s | 200 p50 ms | 200 p99 ms | 429/s | 429 p50 ms | 429 p99 ms | worst ms | "
            "other statuses | 429 without Retry-After | connection errors | client CPU (of one core) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
            *rows,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--queue", type=int, default=32, help="ROADLENS_MAX_QUEUE of the servers")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each cell")
    parser.add_argument("--store", type=Path, default=ROOT / "model_store", help="model store to serve")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="Markdown report")
    args = parser.parse_args(argv)
    settings = Settings()
    workers = default_workers(settings)
    rows = []
    for label, count in ((f"multi-process ({workers} front-ends)", workers), ("in-process", 0)):
        env = {"ROADLENS_MAX_QUEUE": str(args.queue), "ROADLENS_WORKERS": str(count)}
        with live_server(ServerConfig(label, env), args.store) as base:
            port = int(base.rsplit(":", 1)[1])
            for endpoint in ENDPOINTS:
                request = request_bytes(endpoint, sample_png())
                started, cpu = time.perf_counter(), sum(os.times()[:2])
                tally = uvloop.run(load(port, request, args.connections, args.warmup, args.duration))
                tally.client_cpu_share = (sum(os.times()[:2]) - cpu) / (time.perf_counter() - started)
                rows.append(row(label, endpoint, tally, args.duration))
                print(rows[-1], flush=True)
    write_section(
        args.out, SECTION, report(rows, args.connections, args.queue, args.duration, settings.request_timeout_s)
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
