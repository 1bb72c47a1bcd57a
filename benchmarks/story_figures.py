"""The README's pictures of the story views, taken in a real browser: the Compare page with a hovered test image
ringed on both maps, "Several models at once" on the latent-size set, and the presenter tour on a projector.

    python benchmarks/story_figures.py [--sizes FOLDER] [--out benchmarks/figures]

FOLDER holds the set benchmarks/latent_sizes.sh trains (default: checkpoints/); the server reads a
temporary copy of the bundled models plus that set, so checkpoints/ is never touched. Writes
compare.png, latent-sizes.png and tour.png. Uses the browser harness of the e2e tests.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import browser_harness as h  # noqa: E402
from benchmarks import live_harness as lh  # noqa: E402

MAP_A, MAP_B = "compare_map_a", "compare_map_b"
SIZES = (2, 5, 10, 20, 40)  # benchmarks/latent_sizes.sh
PROJECTOR = {"width": 1600, "height": 900}  # a projector's 16:9
PAGE_WIDTH = 1400
TALL = 3400  # tall enough for the whole Compare page (Streamlit scrolls an inner container)
MARGIN = 12  # pixels around a clipped picture
FIGURES = ("compare.png", "latent-sizes.png", "tour.png")
MAX_BYTES = 300_000  # a README picture stays under this
COLOURS = 256  # a palette PNG: screenshots of flat UI lose nothing visible


def model_folder(sizes: Path, target: Path) -> None:
    """The bundled models and the latent-size set, copied into ``target``."""
    files = [*(h.ROOT / "checkpoints").glob("*.pt"), *(h.ROOT / "checkpoints").glob("*.codes.npz")]
    for size in SIZES:
        files += [sizes / f"mnist5k-sizes-z{size}.pt", sizes / f"mnist5k-sizes-z{size}.codes.npz"]
    for path in files:
        if path.is_file():
            shutil.copy2(path, target / path.name)
    missing = [size for size in SIZES if not (target / f"mnist5k-sizes-z{size}.pt").is_file()]
    if missing:
        print(f"warning: no model of latent size {missing} in {sizes}: run bash benchmarks/latent_sizes.sh first")


def shrink(path: Path) -> None:
    """Rewrite a screenshot as an optimised palette PNG (a few times smaller); warn if still over MAX_BYTES."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    if path.stat().st_size > MAX_BYTES:
        print(f"warning: {path.name} is {path.stat().st_size} bytes, over {MAX_BYTES}")


def clip_of(page, top_locator, bottom_locator) -> dict:
    """The page region from the top of one element to the bottom of another, the page's width."""
    top, bottom = top_locator.bounding_box(), bottom_locator.bounding_box()
    y = max(0.0, top["y"] - MARGIN)
    return {"x": 0, "y": y, "width": PAGE_WIDTH, "height": bottom["y"] + bottom["height"] + MARGIN - y}


def compare_figures(browser, url: str, out: Path) -> None:
    """compare.png (a dot hovered on map A, ringed on map B) and latent-sizes.png (the section below)."""
    page = browser.new_page(viewport={"width": PAGE_WIDTH, "height": TALL})
    page.set_default_timeout(h.ACTION_TIMEOUT_MS)
    h.open_app(page, f"{url}compare")
    for key in (MAP_A, MAP_B):
        h.wait_for_scatter(page, key)
        lh.wait_live_ready(page, key)
    page.locator('[data-testid="stImage"]').last.wait_for(timeout=h.PAGE_TIMEOUT_MS)  # the rows of pictures
    h.wait_idle(page)
    dot = h.isolated_dots(page, 12, MAP_A)[-1]
    lh.hover(page, dot["x"], dot["y"], MAP_A)
    page.wait_for_function(f"() => document.querySelector('.st-key-{MAP_B} .latent-map').parentElement"
                           f".__latentMap.describeLink().index === {dot['index']}")
    heading = page.locator('[data-testid="stMain"] h1').first
    metrics = page.get_by_text("ELBO and NLL in nats per image")  # the caption under the table of numbers
    page.screenshot(path=str(out / "compare.png"), clip=clip_of(page, heading, metrics))
    section = page.get_by_role("heading", name="Several models at once")
    page.screenshot(path=str(out / "latent-sizes.png"),
                    clip=clip_of(page, section, page.locator('[data-testid="stImage"]').last))
    page.close()


def tour_figure(browser, url: str, out: Path) -> None:
    """tour.png: the hover step as a projector shows it, the picture following the mouse."""
    page = browser.new_page(viewport=PROJECTOR)
    page.set_default_timeout(h.ACTION_TIMEOUT_MS)
    h.open_app(page, f"{url}tour?model=mnist5k-conv-2d&step=3")
    h.wait_for_scatter(page, "tour_map")
    lh.wait_live_ready(page, "tour_map")
    h.wait_idle(page)
    lh.hover(page, *h.empty_spots(page, 6, "tour_map")[3], "tour_map")
    page.screenshot(path=str(out / "tour.png"))
    page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=Path, default=h.ROOT / "checkpoints")
    parser.add_argument("--out", type=Path, default=h.ROOT / "benchmarks" / "figures")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        model_folder(args.sizes, Path(folder))
        server = h.start_server(Path(folder), Path(folder) / "streamlit.log")
        try:
            h.wait_healthy(server)
            with sync_playwright() as playwright:
                browser = h.launch_browser(playwright)
                compare_figures(browser, server.url, args.out)
                tour_figure(browser, server.url, args.out)
                browser.close()
            for name in FIGURES:
                shrink(args.out / name)
        finally:
            h.stop_server(server)
    print(f"wrote {', '.join(FIGURES)} in {args.out}")


if __name__ == "__main__":
    main()
