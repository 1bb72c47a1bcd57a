"""The map's research views in a real browser: box and lasso selection reaching Python (pages/common/map_select.js),
the uncertainty ellipses and the density overlay drawn (map_layers.js), and a hovered hole said to be off the data.

What the page draws is read from the map's describe() and its canvases; which dots a box or a lasso holds is worked
out here from the dots' pixels (a winding-number test, not the page's ray casting). One server for the module (the
fixtures of tests/test_browser.py), on copies of the bundled models.
"""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks import browser_harness as h
from benchmarks import live_harness as lh
from test_browser import (DEFAULT_MODEL, artifacts, browser, browser_ready, checkpoint_copy, page,  # noqa: F401
                          server)

pytestmark = pytest.mark.e2e

EDGE_PIXELS = 1.5  # dots this close to a box's or lasso's edge may fall either side: left out of the comparison
MAP = "document.querySelector('.st-key-explore_scatter .latent-map').parentElement.__latentMap"


def open_map(page, server) -> dict:
    h.open_app(page, f"{server.url}?model={DEFAULT_MODEL}")
    h.wait_for_scatter(page)
    h.wait_decoded_shown(page)  # the model is loaded: the selection's grid can be drawn
    return h.map_state(page)


def dot_pixels(state: dict) -> np.ndarray:
    """(N, 2) viewport pixels of the visible dots, from the plane positions and the plot box describe() gives."""
    (x0, x1), (y0, y1) = state["x_range"], state["y_range"]
    x, y = np.asarray(state["x"], np.float64), np.asarray(state["y"], np.float64)
    return np.stack([state["left"] + (x - x0) / (x1 - x0) * state["width"],
                     state["top"] + (y1 - y) / (y1 - y0) * state["height"]], axis=1)


