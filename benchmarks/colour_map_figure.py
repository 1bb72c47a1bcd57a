"""The README's picture of a colour model's map: the bundled shapes model with its decoded background and a clicked picture.

    python benchmarks/colour_map_figure.py [--out benchmarks/figures/colour-map.png] [--model shapes32-conv-rgb]

Starts `streamlit run app.py` on a copy of the model's files (benchmarks/browser_harness.py), opens the Latent space
page in headless Chromium with the decoded background switched on by the link (`bg=1`), clicks a test picture and
saves the map at twice the screen's pixels as a palette PNG (map_figure.save_small), so that it stays small.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # allow `python benchmarks/colour_map_figure.py`

from benchmarks import browser_harness as h  # noqa: E402
from benchmarks import live_harness as lh  # noqa: E402
from benchmarks.map_figure import MAP, click_dot, figure_in_browser, save_small  # noqa: E402

BACKGROUND_TIMEOUT_MS = 180_000  # the first background decodes a grid of colour pictures on a busy machine


def make_figure(out: Path, model: str) -> None:
    """Save the map of ``model`` with its decoded background and one clicked picture as ``out`` (PNG)."""
    figure_in_browser(out, model, draw, query="&bg=1")


def draw(page, url: str, out: Path) -> None:
    """Open the map with its background, click a picture, save the map element."""
    h.open_app(page, url, BACKGROUND_TIMEOUT_MS)
    h.wait_for_scatter(page, timeout_ms=BACKGROUND_TIMEOUT_MS)
    page.wait_for_function(f"() => {{ const image = {MAP}.image; return Boolean(image && image.complete); }}",
                           timeout=BACKGROUND_TIMEOUT_MS)
    lh.wait_live_ready(page)  # the points and the decoder have arrived: the dots can be found and clicked
    h.wait_idle(page)
    click_dot(page)  # the picture beside the map is then this test picture's code decoded
    h.wait_idle(page, BACKGROUND_TIMEOUT_MS)
    h.wait_decoded_shown(page, BACKGROUND_TIMEOUT_MS)
    page.mouse.move(0, 0)  # no tooltip in the picture
    h.wait_idle(page)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_small(page.locator(".st-key-explore_scatter .latent-map").screenshot(), out)
    print(f"saved {out} ({out.stat().st_size // 1024} KB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "figures" / "colour-map.png")
    parser.add_argument("--model", default="shapes32-conv-rgb")
    arguments = parser.parse_args()
    make_figure(arguments.out, arguments.model)


if __name__ == "__main__":
    main()
