"""The cost of the hand-off between a front-end and the engine process, without a model: one 96 x 96 tile out,
one result back, over the real transport (``RemoteEngine`` -> Unix socket -> ``EngineServer``).

    python -m benchmarks.handoff_bench [--requests 20000] [--concurrency 1 32] [--out docs/processes.md]

The engine process runs an ``EchoEngine`` that answers every image at once with a result shaped like
``/predict``'s (and, with ``--mask``, like ``/visualbackprop``'s: a 96 x 96 float32 mask), so what is timed is the
framing, the codec, the socket and both event loops. Reported per concurrency: round trips per second, the mean
round trip in microseconds, and the CPU time each side spent per request (from ``/proc`` via ``os.times``).
The table replaces the ``handoff`` section of ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.live import ROOT, machine_description, process_cpu, write_section
from service.engine.types import InferenceRequest, InferenceResult, ModelKey, VBPResult

KEY = ModelKey("echo", 1)
MANIFEST = {"name": "echo", "version": 1, "labels": ["road"]}


class EchoEngine:
    """An engine that answers at once: the transport's cost alone."""

    ready = True
    failure = None
    device = "none"
    explain_max_batch = 1

    def __init__(self, mask: bool) -> None:
        self._mask = np.zeros((96, 96), np.float32) if mask else None

    def unavailable(self) -> dict[ModelKey, str]:
        return {}

    def models(self) -> list[Any]:
        from service.engine.types import ModelInfo

        return [ModelInfo(KEY, MANIFEST, True)]

    async def infer(
        self, key: ModelKey, requests: Sequence[InferenceRequest], deadline: float | None = None
    ) -> list[InferenceResult]:
        logit = np.zeros(1, np.float32)
        vbp = None if self._mask is None else VBPResult(self._mask)
        return [InferenceResult(logit, logit, vbp=vbp) for _ in requests]

    async def stop(self) -> None:
        pass


def serve_echo(path: Path, mask: bool) -> None:
    """The engine process: an ``EngineServer`` around an ``EchoEngine``, until terminated."""
    import uvloop

    from service.transport.server import EngineServer

    async def main() -> None:
        server = EngineServer(EchoEngine(mask), path)  # type: ignore[arg-type]
        await server.start()
        await asyncio.Event().wait()

    uvloop.run(main())


async def drive(path: Path, requests: int, concurrency: int, engine_pid: int) -> tuple[float, float, float]:
    """Seconds for ``requests`` round trips at ``concurrency``, and the CPU seconds of this process and of the
    engine process over them."""
    from service.transport.remote import RemoteEngine

    remote = RemoteEngine(path)
    await remote.start()
    while not remote.ready:
        await asyncio.sleep(0.01)
    tile = InferenceRequest(np.zeros((3, 96, 96), np.uint8))
    per_worker = requests // concurrency

    async def worker() -> None:
        for _ in range(per_worker):
            await remote.infer(KEY, [tile])

    await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm-up
    start, cpu_start, engine_start = time.perf_counter(), sum(os.times()[:2]), process_cpu(engine_pid)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - start, sum(os.times()[:2]) - cpu_start
    engine_cpu = process_cpu(engine_pid) - engine_start
    await remote.stop()
    return elapsed, cpu, engine_cpu


def measure(requests: int, concurrency: int, mask: bool) -> dict[str, float]:
    import uvloop

    with tempfile.TemporaryDirectory(prefix="rl-") as folder:
        path = Path(folder) / "engine.sock"
        engine = multiprocessing.get_context("spawn").Process(target=serve_echo, args=(path, mask))
        engine.start()
        try:
            while not path.exists():
                time.sleep(0.01)
            assert engine.pid is not None
            elapsed, front_cpu, engine_cpu = uvloop.run(drive(path, requests, concurrency, engine.pid))
        finally:
            engine.terminate()
            engine.join(10)
    done = requests // concurrency * concurrency
    return {
        "round_trips_per_s": done / elapsed,
        "mean_round_trip_us": elapsed / done * 1e6 * concurrency,
        "front_end_cpu_us": front_cpu / done * 1e6,
        "engine_cpu_us": engine_cpu / done * 1e6,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "processes.md", help="Markdown report")
    args = parser.parse_args(argv)
    rows = [
        "| result | concurrency | round trips/s | mean round trip µs | front-end CPU µs/req | engine CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mask in (False, True):
        for concurrency in args.concurrency:
            row = measure(args.requests, concurrency, mask)
            label = "96 x 96 float32 mask" if mask else "probabilities only"
            rows.append(
                f"| {label} | {concurrency} | {row['round_trips_per_s']:,.0f} | {row['mean_round_trip_us']:.0f} | "
                f"{row['front_end_cpu_us']:.1f} | {row['engine_cpu_us']:.1f} |"
            )
            print(rows[-1], flush=True)
    intro = (
        f"Made by `python -m benchmarks.handoff_bench` ({args.requests:,} round trips per row, uvloop on both sides): "
        "a front-end's `RemoteEngine` sends a 96 x 96 uint8 tile to an engine process over the Unix socket and "
        "gets a result back, the engine answering at once (no model), so the figures are the transport alone. "
        f"Machine: {machine_description()}."
    )
    write_section(args.out, "handoff", "\n".join([intro, "", *rows, ""]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
