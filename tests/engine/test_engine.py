"""The engine on tiny exported artifacts: results equal the artifact's own outputs, errors are the domain's."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import warnings
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
import torch
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from service.engine.artifact import LoadedModel, parse_blocks, read_manifest
from service.engine.device import default_forward_batch, resolve_device
from service.engine.engine import Engine, EngineConfig
from service.engine.model_store import ModelStoreError
from service.engine.types import InferenceRequest, InferenceResult, ModelKey, VBPOptions
from service.engine.warmup import warmup_sizes
from service.engine.worker import DeviceWorker
from service.errors import DeadlineExceeded, InvalidParameter, ModelUnavailable, NotReady, UnknownModel
from service.explain.visualbackprop import visualbackprop
from service.observability.metrics import Metrics

pytestmark = pytest.mark.asyncio
BLOCKS = ("block0", "block1", "block2", "block3")


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3, 96, 96), dtype=np.float32)


def artifact_outputs(folder: Path, batch: np.ndarray) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """What the artifact itself computes, loaded here without the service's code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(folder / "model.pt")).eval()
    with torch.inference_mode():
        logits, features = module.forward_with_features(torch.from_numpy(batch))
    return logits, features


@pytest_asyncio.fixture
async def engine(store: Path) -> AsyncIterator[Engine]:
    engine = Engine(EngineConfig(store, device="cpu", max_batch_size=4, warmup=False, torch_threads=1), Metrics())
    await engine.start()
    yield engine
    await engine.stop()


async def test_probabilities_are_the_sigmoid_of_the_artifacts_logits(engine: Engine, store: Path) -> None:
    batch = images(6)
    key = ModelKey("tiny", 1)
    results = await asyncio.gather(*(engine.infer(key, [InferenceRequest(image)]) for image in batch))
    logits, _ = artifact_outputs(store / "tiny" / "1", batch)
    for n, [result] in enumerate(results):
        np.testing.assert_allclose(result.logits, logits[n].numpy(), atol=1e-5)
        np.testing.assert_allclose(result.probabilities, torch.sigmoid(logits[n]).numpy(), atol=1e-6)
        assert result.probabilities.dtype == np.float32 and result.probabilities.shape == (1,)
        assert 1 <= result.timings["batch_size"] <= 4 and result.timings["compute_ms"] > 0


async def test_features_are_the_artifacts_maps_and_only_those_asked_for(engine: Engine, store: Path) -> None:
    batch = images(3, seed=1)
    asks = [("block1",), (), ("block0", "block3")]
    requests = [InferenceRequest(image, features=a) for image, a in zip(batch, asks, strict=True)]
    results = await engine.infer(ModelKey("tiny", 2), requests)
    _, features = artifact_outputs(store / "tiny" / "2", batch)
    for n, (result, asked) in enumerate(zip(results, asks, strict=True)):
        assert sorted(result.features) == sorted(asked)
        for name in asked:
            got = result.features[name]
            assert got.dtype == np.float32 and got.flags.c_contiguous
            np.testing.assert_allclose(got, features[BLOCKS.index(name)][n].numpy(), atol=1e-5)


async def test_visualbackprop_is_computed_from_the_artifacts_maps(engine: Engine, store: Path) -> None:
    batch = images(3, seed=2)
    options = [VBPOptions(), None, VBPOptions(normalize_overlap=True, keep_layers=True)]
    requests = [InferenceRequest(image, vbp=o) for image, o in zip(batch, options, strict=True)]
    results = await engine.infer(ModelKey("tiny", 1), requests)
    folder = store / "tiny" / "1"
    _, features = artifact_outputs(folder, batch)
    blocks = parse_blocks(read_manifest(folder))
    assert results[1].vbp is None
    for n, layer_count in ((0, 0), (2, 4)):
        asked, vbp = options[n], results[n].vbp
        assert asked is not None and vbp is not None and vbp.mask.shape == (96, 96)
        expected, layers = visualbackprop([f[n : n + 1] for f in features], blocks, (96, 96), asked)
        np.testing.assert_allclose(vbp.mask, expected[0].numpy(), atol=1e-5)
        assert [layer.name for layer in vbp.layers] == [layer.name for layer in layers[0]]
        assert len(vbp.layers) == layer_count


