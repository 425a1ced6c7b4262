"""A store with a broken version: the rest is served and the fault is reported; a reload repairs it without a
restart."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service import images
from tests.service.conftest import API_KEY, assert_error, make_settings, serve

PNG = {"content-type": "image/png"}


@pytest.fixture
def damaged_store(model_store: Path, tmp_path: Path) -> Path:
    """The session store with ``roadnet`` version 2's TorchScript file modified (version 1 intact)."""
    root = tmp_path / "store"
    shutil.copytree(model_store, root)
    artifact = root / "roadnet" / "2" / "model.pt"
    (tmp_path / "good.pt").write_bytes(artifact.read_bytes())
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    return root


async def predict(client: httpx.AsyncClient, query: str = "") -> httpx.Response:
    return await client.post(f"/predict{query}", content=images.png(), headers=PNG)


def unavailable_gauge(text: str) -> dict[str, float]:
    return {
        f"{s.labels['name']}:{s.labels['version']}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "roadlens_model_unavailable"
    }


async def test_a_broken_version_is_reported_and_the_others_served(damaged_store: Path) -> None:
    async with serve(make_settings(damaged_store)) as client:
        ready = (await client.get("/readyz")).json()
        assert ready["models"] == [{"name": "roadnet", "version": 1}]
        assert ready["unavailable"] == [{"name": "roadnet", "version": 2}]
        listed = (await client.get("/models")).json()
        assert [(m["version"], m["default"]) for m in listed["models"]] == [(1, True)]
        [broken] = listed["unavailable"]
        assert broken["version"] == 2 and "sha256" in broken["reason"] and str(damaged_store) not in broken["reason"]
        default = await predict(client)
        assert default.status_code == 200 and default.json()["model"] == {"name": "roadnet", "version": 1}
        assert (await predict(client, "?version=1")).status_code == 200
        error = assert_error(await predict(client, "?version=2"), 503, "model_unavailable")
        assert error["detail"]["versions"] == [1]
        assert unavailable_gauge((await client.get("/metrics")).text) == {"roadnet:2": 1.0}


async def test_a_reload_serves_the_repaired_version_without_a_restart(damaged_store: Path, tmp_path: Path) -> None:
    async with serve(make_settings(damaged_store)) as client:
        assert (await client.get("/models")).json()["unavailable"] != []
        (damaged_store / "roadnet" / "2" / "model.pt").write_bytes((tmp_path / "good.pt").read_bytes())
        reloaded = await client.post("/models/reload")
        assert reloaded.status_code == 200, reloaded.text
        body = reloaded.json()
        assert [(m["version"], m["default"]) for m in body["models"]] == [(1, False), (2, True)]
        assert body["unavailable"] == []
        assert (await predict(client)).json()["model"] == {"name": "roadnet", "version": 2}
        assert (await client.get("/readyz")).json()["unavailable"] == []
        assert unavailable_gauge((await client.get("/metrics")).text) == {"roadnet:2": 0.0}


async def test_reloading_needs_a_key_when_keys_are_on(damaged_store: Path) -> None:
    async with serve(make_settings(damaged_store, api_keys=API_KEY)) as client:
        assert_error(await client.post("/models/reload"), 401, "unauthorized")
        ok = await client.post("/models/reload", headers={"X-API-Key": API_KEY})
        assert ok.status_code == 200 and [m["version"] for m in ok.json()["models"]] == [1]
