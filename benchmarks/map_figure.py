"""The README's picture of the research map: the bundled conv-2d model with every test picture's uncertainty ellipse,
the shading of where its codes are, the prior's rings and the holes, and one clicked picture's ellipse.

    python benchmarks/map_figure.py [--out benchmarks/figures/map-uncertainty-holes.png] [--model mnist5k-conv-2d]

Starts `streamlit run app.py` on a copy of checkpoints/ (benchmarks/browser_harness.py), drives headless Chromium
as a user would (tick the ellipses, shade "Both", click a picture) and saves the map at twice the screen's pixels,
reduced to a palette of PALETTE_COLOURS colours so that the README's picture stays small (about 130 KB).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # allow `python benchmarks/map_figure.py`

from playwright.sync_api import Page  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from benchmarks import browser_harness as h  # noqa: E402
from benchmarks import live_harness as lh  # noqa: E402
from vae.files import write_atomically  # noqa: E402

PIXEL_RATIO = 2  # device pixels per CSS pixel: a sharp picture on a README
VIEWPORT = {"width": 1500, "height": 1400}  # wide: the map beside its picture and legend
PALETTE_COLOURS = 256  # colours kept in the saved PNG: the class colours survive, the file shrinks about 3 times
CLICKED_SHARE = (0.62, 0.38)
TRIES = 3  # each switch and the click are tried this often before the script gives up
STEP_TIMEOUT_MS = 60_000  # how long one try waits for the map to show its effect
MAP = "document.querySelector('.st-key-explore_scatter .latent-map').parentElement.__latentMap"  # the clicked picture: the dot nearest this share of the plot across and down


def make_figure(out: Path, model: str) -> None:
    """Save the map with ellipses, shading, rings and holes as ``out`` (PNG)."""
    figure_in_browser(out, model, draw)


def figure_in_browser(out: Path, model: str, drawing: Callable[[Page, str, Path], None], query: str = "") -> None:
    """Serve a copy of ``model``'s files, open its Latent space page (``?model=...`` plus ``query``) in headless
    Chromium at the figure's size, and let ``drawing(page, url, out)`` set the view up and save it."""
    with tempfile.TemporaryDirectory() as folder:
        for path in (ROOT / "checkpoints").glob(f"{model}.*"):
            shutil.copy2(path, Path(folder) / path.name)
        server = h.start_server(Path(folder), Path(folder) / "streamlit.log")
        try:
            h.wait_healthy(server)
            with sync_playwright() as playwright:
                browser = h.launch_browser(playwright)
                context = browser.new_context(viewport=VIEWPORT, device_scale_factor=PIXEL_RATIO)
                page = context.new_page()
                page.set_default_timeout(h.ACTION_TIMEOUT_MS)
                drawing(page, f"{server.url}?model={model}{query}", out)
                browser.close()
        finally:
            h.stop_server(server)


def draw(page, url: str, out: Path) -> None:
    """Open the map, switch the layers on, click a picture, save the map element."""
    h.open_app(page, url)
    h.wait_for_scatter(page)
    h.wait_decoded_shown(page)
    lh.wait_live_ready(page)  # the points and the decoder have arrived: the dots can be found and clicked
    until(page, lambda: h.keyed(page, "explore_ellipses").locator("label").click(), "layers.ellipses > 0")
    until(page, lambda: h.keyed(page, "explore_density").get_by_text("Both", exact=True).click(),
          "layers.density && layers.prior === 2")
    until(page, lambda: click_dot(page), "layers.picked_ellipse !== null")
    page.mouse.move(0, 0)  # no tooltip in the picture
    h.wait_idle(page)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_small(page.locator(".st-key-explore_scatter .latent-map").screenshot(), out)
    print(f"saved {out} ({out.stat().st_size // 1024} KB)")


def until(page, act, condition: str) -> None:
    """Do ``act`` until the map's describe() meets ``condition`` (JavaScript over ``layers``); a click that lands
    during a rerun is lost, so each try waits STEP_TIMEOUT_MS and the last one raises."""
    for attempt in range(TRIES):
        h.wait_idle(page)
        act()
        try:
            page.wait_for_function(f"() => {{ const layers = {MAP}.describe().layers; return Boolean({condition}); }}",
                                   timeout=STEP_TIMEOUT_MS)
            h.wait_idle(page)
            return
        except PlaywrightTimeout:
            if attempt == TRIES - 1:
                raise


def click_dot(page) -> None:
    """Click the test picture nearest CLICKED_SHARE of the plot (one a click surely reports)."""
    state = h.map_state(page)
    target = (state["left"] + CLICKED_SHARE[0] * state["width"], state["top"] + CLICKED_SHARE[1] * state["height"])
    dot = min(h.isolated_dots(page, 200), key=lambda d: sum((a - b) ** 2 for a, b in
                                                          zip(h.plane_to_page(page, d["x"], d["y"]), target)))
    h.click_plane(page, dot["x"], dot["y"])


def save_small(png: bytes, out: Path) -> None:
    """Write the screenshot ``png`` as a palette PNG (octree colours, no dithering: the dots keep flat colours)."""
    import io

    from PIL import Image

    picture = Image.open(io.BytesIO(png)).convert("RGB")
    small = picture.quantize(colors=PALETTE_COLOURS, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    write_atomically(out, lambda handle: small.save(handle, format="PNG", optimize=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "figures" / "map-uncertainty-holes.png")
    parser.add_argument("--model", default="mnist5k-conv-2d")
    arguments = parser.parse_args()
    make_figure(arguments.out, arguments.model)


if __name__ == "__main__":
    main()
