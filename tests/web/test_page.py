"""The web page at ``/``: served from the package with nothing from elsewhere, and working in a real Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from roadlens_client import Client

from service.api.ui import STATIC_DIR
from tests.client.live import API_KEY, ROOT, LiveServer
from tests.web.devtools import Page

SCREENSHOT = ROOT / "test-artifacts" / "web-page.png"
TILE = STATIC_DIR / "samples" / "road-1.png"

# The overlay canvas as numbers: its size, and how far its red and blue channels spread (a blank or uniform
# canvas has no spread).
OVERLAY_STATS = """(() => {
  const canvas = document.getElementById("vbp-overlay");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let low = 255, high = 0, sum = 0;
  for (let i = 0; i < data.length; i += 4) {
    const heat = data[i] - data[i + 2];
    low = Math.min(low, heat); high = Math.max(high, heat); sum += data[i] + data[i + 1] + data[i + 2];
  }
  return {width: canvas.width, height: canvas.height, spread: high - low, sum, opacity: canvas.style.opacity};
})()"""


def test_the_page_and_its_files_are_served_from_the_package(server: LiveServer) -> None:
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    page = httpx.get(server.url + "/", headers={"Accept": browser_accept})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'href="/docs"' in page.text  # the pointer to the API documentation stays on the page
    local = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert {"/static/app.js", "/static/style.css"} <= set(local)
    for path in local:
        assert httpx.get(server.url + path).status_code == 200, path
    assert httpx.get(server.url + "/static/samples/samples.json").json()["samples"]
    assert httpx.get(server.url + "/static/../app.py").status_code == 404
    assert httpx.get(server.url + "/").json()["docs"] == "/docs"  # API clients get a pointer instead


def test_nothing_is_loaded_from_the_internet() -> None:
    for path in STATIC_DIR.rglob("*"):
        if path.suffix in {".html", ".js", ".css"}:
            text = path.read_text()
            assert not re.search(r"(?:src|href|url|import)\s*[=(]?\s*[\"']?(?:https?:)?//", text), path
            assert 'fetch("http' not in text and "fetch('http" not in text, path


def open_page(page: Page, server: LiveServer) -> None:
    """Load the page and give it the API key when it asks, as a user would."""
    page.navigate(server.url + "/")
    page.wait_for("document.querySelectorAll('.sample').length === 4")
    page.wait_for("!document.getElementById('key-form').hidden")  # GET /models answered 401
    page.evaluate(f"document.getElementById('api-key').value = {API_KEY!r}")
    page.evaluate("document.getElementById('key-form').requestSubmit()")
    page.wait_for("document.getElementById('model-info').textContent.includes('roadnet:2')")
    assert page.evaluate("document.getElementById('key-form').hidden")


def upload_and_wait(page: Page, tile: Path) -> None:
    page.set_file("#file-input", tile)
    page.wait_for("document.body.dataset.state === 'loading'", timeout_s=10)
    page.wait_for("document.body.dataset.state !== 'loading'", timeout_s=60)
    assert page.evaluate("document.body.dataset.state") == "done", page.evaluate(
        "document.getElementById('status').textContent"
    )


def test_upload_a_tile_and_see_every_result(server: LiveServer, page: Page) -> None:
    open_page(page, server)
    upload_and_wait(page, TILE)

    shown = page.evaluate("document.getElementById('probability').textContent")
    assert re.fullmatch(r"\d{1,3}\.\d %", shown), shown
    with Client(server.url, api_key=API_KEY) as roadlens:
        expected = roadlens.predict(TILE).predictions[0].probability
        methods = [m.name for m in roadlens.methods().applicable() if m.name != "visualbackprop"]
    assert float(shown.split()[0]) == pytest.approx(100 * expected, abs=0.051)
    assert page.evaluate("document.getElementById('decision').textContent") in ("road", "no road")

    faithful = page.evaluate(OVERLAY_STATS)
    assert (faithful["width"], faithful["height"]) == (96, 96)
    assert faithful["spread"] > 100, faithful  # a heat map from blue to red, not a blank canvas
    assert page.evaluate("document.querySelectorAll('#levels .level canvas').length") == 8  # 4 levels x 2 maps

    loaded = "[...document.querySelectorAll('#{} img')].filter(i => i.complete && i.naturalWidth > 0).length"
    assert page.evaluate(loaded.format("methods")) == len(methods) >= 6
    assert page.evaluate(loaded.format("features")) == 4

    page.evaluate("document.getElementById('mode-normalised').click()")
    page.evaluate(
        "(() => { const s = document.getElementById('opacity'); s.value = 35; s.dispatchEvent(new Event('input')); })()"
    )
    normalised = page.evaluate(OVERLAY_STATS)
    assert normalised["sum"] != faithful["sum"] and normalised["opacity"] == "0.35"

    path = page.screenshot(SCREENSHOT)
    print(f"\nscreenshot of the web page: {path}")
    assert path.stat().st_size > 50_000
    assert page.errors == []


def test_a_sample_tile_can_be_picked(server: LiveServer, page: Page) -> None:
    open_page(page, server)
    page.evaluate("document.querySelector('.sample[data-file=\"no-road-1.png\"]').click()")
    page.wait_for("document.body.dataset.state === 'done'", timeout_s=60)
    assert page.evaluate("document.getElementById('file-name').textContent") == "no-road-1.png"
    assert page.evaluate("document.getElementById('probability').textContent").endswith("%")
    assert page.errors == []