def winding(polygon: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Whether each point is inside the closed polygon: its edges' angles seen from the point add up to a full turn."""
    start, end = polygon[None] - points[:, None], np.roll(polygon, -1, axis=0)[None] - points[:, None]
    angles = np.arctan2(start[..., 0] * end[..., 1] - start[..., 1] * end[..., 0], (start * end).sum(axis=2))
    return np.abs(angles.sum(axis=1)) > np.pi


def edge_distance(polygon: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Each point's distance to the polygon's nearest edge."""
    a, b = polygon[None], np.roll(polygon, -1, axis=0)[None]
    t = np.clip(((points[:, None] - a) * (b - a)).sum(axis=2) / ((b - a) ** 2).sum(axis=2), 0, 1)
    return np.linalg.norm(points[:, None] - (a + t[..., None] * (b - a)), axis=2).min(axis=1)


def drag(page, corners: list[tuple[float, float]], shift: bool = False) -> None:
    """Press at the first corner, move through the others in small steps, let go (holding Shift for a lasso)."""
    if shift:
        page.keyboard.down("Shift")
    page.mouse.move(*corners[0])
    page.mouse.down()
    for corner in corners[1:]:
        page.mouse.move(*corner, steps=8)
    page.mouse.up()
    if shift:
        page.keyboard.up("Shift")


def chosen_after(page, before: list[int]) -> list[int]:
    """The selection the server sent back, once it differs from ``before``."""
    # null-safe: under load a rerun can take the map out of the page for a moment; that counts as "not yet"
    waiting = MAP.replace(").parentElement.__latentMap", ")?.parentElement.__latentMap")
    page.wait_for_function(f"b => {{ const m = {waiting}; return Boolean(m) && "
                           f"JSON.stringify(m.describe().selection.chosen) !== JSON.stringify(b); }}",
                           arg=before, timeout=h.PAGE_TIMEOUT_MS)
    h.wait_idle(page)
    return h.map_state(page)["selection"]["chosen"]


def assert_selected(chosen: list[int], state: dict, polygon: np.ndarray) -> None:
    pixels = dot_pixels(state)
    inside, clear = winding(polygon, pixels), edge_distance(polygon, pixels) > EDGE_PIXELS
    index = np.asarray(state["index"])
    sure = set(index[inside & clear].tolist())
    possible = set(index[inside | ~clear].tolist())
    assert len(sure) >= 5, "the shape should hold several dots"
    assert sure <= set(chosen) <= possible


def test_a_box_and_a_lasso_select_the_dots_inside_and_python_gets_them(page, server, artifacts):
    state = open_map(page, server)
    assert state["selection"] == {"mode": "explore", "toolbar": True, "chosen": [], "drawing": False}
    page.locator(".st-key-explore_scatter .latent-map-tools [data-mode=select]").click()
    left, top, width, height = state["left"], state["top"], state["width"], state["height"]
    box = np.array([[left + 0.3 * width, top + 0.3 * height], [left + 0.62 * width, top + 0.3 * height],
                    [left + 0.62 * width, top + 0.66 * height], [left + 0.3 * width, top + 0.66 * height]])
    marker = state["marker"]
    drag(page, [tuple(box[0]), tuple(box[2])])
    chosen = chosen_after(page, [])
    assert_selected(chosen, state, box)
    assert h.map_state(page)["marker"] == marker  # selecting moved no point
    page.get_by_text(f"{len(chosen)} selected pictures").wait_for(timeout=h.PAGE_TIMEOUT_MS)  # Python's grid
    page.screenshot(path=str(artifacts / "e2e-research-box.png"))

    angles = np.linspace(0, 2 * np.pi, 7, endpoint=False)  # a heptagon-shaped lasso round the plot's middle left
    lasso = np.stack([left + width * (0.35 + 0.2 * np.cos(angles)), top + height * (0.5 + 0.25 * np.sin(angles))], 1)
    drag(page, [tuple(corner) for corner in lasso] + [tuple(lasso[0])], shift=True)
    again = chosen_after(page, chosen)
    drawn = np.array([lasso[k // 8] + (lasso[(k // 8 + 1) % 7] - lasso[k // 8]) * (k % 8 + 1) / 8 for k in range(56)])
    assert_selected(again, state, drawn)  # the lasso's corners as the mouse passed them
    page.get_by_text(f"{len(again)} selected pictures").wait_for(timeout=h.PAGE_TIMEOUT_MS)
    page.screenshot(path=str(artifacts / "e2e-research-lasso.png"))

    page.locator(".st-key-explore_scatter .latent-map-tools [data-clear]").click()
    assert chosen_after(page, again) == []


def overlay_pixels(page) -> int:
    """How many pixels of the map's overlay canvas are drawn on."""
    return page.evaluate(f"""() => {{
        const canvas = {MAP}.overlay, data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let drawn = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) drawn++;
        return drawn;
    }}""")


def test_the_ellipses_are_drawn_and_the_clicked_images_always(page, server, artifacts):
    state = open_map(page, server)
    before = overlay_pixels(page)
    dot = h.isolated_dots(page, 1)[0]
    h.click_plane(page, dot["x"], dot["y"])
    page.wait_for_function(f"() => {MAP}.describe().layers.picked_ellipse !== null", timeout=h.PAGE_TIMEOUT_MS)
    picked = h.map_state(page)["layers"]["picked_ellipse"]
    assert picked["centre"] == pytest.approx([dot["x"], dot["y"]], abs=1e-5) and picked["major"] > 0
    h.wait_idle(page)
    h.keyed(page, "explore_ellipses").locator("label").click()
    page.wait_for_function(f"n => {MAP}.describe().layers.ellipses === n", arg=len(state["index"]),
                           timeout=h.PAGE_TIMEOUT_MS)
    h.wait_idle(page)
    assert overlay_pixels(page) > 5 * before  # a thousand rings where only the cross was
    page.screenshot(path=str(artifacts / "e2e-research-ellipses.png"))


def test_the_overlay_shows_the_holes_and_a_hovered_hole_is_off_the_data(page, server, artifacts):
    open_map(page, server)
    lh.wait_live_ready(page)
    h.keyed(page, "explore_density").get_by_text("Both", exact=True).click()
    page.wait_for_function(f"() => {{ const l = {MAP}.describe().layers; return l.density && l.holes && l.prior === 2; }}",
                           timeout=h.PAGE_TIMEOUT_MS)
    h.wait_idle(page)
    state = h.map_state(page)
    cells = page.evaluate(f"""() => {{
        const holes = {MAP}.layers.holes, n = holes.size, out = [];
        const [x0, x1] = holes.x_range, [y0, y1] = holes.y_range;
        for (let bit = 0; bit < n * n; bit++) out.push([x0 + (bit % n) / (n - 1) * (x1 - x0),
            y1 - Math.floor(bit / n) / (n - 1) * (y1 - y0), (holes.cells[bit >> 3] >> (7 - (bit & 7))) & 1]);
        return out;
    }}""")
    pixels = dot_pixels(state)
    (x0, x1), (y0, y1) = state["x_range"], state["y_range"]

    def crowd(x: float, y: float) -> np.ndarray:
        """Distances in pixels from the spot to every dot."""
        spot = [state["left"] + (x - x0) / (x1 - x0) * state["width"], state["top"] + (y1 - y) / (y1 - y0) * state["height"]]
        return np.linalg.norm(pixels - spot, axis=1)

    hole = next((x, y) for x, y, bit in cells if bit and crowd(x, y).min() > 10)  # no dot to snap to
    hovered = lh.hover(page, *hole)
    assert hovered["index"] is None and "off the data" in page.evaluate(f"() => {MAP}.caption.textContent")
    full = max((cell for cell in cells if not cell[2]), key=lambda cell: (crowd(cell[0], cell[1]) < 15).sum())
    lh.hover(page, full[0], full[1])  # among the most dots: where the model has data
    assert "off the data" not in page.evaluate(f"() => {MAP}.caption.textContent")
    page.screenshot(path=str(artifacts / "e2e-research-holes.png"))
    h.click_plane(page, *hole)  # the server flags the committed point too
    page.get_by_text("Off the data").first.wait_for(timeout=h.PAGE_TIMEOUT_MS)
