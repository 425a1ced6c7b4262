"""Fixtures of the web page tests: the live server (API keys on), and a headless Chromium tab."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.live import LiveServer, shared_live_server
from tests.web.devtools import Page, chromium

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The browser to drive: ``$CHROMIUM`` if set, else the first of the usual names on the PATH."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


@pytest.fixture(scope="session")
def server(model_store: Path, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> LiveServer:
    """The live server the client tests use too (API key ``API_KEY`` required)."""
    return shared_live_server(model_store, tmp_path_factory, pytestconfig)


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    """A fresh headless Chromium tab. Without a browser: skipped locally, a failure on CI (``CI`` set)."""
    executable = find_chromium()
    if executable is None:
        reason = "no Chromium found (install Debian's chromium, or set CHROMIUM=/path/to/chrome)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must run the browser test")
        pytest.skip(reason)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    with chromium(executable, profile, width=1280, height=900) as tab:
        yield tab
