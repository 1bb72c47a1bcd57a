"""The latent map at 1,000,000 synthetic points in a real browser (the component mounted outside Streamlit).

What it draws is read back from its canvas and checked against the dots' pixels computed here in numpy (the same
sums as latent_map.js toPixel, and map_draw.js's dense squares: a later dot covers an earlier one); the dot a hover
names is checked against a brute-force search over all million dots; hiding a class in the legend must take every
pixel of its colour off the map. No server: the map's data is what latent_map.map_data builds.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from benchmarks import browser_harness as h
from benchmarks import million_points as mp
from pages.common import latent_map
from test_browser import artifacts, browser_ready  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COUNT = 1_000_000
HIT_PIXELS = 6  # pages/common/map_index.js HIT_PIXELS
DENSE_SIDE = 3  # pages/common/map_draw.js DENSE_SIDE (CSS pixels)
HIDDEN_CLASS = 3
SAMPLED_DOTS = 400
HOVERS = 40
MAP = "window.mapElement.__latentMap"
KEY_STRIDE = 1_000_003  # a square's corner (column, row) as one number: column * KEY_STRIDE + row


@pytest.fixture(scope="module")
def million():
    """The synthetic points, their labels and their map data (the legend hides classes in the page)."""
    points, labels = mp.synthetic_points(COUNT, seed=7)
    data = {**mp.map_payload(points, labels, decoder=None), "legend_local": True}
    return points, labels, data


@pytest.fixture(scope="module")
def drawn(browser_ready, million, artifacts):
    """One page with the million-point map drawn (module-wide: the tests run in order on it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = h.launch_browser(playwright)
        page = h.new_page(browser)
        page.set_default_timeout(mp.FIRST_DRAW_TIMEOUT_MS)
        try:
            mp.mount(page, latent_map.component_js(), million[2])
            yield page
        finally:
            page.screenshot(path=str(artifacts / "e2e-million.png"))
            browser.close()


def geometry(page) -> dict:
    return page.evaluate(f"() => {MAP}.describe({{dots: false}})")


def dot_pixels(state: dict, points: np.ndarray) -> np.ndarray:
    """(N, 2) float32 CSS pixels of the dots in the canvas, summed as toPixel does (float64, then float32)."""
    (x0, x1), (y0, y1) = state["x_range"], state["y_range"]
    left, top = state["left"] - state["canvas"]["left"], state["top"] - state["canvas"]["top"]
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    return np.stack([left + (x - x0) / (x1 - x0) * state["width"], top + (y1 - y) / (y1 - y0) * state["height"]],
                    axis=1).astype(np.float32)


def rgb(color: str) -> tuple[int, int, int]:
    red, green, blue = (int(v) for v in re.findall(r"\d+", color)[:3])
    return red, green, blue


def expected_colours(state: dict, pixels: np.ndarray, labels: np.ndarray, hidden: set[int],
                     samples: np.ndarray) -> list[int | None]:
    """The class whose colour each sampled device pixel (column, row) must show: the highest-index visible dot
    whose square covers it, or None where no dot does."""
    ratio = state["canvas"]["ratio"]
    side = max(1, round(DENSE_SIDE * ratio))
    corners = np.floor(pixels.astype(np.float64) * ratio - side / 2).astype(np.int64)  # each square's first column, row
    visible = ~np.isin(labels, list(hidden))
    top_dot = {}  # square corner key -> the highest visible index there, for the sampled neighbourhoods only
    wanted = {(int(c) - dc, int(r) - dr) for c, r in samples for dc in range(side) for dr in range(side)}
    keys = corners[:, 0] * KEY_STRIDE + corners[:, 1]
    wanted_keys = np.array([c * KEY_STRIDE + r for c, r in wanted])
    hit = visible & np.isin(keys, wanted_keys)
    for i in np.flatnonzero(hit):  # ascending: the last (highest index) wins
        top_dot[int(keys[i])] = int(i)
    out = []
    for c, r in samples:
        covering = [top_dot.get((int(c) - dc) * KEY_STRIDE + int(r) - dr, -1) for dc in range(side) for dr in range(side)]
        best = max(covering)
        out.append(None if best < 0 else int(labels[best]))
    return out


def canvas_pixels(page, samples: np.ndarray) -> list[tuple[int, int, int]]:
    """The base canvas's RGB at device pixels (column, row)."""
    return [tuple(p) for p in page.evaluate(f"""samples => {{
        const canvas = {MAP}.canvas, image = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        return samples.map(([c, r]) => Array.from(image.data.slice(4 * (r * canvas.width + c), 4 * (r * canvas.width + c) + 3)));
    }}""", samples.tolist())]


def sampled_dot_pixels(state: dict, pixels: np.ndarray, labels: np.ndarray, rng) -> np.ndarray:
    """Device pixels at the centres of random dots well inside the plot."""
    ratio = state["canvas"]["ratio"]
    left, top = state["left"] - state["canvas"]["left"], state["top"] - state["canvas"]["top"]
    inside = ((pixels[:, 0] > left + 4) & (pixels[:, 0] < left + state["width"] - 4)
              & (pixels[:, 1] > top + 4) & (pixels[:, 1] < top + state["height"] - 4))
    chosen = rng.choice(np.flatnonzero(inside), SAMPLED_DOTS, replace=False)
    return np.floor(pixels[chosen].astype(np.float64) * ratio).astype(np.int64)


def check_drawn(page, state, points, labels, hidden: set[int], seed: int) -> None:
    pixels = dot_pixels(state, points)
    samples = sampled_dot_pixels(state, pixels, labels, np.random.default_rng(seed))
    expected = expected_colours(state, pixels, labels, hidden, samples)
    colours = [rgb(c) for c in mp.map_payload(points[:1], labels[:1], None)["colors"]]
    seen = canvas_pixels(page, samples)
    wrong = [(tuple(s), want, got) for s, want, got in zip(samples, expected, seen)
             if want is not None and got != colours[want]]
    assert sum(want is not None for want in expected) > SAMPLED_DOTS // 2
    assert not wrong, f"{len(wrong)} of {len(samples)} sampled pixels are not their dot's class colour: {wrong[:5]}"


def colour_count(page, colour: tuple[int, int, int]) -> int:
    """How many pixels of the base canvas have exactly this RGB."""
    return page.evaluate(f"""([r, g, b]) => {{
        const canvas = {MAP}.canvas, data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let k = 0; k < data.length; k += 4) if (data[k] === r && data[k + 1] === g && data[k + 2] === b) n++;
        return n;
    }}""", list(colour))


def hovered_index(page, x: int, y: int) -> int | None:
    """Move the mouse to page pixel (x, y); the test image the map's tip names, or None (an empty spot)."""
    page.mouse.move(x, y)
    text = page.locator(".latent-map-tip").text_content()
    found = re.match(r"Image #(\d+) ", text or "")
    return int(found.group(1)) if found else None


def brute_force_nearest(state: dict, pixels: np.ndarray, labels: np.ndarray, hidden: set[int], x: int, y: int):
    """The visible dot nearest the mouse within HIT_PIXELS, searching all of them (ties: the lower index)."""
    mx, my = x - state["canvas"]["left"], y - state["canvas"]["top"]
    distance = (pixels[:, 0].astype(np.float64) - mx) ** 2 + (pixels[:, 1].astype(np.float64) - my) ** 2
    distance[np.isin(labels, list(hidden))] = np.inf
    best = int(np.argmin(distance))
    return best if distance[best] <= HIT_PIXELS ** 2 else None


def check_hovers(page, state, points, labels, hidden: set[int], seed: int) -> None:
    pixels, rng = dot_pixels(state, points), np.random.default_rng(seed)
    found = []
    for _ in range(HOVERS):
        x = int(round(state["left"] + rng.uniform(0.05, 0.95) * state["width"]))
        y = int(round(state["top"] + rng.uniform(0.05, 0.95) * state["height"]))
        found.append((hovered_index(page, x, y), brute_force_nearest(state, pixels, labels, hidden, x, y)))
    assert sum(want is not None for _, want in found) >= HOVERS // 4  # most spots land near some dot
    assert [got for got, _ in found] == [want for _, want in found]


def test_a_million_dots_are_drawn_in_their_class_colours(drawn, million):
    points, labels, _ = million
    state = geometry(drawn)
    assert state["count"] == COUNT and state["drawn"] >= 1
    check_drawn(drawn, state, points, labels, set(), seed=1)


def test_hovering_a_million_dots_finds_the_nearest_as_a_brute_force_search(drawn, million):
    points, labels, _ = million
    check_hovers(drawn, geometry(drawn), points, labels, set(), seed=2)


def test_hiding_a_class_takes_its_pixels_off_the_map_and_out_of_hover(drawn, million):
    points, labels, data = million
    colour = rgb(data["colors"][HIDDEN_CLASS])
    assert colour_count(drawn, colour) > 1000
    drawn.locator(f".latent-map-legend-item[data-label='{HIDDEN_CLASS}']").click()
    drawn.wait_for_function(f"c => {MAP}.describe({{dots: false}}).hidden.includes(c)", arg=HIDDEN_CLASS)
    assert colour_count(drawn, colour) == 0
    state = geometry(drawn)
    check_drawn(drawn, state, points, labels, {HIDDEN_CLASS}, seed=3)
    check_hovers(drawn, state, points, labels, {HIDDEN_CLASS}, seed=4)


def ring_alpha(page, centres: np.ndarray) -> list[int]:
    """The overlay's largest alpha in a 3 x 3 device-pixel patch at each (column, row)."""
    return page.evaluate(f"""centres => {{
        const canvas = {MAP}.overlay, data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        return centres.map(([c, r]) => {{
            let most = 0;
            for (let dc = -1; dc <= 1; dc++) for (let dr = -1; dr <= 1; dr++) most = Math.max(most, data[4 * ((r + dr) * canvas.width + c + dc) + 3]);
            return most;
        }});
    }}""", centres.tolist())


def test_selected_dots_keep_their_rings_over_a_million_and_lose_them_when_hidden(drawn, million):
    """After the previous test: HIDDEN_CLASS is hidden. Far-apart dots are selected; the visible ones get a ring,
    through later overlay redraws (a dragged cross redraws it every frame), the hidden ones none until shown again."""
    points, labels, data = million
    state = geometry(drawn)
    pixels, rng = dot_pixels(state, points), np.random.default_rng(5)
    marker = dot_pixels(state, np.zeros((1, 2), np.float32))[0]
    chosen: list[int] = []
    for i in rng.permutation(COUNT)[:20_000]:
        inside = (state["left"] + 20 < pixels[i, 0] + state["canvas"]["left"] < state["left"] + state["width"] - 20
                  and state["top"] + 20 < pixels[i, 1] + state["canvas"]["top"] < state["top"] + state["height"] - 20)
        far = all(np.hypot(*(pixels[i] - pixels[j])) > 20 for j in chosen) and np.hypot(*(pixels[i] - marker)) > 30
        if inside and far:
            chosen.append(int(i))
        if len(chosen) == 60:
            break
    indices = np.sort(np.array(chosen, "<u4"))
    encoded = latent_map.base64.b64encode(indices.tobytes()).decode("ascii")
    drawn.evaluate(f"s => {MAP}.update({{...window.mapData, points: {{token: window.mapData.points.token,"
                   f" count: window.mapData.points.count}}, selectable: true, selection: {{indices: s}}}})", encoded)
    drawn.evaluate(f"() => {{ {MAP}.redrawOverlay(); {MAP}.redrawOverlay(); }}")
    ratio = state["canvas"]["ratio"]
    right_of = np.floor((pixels[indices] + np.array([5.0, 0.0], np.float32)) * ratio).astype(int)  # RING_RADIUS
    alphas = ring_alpha(drawn, right_of)
    hidden = labels[indices] == HIDDEN_CLASS
    assert hidden.any() and (~hidden).any()
    assert all(alpha > 100 for alpha, gone in zip(alphas, hidden) if not gone)
    assert all(alpha == 0 for alpha, gone in zip(alphas, hidden) if gone)
    drawn.locator(f".latent-map-legend-item[data-label='{HIDDEN_CLASS}']").click()  # shown again: ringed again
    drawn.wait_for_function(f"c => !{MAP}.describe({{dots: false}}).hidden.includes(c)", arg=HIDDEN_CLASS)
    assert all(alpha > 100 for alpha in ring_alpha(drawn, right_of))
