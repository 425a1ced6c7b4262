"""The road-mask and class-model panels of the web page, in a real Chromium, against the live server."""

from __future__ import annotations

from pathlib import Path

from roadlens_client import Client

from tests.client.live import API_KEY, LiveServer
from tests.explain.test_segment_api import thin_road
from tests.web.devtools import Page
from tests.web.test_page import open_page, upload_and_wait

RED_PIXELS = """(() => {
  const canvas = document.getElementById("roads-mask");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let red = 0;
  for (let i = 0; i < data.length; i += 4) red += data[i + 3] > 0 && data[i] === 255 && data[i + 1] === 48;
  return {red, width: canvas.width, height: canvas.height};
})()"""
SET_GSD = "(() => { const g = document.getElementById('gsd'); g.value = '4'; g.dispatchEvent(new Event('change')); })()"
CAPTIONS = "[...document.querySelectorAll('.class-model')].map(c => [c.dataset.target, c.textContent])"
DRAWN = "document.querySelectorAll('.class-model canvas').length"


def test_the_road_mask_is_the_services_and_lengths_follow_the_gsd(
    server: LiveServer, page: Page, tmp_path: Path
) -> None:
    tile = tmp_path / "thin-road.png"
    thin_road(31).save(tile)  # a light 2 px road: the session's untrained model finds it with the default rule
    open_page(page, server)
    upload_and_wait(page, tile)
    with Client(server.url, api_key=API_KEY) as roadlens:
        expected = roadlens.segment(tile)
        in_metres = roadlens.segment(tile, gsd_m=4.0)
    drawn = page.evaluate(RED_PIXELS)
    assert (drawn["width"], drawn["height"]) == (96, 96) and drawn["red"] == expected.road_pixels
    summary = page.evaluate("document.getElementById('roads-summary').textContent")
    assert ("road-free" in summary) == (not expected.road), summary
    assert page.evaluate("document.querySelectorAll('#roads-pieces li').length") == len(expected.pieces)
    assert expected.pieces, "the sample tile should give the session's model a road to find"
    page.evaluate(SET_GSD)
    page.wait_for("document.getElementById('roads-summary').textContent.includes(' m ')", timeout_s=30)
    assert f"{in_metres.length_m:.0f} m" in page.evaluate("document.getElementById('roads-summary').textContent")
    assert page.errors == []


def test_the_class_models_of_both_decisions_are_drawn(server: LiveServer, page: Page) -> None:
    open_page(page, server)
    page.wait_for(f"{DRAWN} === 2", timeout_s=60)
    captions = dict(page.evaluate(CAPTIONS))
    with Client(server.url, api_key=API_KEY) as roadlens:
        for target in ("road", "not_road"):
            probability = roadlens.class_model(target=target).probability  # the server's cached image
            assert f"p(road) = {probability:.4f}" in captions[target], captions
    assert page.errors == []
