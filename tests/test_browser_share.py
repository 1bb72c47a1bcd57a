"""The map saved as one web page (pages/common/share_page.py), in a real browser: downloaded through the app's
button, opened from file:// with every network request refused and the browser offline, hovered, clicked and
slid. Each picture is checked against LatentModel.decode of the code lifted in Python (vae.projection), and
the page must make no request and log no error. One server for the module (tests/test_browser.py's fixtures).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import vae
from benchmarks import browser_harness as h
from benchmarks import live_harness as lh
from pages.common import share_page
from test_browser import (DEFAULT_MODEL, artifacts, browser, browser_ready, checkpoint_copy, page,  # noqa: F401
                          server)
from test_browser_live import CODE_TOLERANCE, MODEL_16D, PAGE_TOLERANCE, expected_code, model, plane_of, saved_means
from test_share_page import HOSTILE_CLASSES, HOSTILE_DATASET, HOSTILE_NAME, make_plane

pytestmark = pytest.mark.e2e

WEB_PAGE_KEY = "explore_web_page"  # pages/explore.py WEB_PAGE_KEY
SHARED_MAP = "document.getElementById('latent-map').__latentMap"
SPOT_SHARES = (0.2, 0.45, 0.7, 0.9)  # where the hovered spots lie across and up the plane (a 4 x 4 lattice)
HELD_IMAGE = 5  # the 16-D page's chosen point: this test image's code


@pytest.fixture
def offline(browser, artifacts, request):
    """A page in a browser context that is offline and refuses every request that is not for a file; it records
    every request, every console error or uncaught exception, and every dialog (an alert would be one)."""
    context = browser.new_context(viewport=h.VIEWPORT)
    context.set_offline(True)
    seen = SimpleNamespace(requests=[], refused=[], errors=[], dialogs=[])

    def refuse(route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            seen.refused.append(route.request.url)
            route.abort()

    context.route("**/*", refuse)
    opened = context.new_page()
    opened.set_default_timeout(h.ACTION_TIMEOUT_MS)
    opened.on("request", lambda sent: seen.requests.append(sent.url))
    opened.on("console", lambda message: seen.errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: seen.errors.append(str(error)))
    opened.on("dialog", lambda dialog: (seen.dialogs.append(dialog.message), dialog.dismiss()))
    seen.page = opened
    yield seen
    try:
        opened.screenshot(path=str(artifacts / f"last-{request.node.name}-offline.png"), timeout=10_000)
    finally:
        context.close()


def open_shared(offline, path) -> dict:
    """Open the saved page from disk and wait until its map is drawn and its picture painted; its describe()."""
    offline.page.goto(path.as_uri(), wait_until="load")
    offline.page.wait_for_function(f"() => {{ const m = {SHARED_MAP};"
                                   " return Boolean(m && m.live && m.shown && Number(m.root.dataset.drawn) > 0); }")
    return describe(offline.page)


def describe(shared) -> dict:
    return shared.evaluate(f"() => {SHARED_MAP}.describe()")


def pixel(state: dict, x: float, y: float) -> tuple[int, int]:
    """The whole page pixel of plane point (x, y) on the saved page's map (``state``: its describe())."""
    (x0, x1), (y0, y1) = state["x_range"], state["y_range"]
    return (round(state["left"] + (x - x0) / (x1 - x0) * state["width"]),
            round(state["top"] + (y1 - y) / (y1 - y0) * state["height"]))


def spots(state: dict) -> list[tuple[float, float]]:
    """Plane points on a lattice over the map (some land on a dot, which then names its test image)."""
    (x0, x1), (y0, y1) = state["x_range"], state["y_range"]
    return [(x0 + a * (x1 - x0), y0 + b * (y1 - y0)) for a in SPOT_SHARES for b in SPOT_SHARES]


def hover(shared, state: dict, x: float, y: float) -> dict:
    """Move the mouse over plane point (x, y); the live state once that frame is drawn."""
    frames = describe(shared)["live"]["frames"]
    shared.mouse.move(*pixel(state, x, y))
    shared.wait_for_function(f"f => {SHARED_MAP}.describe().live.frames > f", arg=frames)
    return describe(shared)["live"]


def chosen_point(shared) -> np.ndarray:
    return np.asarray(shared.evaluate(f"() => {SHARED_MAP}.data.live.point"), np.float32)


def hover_everywhere(shared, state: dict, means: np.ndarray, projection, ranges: np.ndarray, base: np.ndarray,
                     network) -> list[dict]:
    """Hover each lattice spot: the page's code is the app's (a dot's code or the spot lifted from ``base``,
    clipped), its picture LatentModel.decode's, and every spot shows a new picture."""
    states = [hover(shared, state, x, y) for x, y in spots(state)]
    assert {s["source"] for s in states} == {"hover"}
    codes = np.stack([expected_code(s, means, projection, ranges, base) for s in states])
    np.testing.assert_allclose(np.stack([s["code"] for s in states]), codes, atol=CODE_TOLERANCE)
    pictures = np.stack([lh.picture(s) for s in states])
    assert np.abs(pictures - network.decode(codes)).max() < PAGE_TOLERANCE
    assert len({picture.tobytes() for picture in pictures}) == len(states)
    return states


