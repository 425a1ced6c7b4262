"""The asyncio client against the live server: the same calls, concurrently."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from roadlens_client import AsyncClient, Client, InvalidImage, RetryPolicy, TransportError

from tests.client.live import API_KEY, LiveServer, free_port


async def test_concurrent_predictions_match_the_blocking_client(server: LiveServer, tiles: list[np.ndarray]) -> None:
    async with AsyncClient(server.url, api_key=API_KEY) as roadlens:
        results = await asyncio.gather(*(roadlens.predict(tile) for tile in tiles * 3))
    with Client(server.url, api_key=API_KEY) as blocking:
        expected = [p.probability for p in blocking.predict(tiles).predictions]
    assert [r.predictions[0].probability for r in results] == pytest.approx(expected * 3, abs=1e-6)


async def test_explanations_and_feature_maps(server: LiveServer, tiles: list[np.ndarray]) -> None:
    async with AsyncClient(server.url, api_key=API_KEY) as roadlens:
        vbp, maps, grid, overlay, gradcam, catalog, models = await asyncio.gather(
            roadlens.visualbackprop(tiles[1], layers=True),
            roadlens.features(tiles[1], layers=["block0"]),
            roadlens.features_grid(tiles[1]),
            roadlens.visualbackprop_png(tiles[1], overlay=True, normalize_overlap=True),
            roadlens.explain("gradcam", tiles[1]),
            roadlens.methods(),
            roadlens.models(),
        )
    assert vbp.mask.shape == (96, 96) and len(vbp.layers) == 4
    assert maps.maps["block0"].shape == (8, 96, 96)
    assert grid.image().mode == "L" and overlay.image().mode == "RGB"
    assert gradcam.map.shape == (96, 96) and gradcam.method == "gradcam"
    assert "gradcam" in {m.name for m in catalog.methods}
    assert [m.version for m in models] == [1, 2]


async def test_errors_and_readiness(server: LiveServer) -> None:
    async with AsyncClient(server.url, api_key=API_KEY) as roadlens:
        assert (await roadlens.wait_until_ready(timeout=5)).status == "ready"
        with pytest.raises(InvalidImage) as refused:
            await roadlens.predict(b"GIF89a not really")
    assert refused.value.code == "invalid_image"
    async with AsyncClient(f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(retries=0)) as nowhere:
        with pytest.raises(TransportError):
            await nowhere.wait_until_ready(timeout=0.3, interval=0.05)
        with pytest.raises(TransportError):
            await nowhere.readiness()
