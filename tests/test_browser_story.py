"""The story views in a real browser: the presenter walks the tour with the keyboard (pages/common/tour_keys.js),
and a hover on one Compare map shows the same test image, or the same code, in the other (map_link.js).

What the other map shows is checked against the saved codes of the bundled models (their .codes.npz, read here)
and against LatentModel.decode. One server for the module (the fixtures of tests/test_browser.py).
"""
from __future__ import annotations

import urllib.parse

import numpy as np
import pytest

from benchmarks import browser_harness as h
from benchmarks import live_harness as lh
from test_browser import (DEFAULT_MODEL, artifacts, assert_no_error, browser, browser_ready,  # noqa: F401 - fixtures
                          checkpoint_copy, expect_heading, page, server)
from vae import load_model, plots

pytestmark = pytest.mark.e2e

TITLES = ["What a latent space is", "The map", "Hover: the model draws as you move",
          "Interpolate: from one picture to another", "Generate: new pictures from random codes"]  # tour_steps.STEPS
MAP_A, MAP_B = "compare_map_a", "compare_map_b"
MLP_2D, MLP_16D = "mnist5k-mlp-2d", "mnist5k-mlp-16d"  # the Compare page's first pair: latent sizes 2 and 16
PAGE_TOLERANCE = 1e-4  # max abs pixel difference, page against LatentModel.decode
_MAP = "document.querySelector(`.st-key-${key} .latent-map`).parentElement.__latentMap"


def saved_means(folder, name: str) -> np.ndarray:
    return np.load(f"{folder}/{name}.codes.npz")["means"]


def clipped(code: np.ndarray, means: np.ndarray) -> np.ndarray:
    """A code kept inside the map's slider ranges (vae.plots.axis_range of each dim), as the page keeps it."""
    ranges = np.array([plots.axis_range(means[:, d]) for d in range(means.shape[1])])
    return np.clip(code, ranges[:, 0], ranges[:, 1])


def link_state(page, key: str) -> dict:
    return page.evaluate(f"key => {_MAP}.describeLink()", key)


def wait_link(page, key: str, condition: str) -> dict:
    """Wait until ``condition`` (JavaScript over ``link``, the map's describeLink()) holds; returns the state."""
    page.wait_for_function(f"key => {{ const link = {_MAP}.describeLink(); return {condition}; }}", arg=key,
                           timeout=h.ACTION_TIMEOUT_MS)
    return link_state(page, key)


def press_step(page, key: str, title: str) -> None:
    """One key, as a presenter's clicker sends it, once the app is idle; the tour must show ``title``."""
    h.wait_idle(page)
    page.keyboard.press(key)
    expect_heading(page, title)
    h.wait_idle(page)


def test_the_presenter_walks_the_tour_with_the_keyboard(page, server, checkpoint_copy, artifacts):
    h.open_app(page, f"{server.url}tour?{urllib.parse.urlencode({'model': DEFAULT_MODEL})}")
    expect_heading(page, TITLES[0])
    page.locator('[data-testid="stSidebar"]').wait_for(state="hidden", timeout=h.PAGE_TIMEOUT_MS)  # the whole screen
    page.get_by_text("Drawn again from its code").wait_for(timeout=h.PAGE_TIMEOUT_MS)  # the model, live
    intro = page.locator('.st-key-tour [data-testid="stMarkdownContainer"] p').filter(has_text="squeezes each picture")
    assert float(intro.evaluate("p => parseFloat(getComputedStyle(p).fontSize)")) >= 24  # large type (16 px elsewhere)
    h.wait_idle(page)
    page.screenshot(path=str(artifacts / "e2e-tour-1.png"))
    press_step(page, "ArrowRight", TITLES[1])
    h.wait_for_scatter(page, "tour_map")
    press_step(page, "PageDown", TITLES[2])
    lh.wait_live_ready(page, "tour_map")  # a live view: the picture follows the mouse
    spot = h.empty_spots(page, 1, "tour_map")[0]
    state = lh.hover(page, *spot, "tour_map")
    assert state["source"] == "hover"
    decoded = load_model(checkpoint_copy / f"{DEFAULT_MODEL}.pt").decode(np.asarray(state["code"], np.float32)[None])[0]
    assert np.abs(lh.picture(state) - decoded).max() < PAGE_TOLERANCE
    page.screenshot(path=str(artifacts / "e2e-tour-3.png"))
    page.mouse.move(5, 5)  # off the map: the keys belong to the tour again
    press_step(page, " ", TITLES[3])  # Space
    page.wait_for_function("() => document.querySelector('.st-key-tour_scrubber .latent-scrubber') !== null")
    press_step(page, "PageDown", TITLES[4])
    assert page.locator('[data-testid="stMain"] img').count() == 1  # the grid of new pictures
    press_step(page, "PageUp", TITLES[3])
    press_step(page, "ArrowLeft", TITLES[2])
    press_step(page, "Home", TITLES[0])
    press_step(page, "End", TITLES[4])
    assert "step=5" in page.url
    assert page.evaluate("() => window.__vaeTourKeys.sent") == 8  # each key one step: none lost, none doubled
    assert_no_error(page)


