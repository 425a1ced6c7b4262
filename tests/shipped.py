"""The roadnet versions committed under model_store/, for tests that name what the service loads."""

from __future__ import annotations

from pathlib import Path

STORE = Path(__file__).resolve().parents[1] / "model_store" / "roadnet"


def versions() -> list[int]:
    return sorted(int(p.name) for p in STORE.iterdir() if p.name.isdigit() and (p / "manifest.json").is_file())


def newest() -> int:
    return versions()[-1]
