"""The smaller defects of the hardening review, each reproduced through the ASGI app with its lifespan running."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from service.api.explain_query import COMMON_QUERY
from service.engine.model_store import ModelStore
from service.explain.registry import METHODS
from tests.service import images
from tests.service.conftest import API_KEY, assert_error, make_settings, serve

PNG = {"content-type": "image/png"}
MULTIPART = {"content-type": "multipart/form-data; boundary=b"}


def multipart(*parts: bytes) -> bytes:
    """A multipart body (boundary ``b``) of the given raw parts (headers, blank line, content)."""
    return b"".join(b"--b\r\n" + part + b"\r\n" for part in parts) + b"--b--\r\n"


FIELD = b'Content-Disposition: form-data; name="x"\r\n\r\nv'
IMAGE = b'Content-Disposition: form-data; name="file"\r\nContent-Type: image/png\r\n\r\n' + images.png()


async def test_multipart_bodies_are_bounded(model_store: Path) -> None:
    async with serve(make_settings(model_store, max_form_parts=70)) as client:
        ok = await client.post("/predict", content=multipart(*[FIELD] * 69, IMAGE), headers=MULTIPART)
        assert ok.status_code == 200, ok.text
        response = await client.post("/predict", content=multipart(*[FIELD] * 70, IMAGE), headers=MULTIPART)
        error = assert_error(response, 413, "payload_too_large")
        assert error["detail"] == {"limit_parts": 70, "setting": "ROADLENS_MAX_FORM_PARTS"}
        many_headers = b"".join(b"X-%d: v\r\n" % i for i in range(20)) + IMAGE
        response = await client.post("/predict", content=multipart(many_headers), headers=MULTIPART)
        assert_error(response, 400, "invalid_multipart")
        long_header = b"X-Long: " + b"a" * 10_000 + b"\r\n" + IMAGE
        response = await client.post("/predict", content=multipart(long_header), headers=MULTIPART)
        assert_error(response, 400, "invalid_multipart")
        response = await client.post("/predict", content=multipart(*[FIELD] * 60), headers=MULTIPART)
        assert assert_error(response, 422)["detail"]["received_fields"] == ["x"]  # each name once


async def test_large_multipart_bodies_are_parsed_in_the_image_threads(model_store: Path) -> None:
    picture = images.png(images.tile(1, size=(400, 400)))
    assert len(picture) > 64 * 1024
    part = b'Content-Disposition: form-data; name="file"\r\nContent-Type: image/png\r\n\r\n' + picture
    async with serve(make_settings(model_store)) as client:
        response = await client.post("/predict", content=multipart(part, IMAGE), headers=MULTIPART)
        assert response.status_code == 200, response.text
        assert len(response.json()["predictions"]) == 2


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity"])
async def test_non_finite_numbers_are_refused(client: httpx.AsyncClient, value: str) -> None:
    response = await client.post(f"/explain/smoothgrad?sigma={value}", content=images.png(), headers=PNG)
    error = assert_error(response, 422, "invalid_parameter")
    assert "sigma" in error["message"]


async def test_a_trailing_slash_is_404_not_a_redirect_to_the_clients_host(client: httpx.AsyncClient) -> None:
    for method, path in (("POST", "/predict/"), ("GET", "/healthz/"), ("GET", "/models/")):
        response = await client.request(method, path, headers={"host": "evil.example"})
        assert_error(response, 404, "not_found")
        assert "location" not in response.headers


async def test_health_checks_answer_head(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz"):
        response = await client.head(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "application/json"


async def test_readyz_says_why_only_to_a_key_holder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-store"
    for keys in ((), (API_KEY,)):
        async with serve(make_settings(missing, api_keys=keys), ready=False) as client:
            for _ in range(200):
                response = await client.get("/readyz")
                if "could not be loaded" in response.text:
                    break
                await asyncio.sleep(0.01)
            error = assert_error(response, 503, "not_ready")
            assert str(tmp_path) not in response.text and error["detail"] == {}
            head = await client.head("/readyz")
            assert head.status_code == 503
            wrong = await client.get("/readyz", headers={"x-api-key": "not-the-key-0123456789"})
            assert str(tmp_path) not in wrong.text
            if keys:
                trusted = assert_error(await client.get("/readyz", headers={"x-api-key": API_KEY}), 503)
                assert str(missing) in trusted["detail"]["reason"]


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', "SVG"),
        (b'<svg width="9" height="9"><rect/></svg>', "SVG"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), "HEIC"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heic" + bytes(64), "HEIF"),
    ],
)
async def test_svg_and_heic_are_unsupported_types_not_garbage(
    client: httpx.AsyncClient, data: bytes, named: str
) -> None:
    error = assert_error(await client.post("/predict", content=data, headers=PNG), 415, "unsupported_media_type")
    assert error["detail"]["format"] == named and named in error["message"]


def test_model_folders_with_invalid_names_are_skipped_with_a_warning(
    model_store: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "store"
    shutil.copytree(model_store, store)
    (store / "Road Net").mkdir()
    (store / ".cache").mkdir()
    (store / "README.txt").write_text("notes")
    with caplog.at_level(logging.DEBUG, logger="service"):
        assert ModelStore(store).known() == {"roadnet": [1, 2]}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'Road Net' is not a model name" in warnings[0], warnings


@pytest.mark.parametrize(
    ("query", "unknown"),
    [("bogus=1", ["bogus"]), ("window=8", ["window"]), ("steps=4&typo=x", ["steps", "typo"])],
)
async def test_explain_treats_unknown_and_other_methods_parameters_alike(
    client: httpx.AsyncClient, query: str, unknown: list[str]
) -> None:
    response = await client.post(f"/explain/saliency?{query}", content=images.png(), headers=PNG)
    error = assert_error(response, 422, "invalid_parameter")
    assert error["detail"]["unknown"] == unknown
    assert error["detail"]["accepted"] == list(COMMON_QUERY)  # saliency takes no parameter of its own
    ok = await client.post("/explain/occlusion?window=8&stride=8&format=npy&model=roadnet", content=images.png(),
                           headers=PNG)  # fmt: skip
    assert ok.status_code == 200, ok.text


async def test_the_accepted_explain_parameters_are_the_documented_ones(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/explain/{method}"]["post"]
    documented = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert documented == set(COMMON_QUERY) | {p.name for spec in METHODS.values() for p in spec.params}


async def test_openapi_says_metrics_is_public_unless_configured(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert {} in document["paths"]["/metrics"]["get"]["security"]  # no key is one way in
    assert {} not in document["paths"]["/predict"]["post"]["security"]
    assert (await client.get("/metrics")).status_code == 200


def test_a_short_api_key_stops_the_start_with_one_line_saying_why() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROADLENS_")} | {"ROADLENS_API_KEYS": "k1,k2"}
    done = subprocess.run([sys.executable, "-m", "service"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "ROADLENS_API_KEYS" in lines[0] and "at least 16" in lines[0], done.stderr
    assert "k1" not in done.stderr
