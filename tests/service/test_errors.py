"""Every client error class comes back in the one JSON shape with the right status, and the service keeps serving."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.service import images
from tests.service.conftest import assert_error, make_settings, serve

PNG = {"content-type": "image/png"}


async def test_empty_garbage_and_truncated_images_are_400(client: httpx.AsyncClient) -> None:
    whole = images.png(images.tile(1))
    jpeg = images.encoded(images.tile(1), "JPEG")
    cases = {
        "empty": (b"", PNG),
        "garbage": (b"this is not an image at all" * 10, PNG),
        "truncated png": (whole[: len(whole) // 2], PNG),
        "truncated jpeg": (jpeg[: len(jpeg) // 2], {"content-type": "image/jpeg"}),
    }
    for name, (data, headers) in cases.items():
        error = assert_error(await client.post("/predict", content=data, headers=headers), 400, "invalid_image")
        assert error["detail"]["index"] == 0, name
    empty_part = await client.post("/predict", files={"file": ("x.png", b"", "image/png")})
    assert_error(empty_part, 400, "invalid_image")


async def test_malformed_multipart_is_400(client: httpx.AsyncClient) -> None:
    headers = {"content-type": "multipart/form-data; boundary=xyz"}
    response = await client.post("/predict", content=b"--xyz\r\nnonsense", headers=headers)
    assert_error(response, 400, "invalid_multipart")
    no_boundary = await client.post("/predict", content=b"abc", headers={"content-type": "multipart/form-data"})
    assert_error(no_boundary, 400, "invalid_multipart")


async def test_missing_file_field_names_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/predict", files={"image": ("x.png", images.png(), "image/png")})
    error = assert_error(response, 422, "invalid_parameter")
    assert error["detail"] == {"accepted_fields": ["file"], "received_fields": ["image"]}


async def test_unsupported_content_type_and_format_are_415(client: httpx.AsyncClient) -> None:
    error = assert_error(
        await client.post("/predict", content=b"{}", headers={"content-type": "application/json"}), 415
    )
    assert "multipart/form-data" in error["detail"]["accepted"] and "image/png" in error["detail"]["accepted"]
    gif = images.encoded(images.tile(1).convert("P"), "GIF")
    error = assert_error(await client.post("/predict", content=gif, headers={"content-type": "image/gif"}), 415)
    assert error["detail"]["format"] == "GIF"
    assert error["detail"]["accepted_formats"] == ["PNG", "JPEG", "WEBP", "BMP", "TIFF"]


async def test_bad_parameters_are_422_naming_accepted_values(client: httpx.AsyncClient) -> None:
    data = images.png()
    cases = {
        "/visualbackprop?format=gif": "'png', 'npy' or 'json'",
        "/features?format=jpg": "'png', 'npz' or 'json'",
        "/visualbackprop?size=huge": "'model' or 'input'",
        "/predict?version=zero": "integer",
        "/predict?version=0": "greater than or equal to 1",
        "/visualbackprop?overlay=maybe": "boolean",
    }
    for url, accepted in cases.items():
        error = assert_error(await client.post(url, content=data, headers=PNG), 422, "invalid_parameter")
        assert accepted in error["message"], (url, error)
    error = assert_error(await client.post("/features?layers=block1,block9", content=data, headers=PNG), 422)
    assert error["detail"]["accepted"] == ["block0", "block1", "block2", "block3"]
    error = assert_error(await client.post("/visualbackprop?format=npy&overlay=true", content=data, headers=PNG), 422)
    assert error["detail"]["accepted_formats"] == ["png"]
    error = assert_error(await client.post("/visualbackprop?layers=true", content=data, headers=PNG), 422)
    assert error["detail"]["accepted_formats"] == ["json"]


async def test_one_image_endpoints_refuse_several(client: httpx.AsyncClient) -> None:
    files = [("file", ("a.png", images.png(), "image/png")), ("file", ("b.png", images.png(), "image/png"))]
    for url in ("/features", "/visualbackprop"):
        error = assert_error(await client.post(url, files=files), 422, "invalid_parameter")
        assert error["detail"] == {"images": 2, "accepted": 1}


async def test_unknown_model_and_version_are_404(client: httpx.AsyncClient) -> None:
    error = assert_error(await client.post("/predict?model=nosuch", content=images.png(), headers=PNG), 404)
    assert error["code"] == "unknown_model" and error["detail"]["known"] == {"roadnet": [1, 2]}
    error = assert_error(await client.post("/predict?version=7", content=images.png(), headers=PNG), 404)
    assert error["detail"]["versions"] == [1, 2]


@pytest.mark.parametrize("name", ["../roadnet", "..", "roadnet/../roadnet", "/etc/passwd", "%2e%2e", "ROADNET", "a\\b"])
async def test_path_like_model_names_never_reach_the_file_system(client: httpx.AsyncClient, name: str) -> None:
    response = await client.post("/predict", params={"model": name}, content=images.png(), headers=PNG)
    error = assert_error(response, 422, "invalid_parameter")
    assert "pattern" in error["message"]


async def test_unknown_routes_and_methods_use_the_error_shape(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/nowhere"), 404, "not_found")
    response = await client.get("/predict")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


async def test_pixel_limit_is_413_and_names_the_limit(model_store: Path) -> None:
    async with serve(make_settings(model_store, max_image_pixels=10_000)) as client:
        big = images.png(images.tile(1, size=(101, 100)))
        error = assert_error(await client.post("/predict", content=big, headers=PNG), 413, "payload_too_large")
        assert error["detail"]["limit_pixels"] == 10_000 and error["detail"]["pixels"] == 10_100
        assert "10000" in error["message"] and error["detail"]["setting"] == "ROADLENS_MAX_IMAGE_PIXELS"
        ok = images.png(images.tile(1, size=(100, 100)))
        assert (await client.post("/predict", content=ok, headers=PNG)).status_code == 200


async def test_body_limit_is_413_from_content_length(model_store: Path) -> None:
    async with serve(make_settings(model_store, max_body_bytes=4096)) as client:
        data = images.png(images.tile(1, size=(200, 200)))
        assert len(data) > 4096
        error = assert_error(await client.post("/predict", content=data, headers=PNG), 413, "payload_too_large")
        assert error["detail"] == {"limit_bytes": 4096, "setting": "ROADLENS_MAX_BODY_BYTES"}
        files = {"file": ("x.png", data, "image/png")}
        assert_error(await client.post("/predict", files=files), 413, "payload_too_large")


async def test_body_limit_stops_reading_a_stream(model_store: Path) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1000):  # 64 MB if nobody stops reading
            sent += 1
            yield b"\0" * 65536

    async with serve(make_settings(model_store, max_body_bytes=200_000)) as client:
        response = await client.post("/predict", content=endless(), headers=PNG)  # chunked: no Content-Length
        assert_error(response, 413, "payload_too_large")
    assert sent <= 5  # cut off at the first chunk past 200 kB, not after buffering the lot


async def test_too_many_images_are_refused(model_store: Path) -> None:
    async with serve(make_settings(model_store, max_images_per_request=2)) as client:
        files = [("file", (f"{i}.png", images.png(), "image/png")) for i in range(3)]
        error = assert_error(await client.post("/predict", files=files), 422, "invalid_parameter")
        assert error["detail"]["limit"] == 2


async def test_the_service_keeps_serving_after_bad_input(client: httpx.AsyncClient) -> None:
    bad = [b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, images.png()[:60], b"GIF89a" + b"\0" * 20, bytes(range(256)) * 40]
    for data in bad:
        response = await client.post("/visualbackprop", content=data, headers=PNG)
        assert 400 <= response.status_code < 500, response.text
    response = await client.post("/predict", content=images.png(), headers=PNG)
    assert response.status_code == 200


async def test_hostile_tiff_and_odd_modes_never_give_500(client: httpx.AsyncClient) -> None:
    tiff = bytearray(images.encoded(images.tile(2), "TIFF"))
    tiff[20:60] = b"\xff" * 40
    lab = images.encoded(images.tile(2).convert("LAB"), "TIFF")
    float_tiff = images.encoded(Image.new("F", (50, 40), 0.5), "TIFF")
    for data in (bytes(tiff), lab, float_tiff):
        response = await client.post("/predict", content=data, headers={"content-type": "image/tiff"})
        assert response.status_code in (200, 400, 415), response.text