def assert_asked_for_nothing(offline, path) -> None:
    assert offline.requests == [path.as_uri()] and offline.refused == []
    assert offline.errors == [] and offline.dialogs == []


def test_the_page_downloaded_from_the_app_works_from_disk_offline(page, server, checkpoint_copy, offline, tmp_path,
                                                                  artifacts):
    h.open_app(page, f"{server.url}?model={DEFAULT_MODEL}")
    h.wait_for_scatter(page)
    h.wait_decoded_shown(page)
    with page.expect_download(timeout=h.ACTION_TIMEOUT_MS) as download:
        h.keyed(page, WEB_PAGE_KEY).get_by_role("button").click()
    assert download.value.suggested_filename == f"{DEFAULT_MODEL}-latent-map.html"
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)  # from here on, the file alone: another browser context, offline

    state = open_shared(offline, saved)
    means = saved_means(str(checkpoint_copy), DEFAULT_MODEL)
    projection, ranges = plane_of(means, "dims")
    assert len(state["index"]) == len(means) and state["live"]["ready"]
    hover_everywhere(offline.page, state, means, projection, ranges, chosen_point(offline.page),
                     model(str(checkpoint_copy), DEFAULT_MODEL))
    offline.page.screenshot(path=str(artifacts / "e2e-share-conv-2d.png"))
    assert_asked_for_nothing(offline, saved)


def test_a_saved_16d_page_lifts_as_the_app_does_and_chooses_points_itself(offline, checkpoint_copy, tmp_path):
    network = model(str(checkpoint_copy), MODEL_16D)
    means = saved_means(str(checkpoint_copy), MODEL_16D)
    projection, ranges = plane_of(means, "pca")
    base = np.clip(means[HELD_IMAGE], ranges[:, 0], ranges[:, 1]).astype(np.float32)
    plane = make_plane(means, np.arange(len(means)) % len(HOSTILE_CLASSES), HOSTILE_CLASSES)
    saved = tmp_path / "shared.html"
    saved.write_bytes(share_page.web_page(HOSTILE_NAME, plane, base, vae.export_decoder(network).payload(),
                                          dataset=HOSTILE_DATASET, codes=means))
    state = open_shared(offline, saved)
    shared = offline.page
    assert shared.title() == f"{HOSTILE_NAME}: latent space"  # names as text: no script ran, no tag was made
    assert shared.locator("h1").inner_text() == f"Latent space of {HOSTILE_NAME}"
    assert shared.locator(".latent-map-legend-item").all_inner_texts() == list(HOSTILE_CLASSES)

    states = hover_everywhere(shared, state, means, projection, ranges, base, network)
    empty = next(s for s in states if s["index"] is None)
    hovered = hover(shared, state, empty["x"], empty["y"])
    shared.mouse.click(*pixel(state, empty["x"], empty["y"]))  # choose it: the page itself commits the point
    chosen = expected_code(hovered, means, projection, ranges, base)
    shared.wait_for_function(f"() => {SHARED_MAP}.data.live.point[0] !== {float(base[0])!r}")
    np.testing.assert_allclose(chosen_point(shared), chosen, atol=CODE_TOLERANCE)
    np.testing.assert_allclose(describe(shared)["marker"], projection.to_2d(chosen[None])[0], atol=CODE_TOLERANCE)
    shared.mouse.move(2, 2)  # off the map: the picture shows the chosen point
    shared.wait_for_function(f"() => {SHARED_MAP}.describe().live.source === 'point'")
    assert np.abs(lh.picture(describe(shared)["live"]) - network.decode(chosen[None])[0]).max() < PAGE_TOLERANCE
    hover_everywhere(shared, state, means, projection, ranges, chosen, network)  # lifted from the new point now

    shared.mouse.move(2, 2)
    shared.locator(".latent-map-sliders summary").click()  # the 16 sliders' fold-out
    shared.locator("input[data-dim='3']").focus()
    shared.keyboard.press("End")  # slider z4 to its top: committed once the key is let go
    top = np.float32(ranges[3, 1])
    shared.wait_for_function(f"t => {SHARED_MAP}.data.live.point[3] === t", arg=float(top))
    slid = chosen.copy()
    slid[3] = top
    np.testing.assert_allclose(chosen_point(shared), slid, atol=CODE_TOLERANCE)
    shared.wait_for_function(f"t => {SHARED_MAP}.describe().live.code[3] === t", arg=float(top))
    assert np.abs(lh.picture(describe(shared)["live"]) - network.decode(slid[None])[0]).max() < PAGE_TOLERANCE
    assert_asked_for_nothing(offline, saved)
