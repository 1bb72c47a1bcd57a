"""The Train page while a run goes, in a real browser. The bar and Stop refresh every second; the curves, the map and
the pictures only every few seconds, because redrawing the charts each second kept the watching browser half a core
busy, and on one machine every other user's clicks waited for it (benchmarks/app_speed.py --trainer-away measures
that). The map is the canvas map, there only to be looked at. Uses tests/test_browser.py's server and fixtures.
"""
from __future__ import annotations

import time

import pytest

from benchmarks import browser_harness as h
from test_browser import (TRAIN_TIMEOUT_MS, artifacts, assert_no_exception, browser, browser_ready,  # noqa: F401
                          checkpoint_copy, page, server, set_number, stop_training)

pytestmark = pytest.mark.e2e

BAR_RUNS = 8  # bar refreshes watched
MAP_JS = "document.querySelector('.st-key-train_map .latent-map').parentElement.__latentMap"


def test_while_it_trains_the_bar_refreshes_every_second_and_the_charts_seldom(page, server, artifacts):
    frames: list[bytes] = []
    page.on("websocket", lambda socket: socket.on(
        "framereceived", lambda payload: frames.append(payload if isinstance(payload, bytes) else payload.encode())))
    try:
        h.open_app(page, server.url)
        h.open_page_from_menu(page, "Train")
        h.choose_option(page, "train_dataset", "digits:")
        set_number(page, "train_epochs", 500)
        h.keyed(page, "train_start").get_by_role("button").click()
        page.locator(".st-key-train_map .latent-map").wait_for(timeout=TRAIN_TIMEOUT_MS)  # after the first epoch
        h.keyed(page, "train_batch_curves").wait_for(timeout=TRAIN_TIMEOUT_MS)

        frames.clear()
        deadline = time.monotonic() + TRAIN_TIMEOUT_MS / 1000
        while sum(b"train_stop" in frame for frame in frames) < BAR_RUNS and time.monotonic() < deadline:
            page.wait_for_timeout(200)  # the server's messages arrive meanwhile
        bar_runs = sum(b"train_stop" in frame for frame in frames)
        chart_runs = sum(b"train_batch_curves" in frame for frame in frames)
        map_runs = sum(b"train_map" in frame for frame in frames)
        assert bar_runs >= BAR_RUNS
        # each poll of the bar used to send all three charts too; now they come once in VIEW_SECONDS (5 s)
        assert chart_runs <= bar_runs // 2 and map_runs <= bar_runs // 2, (bar_runs, chart_runs, map_runs)

        state = page.evaluate(f"() => {MAP_JS}.describe()")
        assert state["count"] > 0 and state["x_range"] == [-4.0, 4.0] and state["marker"] is None
        overlay = page.locator(".st-key-train_map .latent-map-overlay")
        assert "click" not in overlay.get_attribute("aria-label")  # nothing to choose on this map
        overlay.click(position={"x": state["width"] / 2 + 58, "y": state["height"] / 2 + 12})
        assert page.evaluate(f"() => {MAP_JS}.pending") is None  # a click draws no cross and asks nothing
        assert_no_exception(page)
        page.screenshot(path=str(artifacts / "e2e-train-live-views.png"), full_page=True)
    finally:
        stop_training(page)
