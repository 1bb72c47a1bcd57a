"""The README's pictures of colour: the shapes set, factor by factor, and the Latent space map of the bundled colour model.

    python benchmarks/figures.py [--skip-map]

Writes ``benchmarks/figures/shapes-set.png`` (drawn with vae.data.shapes and PIL: one row per factor,
that factor stepping through its values while the others stay fixed, then a row of random images) and
``benchmarks/figures/colour-map.png`` (a screenshot, in headless Chromium through the browser harness,
of the Latent space map of ``checkpoints/shapes32-conv-rgb.pt`` with its decoded pictures behind the dots).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # allow `python benchmarks/figures.py`

from benchmarks import browser_harness as h  # noqa: E402
from vae.data.shapes import FACTOR_SIZES, make_shapes, render_shapes  # noqa: E402
from vae.images import enlarge, tile, to_uint8  # noqa: E402

FIGURES = Path(__file__).resolve().parent / "figures"
SIDE = 64  # pixels of each shape in the figure
SCALE = 2  # whole-pixel enlargement of the shapes figure
BASE_FACTORS = (3, 1, 2, 0, 3, 4)  # star, yellow, third size, unturned, near the middle
COLOUR_MODEL = "shapes32-conv-rgb"


def shapes_figure() -> Path:
    """One row per factor (its values left to right, the rest at BASE_FACTORS), then 8 random shapes."""
    columns = max(FACTOR_SIZES)
    rows = []
    for factor, size in enumerate(FACTOR_SIZES):
        table = np.tile(np.array(BASE_FACTORS), (columns, 1))
        table[:, factor] = np.minimum(np.arange(columns), size - 1)
        images = render_shapes(table, SIDE)
        images[size:] = 1.0  # a factor with fewer values leaves the rest of its row blank (white)
        rows.append(images)
    rows.append(make_shapes(columns, SIDE, seed=7).images)
    picture = to_uint8(enlarge(tile(np.stack(rows), padding=2), SCALE))
    target = FIGURES / "shapes-set.png"
    Image.fromarray(picture).save(target)
    return target


def colour_map_figure() -> Path:
    """The Latent space map of the bundled colour model, decoded pictures behind the dots, as a user sees it."""
    from playwright.sync_api import sync_playwright

    target = FIGURES / "colour-map.png"
    with tempfile.TemporaryDirectory() as scratch:
        server = h.start_server(h.ROOT / "checkpoints", Path(scratch) / "server.log")
        try:
            h.wait_healthy(server)
            with sync_playwright() as playwright:
                browser = h.launch_browser(playwright)
                try:
                    page = h.new_page(browser)
                    h.open_app(page, f"{server.url}?model={COLOUR_MODEL}&bg=1")
                    h.wait_for_scatter(page)
                    h.wait_idle(page, h.PAGE_TIMEOUT_MS)
                    page.wait_for_timeout(1000)  # the background picture is drawn after the dots
                    h.keyed(page, h.EXPLORE_CHART).screenshot(path=str(target))
                finally:
                    browser.close()
        finally:
            h.stop_server(server)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-map", action="store_true", help="only the shapes figure (no browser)")
    args = parser.parse_args()
    FIGURES.mkdir(exist_ok=True)
    print(f"wrote {shapes_figure()}")
    if not args.skip_map:
        print(f"wrote {colour_map_figure()}")


if __name__ == "__main__":
    main()