def test_hovering_a_dot_on_one_compare_map_shows_it_on_the_other(page, server, checkpoint_copy, artifacts):
    h.open_app(page, f"{server.url}compare")
    for key in (MAP_A, MAP_B):
        h.wait_for_scatter(page, key)
        lh.wait_live_ready(page, key)
    assert link_state(page, MAP_A)["channel"] == "compare" == link_state(page, MAP_B)["channel"]
    dot = h.isolated_dots(page, 1, MAP_A)[0]
    state = lh.hover(page, dot["x"], dot["y"], MAP_A)
    assert state["index"] == dot["index"]
    other = wait_link(page, MAP_B, f"link.index === {dot['index']}")  # rung in the other map
    assert other["cursor"] is None  # sizes 2 and 16: no code is shared
    shown = lh.live(page, MAP_B)
    means = saved_means(checkpoint_copy, MLP_16D)
    own = clipped(means[dot["index"]], means)  # model B's own code of the same test image
    np.testing.assert_allclose(shown["code"], own, atol=1e-5)
    decoded = load_model(checkpoint_copy / f"{MLP_16D}.pt").decode(own[None].astype(np.float32))[0]
    assert np.abs(lh.picture(shown) - decoded).max() < PAGE_TOLERANCE
    page.screenshot(path=str(artifacts / "e2e-compare-hover.png"))
    page.mouse.move(5, 5)  # the mouse leaves: the other map shows its own point again
    wait_link(page, MAP_B, "link.index === null")
    page.wait_for_function(f"key => {_MAP}.describe().live.source === 'point'", arg=MAP_B)
    assert_no_error(page)


def test_two_models_of_one_size_decode_the_hovered_code_in_both(page, server, checkpoint_copy):
    h.open_app(page, f"{server.url}compare")
    h.choose_option(page, "compare_model_b", "mnist5k-conv-2d")  # 2-D, as model A
    h.wait_idle(page)
    for key in (MAP_A, MAP_B):
        h.wait_for_scatter(page, key)
        lh.wait_live_ready(page, key)
    for spot in h.empty_spots(page, 3, MAP_A):
        state = lh.hover(page, *spot, MAP_A)
        code = np.asarray(state["code"], np.float64)
        other = wait_link(page, MAP_B, f"link.code && Math.abs(link.code[0] - {code[0]}) < 1e-6")
        shown = lh.live(page, MAP_B)
        means = saved_means(checkpoint_copy, "mnist5k-conv-2d")
        np.testing.assert_allclose(shown["code"], clipped(code, means), atol=1e-5)  # the very same code
        np.testing.assert_allclose(other["cursor"], code, atol=1e-5)  # a 2-D plane's point is the code
        decoded = load_model(checkpoint_copy / "mnist5k-conv-2d.pt").decode(
            np.asarray(shown["code"], np.float32)[None])[0]
        assert np.abs(lh.picture(shown) - decoded).max() < PAGE_TOLERANCE
    assert_no_error(page)
