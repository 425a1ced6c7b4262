"""The app's shape: every handler and dependency is async (no thread hop per request), and the root page."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from service.api import features, health, metrics, models, predict, visualbackprop

ROUTERS = (predict, features, visualbackprop, models, health, metrics)


def dependencies(dependant: Any) -> Iterator[Any]:
    for child in dependant.dependencies:
        yield child
        yield from dependencies(child)


def is_async(call: Any) -> bool:
    # a function, or an object such as HTTPBearer whose __call__ is the coroutine
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(type(call).__call__)


@pytest.mark.parametrize("module", ROUTERS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_handlers_and_dependencies_are_async(module: Any) -> None:
    # FastAPI runs plain functions in a thread pool: one thread hop per dependency per request.
    routes = [route for route in module.router.routes if isinstance(route, APIRoute)]
    assert routes
    for route in routes:
        assert is_async(route.endpoint), route.path
        for dependency in dependencies(route.dependant):
            assert is_async(dependency.call), (route.path, dependency.call)


async def test_root_points_to_the_documentation(client: httpx.AsyncClient) -> None:
    body = (await client.get("/")).json()
    assert body["docs"] == "/docs" and (await client.get(body["openapi"])).status_code == 200
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "RoadLens" in docs.text
