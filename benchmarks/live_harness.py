"""Real-browser helpers for the live map (pages/common/map_live.js), shared by tests/test_browser_live.py and
benchmarks/app_speed.py: watch for Streamlit reruns, hover and wait for the picture's next frame, read the
live state, touch-drag through the DevTools protocol. Not collected by pytest (no ``test_`` prefix).
"""
from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from benchmarks import browser_harness as h

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

# Counts the runs Streamlit starts from now on: [data-testid="stApp"]'s data-test-script-state leaving "running"
# (a finished run), plus one while a run is going. MutationObserver callbacks come in batches, after a short run
# may have ended already: each record's old value shows every change, however brief.
WATCH_RERUNS_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    window.__runsEnded = 0;
    if (window.__rerunWatch) window.__rerunWatch.disconnect();
    window.__rerunWatch = new MutationObserver((records) => {
        for (const record of records) if (record.oldValue === 'running') window.__runsEnded += 1;
    });
    window.__rerunWatch.observe(app, {attributes: true, attributeOldValue: true,
                                      attributeFilter: ['data-test-script-state']});
}"""
RERUNS_JS = """() => window.__runsEnded + (document.querySelector('[data-testid="stApp"]')
    .getAttribute('data-test-script-state') === 'running' ? 1 : 0)"""
_MAP = "document.querySelector(`.st-key-${key} .latent-map`).parentElement.__latentMap"
_SCRUBBER = "document.querySelector(`.st-key-${key} .latent-scrubber`).parentElement.__latentScrubber"


def watch_reruns(page: Page) -> None:
    """Start counting Streamlit runs (a script or fragment rerun) from now."""
    page.evaluate(WATCH_RERUNS_JS)


def reruns(page: Page) -> int:
    """Runs started since :func:`watch_reruns`."""
    page.evaluate("() => new Promise(requestAnimationFrame)")  # let the observer see this frame's changes
    return int(page.evaluate(RERUNS_JS))


def live(page: Page, chart_key: str = h.EXPLORE_CHART) -> dict:
    """The map's live state: ready, source, code, pixels (H*W floats), x, y, index, frames, pending, picture and
    sliders (map_live.js describeLive)."""
    return page.evaluate(f"key => {_MAP}.describe().live", chart_key)


def wait_live_ready(page: Page, chart_key: str = h.EXPLORE_CHART, timeout_ms: int = h.PAGE_TIMEOUT_MS) -> None:
    """Wait until the map runs its decoder (the weights have arrived) and has painted a picture."""
    page.wait_for_function(f"""key => {{
        const root = document.querySelector(`.st-key-${{key}} .latent-map`);
        const map = root && root.parentElement.__latentMap;
        return Boolean(map && map.live && map.shown);
    }}""", arg=chart_key, timeout=timeout_ms)


def wait_frame(page: Page, frames: int, chart_key: str = h.EXPLORE_CHART) -> dict:
    """Wait until the live picture has drawn more than ``frames`` frames; returns the live state."""
    page.wait_for_function(f"([key, frames]) => {_MAP}.describe().live.frames > frames", arg=[chart_key, frames],
                           timeout=h.ACTION_TIMEOUT_MS)
    return live(page, chart_key)


def hover(page: Page, x: float, y: float, chart_key: str = h.EXPLORE_CHART) -> dict:
    """Move the mouse to the whole pixel of plane point (x, y); the live state once that frame is drawn."""
    frames = live(page, chart_key)["frames"]
    px, py = h.plane_to_page(page, x, y, chart_key)
    page.mouse.move(round(px), round(py))
    return wait_frame(page, frames, chart_key)


def picture(state: dict) -> np.ndarray:
    """The live picture's floats as an (H, W) array."""
    return np.asarray(state["pixels"], np.float32).reshape(state["height"], state["width"])


def canvas_gray(page: Page, chart_key: str = h.EXPLORE_CHART) -> np.ndarray:
    """The grey levels (H, W) painted on the map's picture canvas, read back from the canvas itself."""
    values = page.evaluate(f"""key => {{
        const canvas = {_MAP}.pictureCanvas;
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        return [canvas.height, canvas.width, Array.from(data.filter((_, i) => i % 4 === 0))];
    }}""", chart_key)
    return np.asarray(values[2], np.uint8).reshape(values[0], values[1])


def server_picture(page: Page, side: tuple[int, int]) -> np.ndarray:
    """The server's decoded image on the page, as (H, W) grey levels (its PNG shrunk back by its whole factor)."""
    png = Image.open(io.BytesIO(h.image_bytes(page, h.decoded_src(page)))).convert("L")
    pixels = np.asarray(png)
    scale = pixels.shape[1] // side[1]
    return pixels[::scale, ::scale][: side[0], : side[1]]


def map_slider(page: Page, dim: int) -> Locator:
    """Latent slider ``dim`` inside the map (a range input)."""
    return h.slider_thumb(page, f"explore_z_{dim}")


def drag_locator_thumb(page: Page, slider: Locator, share: float, steps: int = 20) -> None:
    """Press a range input's thumb with the mouse and drag it to ``share`` (0..1) of its track, then let go."""
    box = slider.bounding_box()
    low, high = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
    value = float(slider.input_value())
    y = box["y"] + box["height"] / 2
    thumb = 8  # Chromium's range thumb is 16 px wide: its centre travels from 8 px to width - 8 px
    to_x = lambda s: box["x"] + thumb + s * (box["width"] - 2 * thumb)  # noqa: E731
    page.mouse.move(to_x((value - low) / (high - low)), y)
    page.mouse.down()
    page.mouse.move(to_x(share), y, steps=steps)
    page.mouse.up()


def scrubber(page: Page, chart_key: str = "interp_scrubber") -> dict:
    """Interpolate's scrubber: t, code, pixels, frames, ready."""
    return page.evaluate(f"key => {_SCRUBBER}.describe()", chart_key)


def touch_drag(page: Page, points: list[tuple[float, float]], lift: bool = True) -> None:
    """A finger on the screen: down at the first page pixel, moved through the rest, then lifted (if ``lift``)."""
    session = page.context.new_cdp_session(page)
    try:
        for step, (x, y) in enumerate(points):
            kind = "touchStart" if step == 0 else "touchMove"
            session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y, "id": 1}]})
        if lift:
            session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        session.detach()


def timings(page: Page, chart_key: str = h.EXPLORE_CHART) -> list[list]:
    """Every [source, ms] the map recorded: input event to the live picture's pixels drawn."""
    return page.evaluate(f"key => {_MAP}.timings.latencies", chart_key)
