"""glibc malloc thresholds: set in the right order, skipped when the environment or the C library says so, and
forward passes that no longer page-fault (counted in a fresh process, where no earlier test set them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from service.engine import memory
from service.engine.memory import M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, MMAP_THRESHOLD, TRIM_THRESHOLD
from tests.service.conftest import make_settings, serve

ROOT = Path(__file__).resolve().parents[2]
PASSES = 20
# Forward passes of 8 shipped-model tiles in a worker thread, as the device worker runs them; prints the minor
# page faults of that thread in its median pass, after a warm-up (a heap growing once is not the point).
FAULTS_PER_PASS = """
import json, resource, sys, threading
from pathlib import Path
import torch
from service.engine.artifact import load_artifact
from service.engine.memory import keep_freed_memory

tuned = sys.argv[1] == "tuned" and keep_freed_memory()
torch.set_num_threads(1)
model = load_artifact(Path("model_store/roadnet/1"), torch.device("cpu"))
batch = torch.rand(8, 3, 96, 96)
out = {}

def passes():
    with torch.inference_mode():
        for _ in range(10):
            model.module.forward_with_features(batch)
        counts = []
        for _ in range(PASSES):
            before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
            model.module.forward_with_features(batch)
            counts.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
        out["faults"] = sorted(counts)[PASSES // 2]

thread = threading.Thread(target=passes)
thread.start()
thread.join()
print(json.dumps({"tuned": tuned, **out}))
""".replace("PASSES", str(PASSES))


def faults_per_pass(mode: str) -> dict[str, float]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", FAULTS_PER_PASS, mode], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, float] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts page faults with RUSAGE_THREAD (Linux)")
def test_forward_passes_stop_page_faulting() -> None:
    """A pass of 8 tiles allocates ~7 MiB blocks; kept memory is reused instead of faulted in afresh. (With
    glibc's defaults the same passes measured ~1,900 faults each: the threshold below is far from both.)"""
    result = faults_per_pass("tuned")
    assert result["tuned"] is True
    assert result["faults"] < 64


class RecordingMallopt:
    def __init__(self, answer: int = 1) -> None:
        self.calls: list[tuple[int, int]] = []
        self.answer = answer

    def __call__(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return self.answer


@pytest.fixture
def no_malloc_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in memory.ENVIRONMENT_OVERRIDES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_malloc_environment")
def test_sets_the_mmap_threshold_before_the_trim_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting the trim threshold alone freezes the mmap threshold at 128 KiB: every block would be mmap()ed."""
    mallopt = RecordingMallopt()
    monkeypatch.setattr(memory, "_glibc_mallopt", lambda: mallopt)
    assert memory.keep_freed_memory() is True
    assert mallopt.calls == [(M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD)]
    assert MMAP_THRESHOLD == 32 * 1024 * 1024  # the largest glibc accepts on 64-bit


@pytest.mark.usefixtures("no_malloc_environment")
def test_a_refusal_is_reported(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(memory, "_glibc_mallopt", lambda: RecordingMallopt(answer=0))
    assert memory.keep_freed_memory() is False
    assert "refused" in caplog.text


@pytest.mark.parametrize("name", memory.ENVIRONMENT_OVERRIDES)
def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    mallopt = RecordingMallopt()
    monkeypatch.setattr(memory, "_glibc_mallopt", lambda: mallopt)
    monkeypatch.setenv(name, "65536")
    assert memory.keep_freed_memory() is False
    assert mallopt.calls == []


@pytest.mark.usefixtures("no_malloc_environment")
def test_other_c_libraries_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_glibc_mallopt", lambda: None)
    assert memory.keep_freed_memory() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc")
def test_glibc_is_found_here() -> None:
    assert memory._glibc_mallopt() is not None


@pytest.mark.asyncio
@pytest.mark.parametrize("enabled", [True, False])
async def test_the_setting_decides(model_store: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool) -> None:
    calls: list[bool] = []

    def record() -> bool:
        calls.append(True)
        return True

    monkeypatch.setattr("service.engine.engine.keep_freed_memory", record)
    async with serve(make_settings(model_store, keep_freed_memory=enabled), ready=False) as client:
        assert (await client.get("/healthz")).status_code == 200
    assert calls == ([True] if enabled else [])