async def test_models_resolve_and_device(engine: Engine) -> None:
    assert engine.ready and engine.device == "cpu"
    infos = engine.models()
    assert [(i.key, i.is_default) for i in infos] == [
        (ModelKey("tiny", 1), False),
        (ModelKey("tiny", 2), True),
        (ModelKey("zeta", 1), False),
    ]
    assert engine.resolve(None, None).key == ModelKey("tiny", 2)
    assert engine.resolve("zeta", None).manifest["name"] == "zeta"
    with pytest.raises(UnknownModel):
        engine.resolve("tiny", 9)
    with pytest.raises(InvalidParameter):
        engine.resolve("../tiny", None)


async def test_bad_requests_are_refused_with_what_is_accepted(engine: Engine) -> None:
    image = images(1)[0]
    with pytest.raises(InvalidParameter) as refused:
        await engine.infer(ModelKey("tiny", 1), [InferenceRequest(image, features=("block9",))])
    assert refused.value.detail["accepted"] == list(BLOCKS) and "block0" in refused.value.message
    with pytest.raises(InvalidParameter, match="shape"):
        await engine.infer(ModelKey("tiny", 1), [InferenceRequest(image[:, :64])])
    with pytest.raises(UnknownModel):
        await engine.infer(ModelKey("tiny", 7), [InferenceRequest(image)])
    with pytest.raises(DeadlineExceeded):
        await engine.infer(ModelKey("tiny", 1), [InferenceRequest(image)], deadline=time.monotonic() - 0.1)
    assert await engine.infer(ModelKey("tiny", 1), []) == []


async def test_metrics_count_items_and_batches(store: Path) -> None:
    metrics = Metrics()
    engine = Engine(EngineConfig(store, device="cpu", max_batch_size=4, warmup=False), metrics)
    await engine.start()
    await engine.infer(ModelKey("zeta", 1), [InferenceRequest(image) for image in images(6)])
    await engine.stop()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.exposition()[0].decode())
        for s in family.samples
    }
    assert samples[("roadlens_inference_items_total", (("model", "zeta:1"),))] == 6
    assert samples[("roadlens_inference_batches_total", (("model", "zeta:1"),))] == 2
    assert samples[("roadlens_queue_wait_seconds_count", (("model", "zeta:1"),))] == 6
    assert samples[("roadlens_model_info", (("device", "cpu"), ("name", "tiny"), ("version", "2")))] == 1
    assert not any(name == "roadlens_device_memory_bytes" for name, _ in samples)


async def test_not_ready_before_start_and_after_stop_which_drains(store: Path) -> None:
    engine = Engine(EngineConfig(store, device="cpu", max_batch_size=2, max_wait_ms=60_000, warmup=False), Metrics())
    with pytest.raises(NotReady):
        await engine.infer(ModelKey("tiny", 1), [InferenceRequest(images(1)[0])])
    with pytest.raises(NotReady):
        engine.models()
    await engine.start()
    pending = asyncio.create_task(engine.infer(ModelKey("tiny", 1), [InferenceRequest(images(1)[0])]))
    await asyncio.sleep(0.05)  # queued, waiting for a flush a minute away
    await asyncio.wait_for(engine.stop(), 5)
    assert not engine.ready and len(await pending) == 1
    with pytest.raises(NotReady):
        await engine.infer(ModelKey("tiny", 1), [InferenceRequest(images(1)[0])])


async def test_warm_up_runs_before_ready(store: Path) -> None:
    engine = Engine(EngineConfig(store, device="cpu", max_batch_size=3, warmup=True), Metrics())
    await engine.start()
    assert engine.ready
    await engine.stop()
    assert warmup_sizes(32, every=False) == [1, 2, 4, 8, 16, 32]
    assert warmup_sizes(24, every=False) == [1, 2, 4, 8, 16, 24]
    assert warmup_sizes(3, every=True) == [1, 2, 3]


