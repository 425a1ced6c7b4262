"""The smaller defects of the hardening review, each reproduced through the ASGI app with its lifespan running."""

from __future__ import annotations

from pathlib import Path

from tests.service import images
from tests.service.conftest import assert_error, make_settings, serve

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
