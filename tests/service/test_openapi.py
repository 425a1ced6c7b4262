"""The committed openapi.yaml is what the app serves, and it documents every endpoint, parameter and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from service.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
IMAGE_ENDPOINTS = ("/predict", "/features", "/visualbackprop", "/explain/{method}", "/segment")


async def served(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def test_committed_file_equals_the_served_document(client: httpx.AsyncClient) -> None:
    committed = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    assert committed == await served(client), "regenerate: python -m service --write-openapi openapi.yaml"


def test_the_write_command_produces_the_committed_file(tmp_path: Path) -> None:
    main(["--write-openapi", str(tmp_path / "openapi.yaml")])
    assert (tmp_path / "openapi.yaml").read_text() == (ROOT / "openapi.yaml").read_text()


async def test_every_operation_and_parameter_is_described(client: httpx.AsyncClient) -> None:
    document = await served(client)
    expected = {
        "/predict",
        "/features",
        "/visualbackprop",
        "/explain",
        "/explain/{method}",
        "/segment",
        "/class-model",
        "/models",
        "/models/reload",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    assert set(document["paths"]) == expected
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary") and len(operation.get("description", "")) > 40, where
            for parameter in operation.get("parameters", []):
                assert parameter.get("description"), (where, parameter["name"])
                assert (
                    parameter["schema"].get("examples")
                    or parameter["schema"].get("enum")
                    or any("enum" in option for option in parameter["schema"].get("anyOf", []))
                ), (where, parameter["name"])
            assert "HTTPValidationError" not in str(operation), where  # 422s use the uniform error body


async def test_every_schema_field_has_a_description_and_example(client: httpx.AsyncClient) -> None:
    schemas = (await served(client))["components"]["schemas"]
    for name, schema in schemas.items():
        for field, spec in schema.get("properties", {}).items():
            assert spec.get("description"), (name, field)
            assert spec.get("examples") is not None, (name, field)


async def test_image_bodies_are_documented(client: httpx.AsyncClient) -> None:
    document = await served(client)
    for path in IMAGE_ENDPOINTS:
        body = document["paths"][path]["post"]["requestBody"]
        content = body["content"]
        assert "file" in content["multipart/form-data"]["schema"]["properties"], path
        assert {"image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff"} <= set(content), path
        assert "bilinear" in body["description"] and "over black" in body["description"], path
    assert "Class-agnostic" in document["paths"]["/visualbackprop"]["post"]["description"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerKey"]["scheme"] == "bearer" and schemes["ApiKeyHeader"]["name"] == "X-API-Key"


async def test_the_operations_that_take_a_key_say_so_and_the_probes_do_not(client: httpx.AsyncClient) -> None:
    document = await served(client)
    keyed = {
        ("/predict", "post"),
        ("/features", "post"),
        ("/visualbackprop", "post"),
        ("/explain", "get"),
        ("/explain/{method}", "post"),
        ("/segment", "post"),
        ("/class-model", "get"),
        ("/models", "get"),
        ("/models/reload", "post"),
    }
    documented = {
        (path, method)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == [{"BearerKey": []}, {"ApiKeyHeader": []}]
    }
    assert documented == keyed
    # public by default (ROADLENS_METRICS_PUBLIC): no key, or one of the two when that is turned off
    assert document["paths"]["/metrics"]["get"]["security"] == [{}, {"BearerKey": []}, {"ApiKeyHeader": []}]
    for path in ("/healthz", "/readyz"):
        assert "security" not in document["paths"][path]["get"], path
        assert "security" not in document["paths"][path]["head"], path