def record_passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every forward pass the worker runs from now on (the real pass still runs)."""
    sizes: list[int] = []
    real = DeviceWorker._forward

    def counted(
        worker: DeviceWorker, model: LoadedModel, requests: Sequence[InferenceRequest]
    ) -> list[InferenceResult]:
        sizes.append(len(requests))
        return real(worker, model, requests)

    monkeypatch.setattr(DeviceWorker, "_forward", counted)
    return sizes


async def test_a_batch_larger_than_a_pass_runs_as_several_with_the_same_results(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passes = record_passes(monkeypatch)
    config = EngineConfig(store, device="cpu", max_batch_size=8, forward_max_batch=3, warmup=False, torch_threads=1)
    engine = Engine(config, Metrics())
    await engine.start()
    batch = images(7, seed=4)
    options = [VBPOptions() if n % 2 else None for n in range(7)]
    requests = [InferenceRequest(image, features=("block2",), vbp=o) for image, o in zip(batch, options, strict=True)]
    try:
        results = await engine.infer(ModelKey("tiny", 1), requests)  # one request: one batch of 7
    finally:
        await engine.stop()
    assert passes == [3, 3, 1]
    assert [r.timings["batch_size"] for r in results] == [7] * 7
    folder = store / "tiny" / "1"
    logits, features = artifact_outputs(folder, batch)
    masks, _ = visualbackprop(features, parse_blocks(read_manifest(folder)), (96, 96), VBPOptions())
    for n, result in enumerate(results):
        np.testing.assert_allclose(result.logits, logits[n].numpy(), atol=1e-5)
        np.testing.assert_allclose(result.features["block2"], features[2][n].numpy(), atol=1e-5)
        assert (result.vbp is None) == (options[n] is None)
        if result.vbp is not None:
            np.testing.assert_allclose(result.vbp.mask, masks[n].numpy(), atol=1e-5)


async def test_warm_up_covers_every_pass_size_and_no_larger(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    passes = record_passes(monkeypatch)
    config = EngineConfig(store, device="cpu", max_batch_size=32, forward_max_batch=4, default_model="tiny")
    engine = Engine(config, Metrics())
    await engine.start()
    await engine.stop()
    # 3 models x one all-outputs pass, then the default (tiny:2) at 1, 2, 3, 4 and the others at 1, 2, 4:
    # a warm-up up to max_batch_size would run dozens of passes.
    assert set(passes) == {1, 2, 3, 4} and len(passes) == 3 + 4 + 3 + 3
    assert default_forward_batch(torch.device("cpu")) == 8 and default_forward_batch(torch.device("cuda")) is None
    with pytest.raises(ValueError, match="at least 1"):
        DeviceWorker(torch.device("cpu"), forward_max_batch=0)


async def test_a_cancelled_start_leaves_an_engine_that_stops(store: Path) -> None:
    engine = Engine(EngineConfig(store, device="cpu", max_batch_size=8), Metrics())
    starting = asyncio.create_task(engine.start())
    await asyncio.sleep(0.01)  # loading in the worker thread
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert not engine.ready
    await asyncio.wait_for(engine.stop(), 1)
    with pytest.raises(NotReady):
        engine.resolve(None, None)


def corrupt(store: Path, name: str, version: int) -> None:
    path = store / name / str(version) / "model.pt"
    path.write_bytes(path.read_bytes() + b"\0")


def unavailable_samples(metrics: Metrics) -> dict[str, float]:
    text = generate_latest(metrics.registry).decode()
    return {
        f"{s.labels['name']}:{s.labels['version']}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "roadlens_model_unavailable"
    }


async def test_a_modified_artifact_is_left_out_and_the_rest_served(store: Path) -> None:
    corrupt(store, "zeta", 1)
    metrics = Metrics()
    engine = Engine(EngineConfig(store, device="cpu", warmup=False), metrics)
    await engine.start()
    try:
        assert engine.ready and [m.key for m in engine.models()] == [ModelKey("tiny", 1), ModelKey("tiny", 2)]
        [(key, reason)] = engine.unavailable().items()
        assert key == ModelKey("zeta", 1) and "sha256" in reason and str(store) not in reason  # no absolute paths
        with pytest.raises(ModelUnavailable, match="could not be loaded"):
            engine.resolve("zeta", None)
        assert unavailable_samples(metrics) == {"zeta:1": 1.0}
        [result] = await engine.infer(ModelKey("tiny", 2), [InferenceRequest(images(1)[0])])
        assert result.probabilities.shape == (1,)
    finally:
        await engine.stop()


async def test_a_broken_newest_version_makes_the_default_fall_back(store: Path) -> None:
    corrupt(store, "tiny", 2)
    engine = Engine(EngineConfig(store, device="cpu", warmup=False), Metrics())
    await engine.start()
    try:
        default = engine.resolve(None, None)
        assert default.key == ModelKey("tiny", 1) and default.is_default
        assert engine.resolve("tiny", None).key == ModelKey("tiny", 1)
        with pytest.raises(ModelUnavailable) as refused:
            engine.resolve("tiny", 2)
        assert refused.value.detail["versions"] == [1]
    finally:
        await engine.stop()


async def test_refuses_to_start_when_no_version_of_the_default_loads(store: Path) -> None:
    corrupt(store, "tiny", 1)
    corrupt(store, "tiny", 2)
    engine = Engine(EngineConfig(store, default_model="tiny", device="cpu", warmup=False), Metrics())
    with pytest.raises(ModelStoreError, match="no version of model 'tiny'"):
        await engine.start()
    assert not engine.ready and engine.failure is not None and "sha256" in engine.failure


async def test_reload_serves_new_and_repaired_versions_and_drops_removed_ones(store: Path) -> None:
    good = (store / "tiny" / "2" / "model.pt").read_bytes()
    corrupt(store, "tiny", 2)
    metrics = Metrics()
    engine = Engine(EngineConfig(store, device="cpu", warmup=False), metrics)
    await engine.start()
    try:
        assert engine.resolve(None, None).key == ModelKey("tiny", 1)
        (store / "tiny" / "2" / "model.pt").write_bytes(good)  # repaired
        shutil.copytree(store / "tiny" / "1", store / "tiny" / "3")  # a new version
        manifest = json.loads((store / "tiny" / "3" / "manifest.json").read_text())
        (store / "tiny" / "3" / "manifest.json").write_text(json.dumps({**manifest, "version": 3}))
        shutil.rmtree(store / "zeta")  # withdrawn
        await engine.reload()
        assert [m.key for m in engine.models()] == [ModelKey("tiny", 1), ModelKey("tiny", 2), ModelKey("tiny", 3)]
        assert engine.resolve(None, None).key == ModelKey("tiny", 3) and engine.unavailable() == {}
        assert unavailable_samples(metrics) == {"tiny:2": 0.0}
        with pytest.raises(UnknownModel):
            engine.resolve("zeta", 1)
        [result] = await engine.infer(ModelKey("tiny", 3), [InferenceRequest(images(1)[0])])
        assert result.logits.shape == (1,)
    finally:
        await engine.stop()


async def test_refuses_to_start_on_an_empty_store(tmp_path: Path) -> None:
    with pytest.raises(ModelStoreError):
        await Engine(EngineConfig(tmp_path, device="cpu"), Metrics()).start()


async def test_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            resolve_device("cuda:0")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
async def test_cuda_matches_cpu(store: Path) -> None:
    batch = images(5, seed=3)
    requests = [InferenceRequest(image, features=("block2",), vbp=VBPOptions()) for image in batch]
    outputs = []
    for device in ("cpu", "cuda"):
        metrics = Metrics()
        engine = Engine(EngineConfig(store, device=device, max_batch_size=8, warmup=False), metrics)
        await engine.start()
        outputs.append(await engine.infer(ModelKey("tiny", 1), requests))
        await engine.stop()
        assert (engine.device == "cpu") == (device == "cpu")
    for cpu, cuda in zip(*outputs, strict=True):
        np.testing.assert_allclose(cuda.probabilities, cpu.probabilities, atol=1e-4)
        np.testing.assert_allclose(cuda.features["block2"], cpu.features["block2"], atol=1e-3)
        np.testing.assert_allclose(cuda.vbp.mask, cpu.vbp.mask, atol=1e-3)


async def test_uint8_images_give_the_results_of_their_float_equivalents(engine: Engine) -> None:
    rng = np.random.default_rng(3)
    tiles = rng.integers(0, 256, (3, 3, 96, 96), dtype=np.uint8)
    as_floats = tiles.astype(np.float32) * np.float32(1 / 255)  # how a decoder writing floats would scale
    key = ModelKey("tiny", 1)
    vbp = VBPOptions()
    from_bytes = await engine.infer(key, [InferenceRequest(t, features=BLOCKS, vbp=vbp) for t in tiles])
    from_floats = await engine.infer(key, [InferenceRequest(t, features=BLOCKS, vbp=vbp) for t in as_floats])
    mixed = await engine.infer(key, [InferenceRequest(tiles[0]), InferenceRequest(as_floats[1])])
    for a, b in zip(from_bytes, from_floats, strict=True):
        np.testing.assert_array_equal(a.logits, b.logits)
        np.testing.assert_array_equal(a.vbp.mask, b.vbp.mask)  # type: ignore[union-attr]
        for name in BLOCKS:
            np.testing.assert_array_equal(a.features[name], b.features[name])
    np.testing.assert_array_equal(mixed[0].logits, from_floats[0].logits)
    np.testing.assert_array_equal(mixed[1].logits, from_floats[1].logits)
    with pytest.raises(InvalidParameter, match="uint8"):
        await engine.infer(key, [InferenceRequest(tiles[0].astype(np.int16))])
