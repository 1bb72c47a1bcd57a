"""The latent map at 1,000, 70,000 and 1,000,000 points in a real browser: first draw, hover and click, before and after.

The real map component (pages/common/latent_map.py component_js) is mounted outside Streamlit on synthetic 2-D
codes (ten Gaussian blobs, one per class) with a real 2-D decoder (an untrained classic MLP: the same work per
picture as a trained one), as a saved web page mounts it. For each size it times, inside the page:
  - the first draw: from the mount call, with the data already parsed as Streamlit hands it over, to the
    base layer drawn (base64 decoding, the pixel index, the dots) and the next animation frame;
  - a hover: the map's handler (dot found, tip placed; from a capture listener before it to one after it), the
    same from the event's timestamp (Chromium holds mouse moves for the next frame: up to 16.7 ms more), and from
    the event to the decoded picture painted (map_live.js timings);
  - a click: the map's click handler (dot found, cross drawn on the overlay, event sent);
  - hiding a class in the legend (legend_local, as the saved page and Interpolate do): the dots drawn again.
In Python: latent_map.map_data the first time, and on a later run of the page (equal arrays), best of 3.
"before" is the map's JavaScript at --before (git archive of that commit's pages/), "after" the working tree's.
The 70,000-point case through the real app is benchmarks/app_speed.py --big-points 70000.

Run: python benchmarks/million_points.py [--sizes 1000 70000 1000000] [--before fdbca3d] [--hovers 150]
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]  # also run as `python benchmarks/million_points.py`

from benchmarks import browser_harness as h  # noqa: E402
BASE_COMMIT = "fdbca3d"  # the map before the million-point drawing and index (shapes per dot, string-keyed buckets)
SIZES = (1_000, 70_000, 1_000_000)
CLASSES = 10
SPREAD = 0.6  # each blob's standard deviation, plane units (blob centres on a circle of radius 3)
FIRST_DRAW_TIMEOUT_MS = 600_000  # the old map at a million dots on a loaded 2-core machine
MAP_WIDTH_PIXELS = 900

MOUNT_JS = """async (source) => {  // the data: window.mapData
    const module = await import(URL.createObjectURL(new Blob([source], {type: 'text/javascript'})));
    const parentElement = document.createElement('div');
    parentElement.style.width = '%dpx';
    document.body.appendChild(parentElement);
    window.sent = [];
    const started = performance.now();
    module.default({parentElement, data: window.mapData, setTriggerValue: (event, value) => window.sent.push([event, value])});
    window.mapElement = parentElement;
    await new Promise((done) => {
        const check = () => (Number((parentElement.querySelector('.latent-map') || {dataset: {}}).dataset.drawn) > 0
                             ? requestAnimationFrame(done) : requestAnimationFrame(check));
        check();
    });
    const map = parentElement.__latentMap;
    // [the map's own handling, event -> handled]: a window capture listener runs before the map's listeners,
    // these on the overlay run after them (added later)
    window.handled = {pointermove: [], click: []};
    let start = 0;
    for (const type of ['pointermove', 'click']) {
        window.addEventListener(type, () => { start = performance.now(); }, true);
        map.overlay.addEventListener(type, (event) => {
            const now = performance.now();
            window.handled[type].push([now - start, now - event.timeStamp]);
        });
    }
    return performance.now() - started;
}""" % MAP_WIDTH_PIXELS


def synthetic_points(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(count, 2) float32 codes in CLASSES Gaussian blobs and their (count,) class numbers."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, count)
    angles = 2 * np.pi * np.arange(CLASSES) / CLASSES
    centres = 3.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return (centres[labels] + rng.normal(scale=SPREAD, size=(count, 2))).astype(np.float32), labels


def map_payload(points: np.ndarray, labels: np.ndarray, decoder: dict | None, hidden: tuple[int, ...] = ()) -> dict:
    """The map component's data for ``points`` as the app builds it (latent_map.map_data), with a 2-D live decoder."""
    import vae
    from pages.common import latent_map

    ranges = [vae.plots.axis_range(points[:, d]) for d in range(2)]
    data = latent_map.map_data(points, labels, [f"class {c}" for c in range(CLASSES)], ranges[0], ranges[1],
                               marker=(0.0, 0.0), hidden_classes=hidden)
    if decoder is not None:
        data["live"] = {"decoder": decoder, "lift": vae.lift_payload(vae.dims_projection(2), np.zeros(2)),
                        "ranges": [list(map(float, r)) for r in ranges], "point": [0.0, 0.0], "sliders": None,
                        "caption": None}
    return data


def web_decoder() -> dict:
    """An untrained classic 2-D MLP decoder for 28x28 pictures, as the page runs it."""
    import vae
    from vae.models import build_model

    config = vae.ModelConfig(kind="mlp", image_shape=(28, 28), latent_dim=2, hidden_sizes=(512,))
    return vae.export_decoder(build_model(config, seed=0).eval()).payload()


def component_source(ref: str | None) -> str:
    """The map's joined JavaScript: the working tree's, or commit ``ref``'s (its pages/ unpacked to a temporary folder)."""
    from pages.common import latent_map

    if ref is None:
        return latent_map.component_js()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "pages"], check=True, capture_output=True).stdout
    with tempfile.TemporaryDirectory() as folder:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        return latent_map.component_js(Path(folder) / "pages" / "common" / "latent_map.js")


def mount(page, source: str, data: dict) -> float:
    """Mount the map on a fresh page; the first draw's milliseconds."""
    from pages.common import latent_map

    page.set_content("<!doctype html><html><body style='margin:0'></body></html>")
    page.add_style_tag(content=(Path(latent_map.__file__).parent / "latent_map.css").read_text())
    page.evaluate("text => { window.mapData = JSON.parse(text); }", json.dumps(data))  # parsed, as Streamlit hands it
    return float(page.evaluate(MOUNT_JS, source))


def plot_box(page) -> dict:
    """The plot area in page pixels (the map's describe() without the dot lists, or the whole one before them)."""
    return page.evaluate("""() => { const m = window.mapElement.__latentMap;
        const d = m.describe({dots: false}); return {left: d.left, top: d.top, width: d.width, height: d.height}; }""")


def hover_and_click(page, hovers: int, clicks: int, seed: int = 1) -> dict:
    """Hover ``hovers`` random spots, then click ``clicks``; the in-page milliseconds of each."""
    box, rng = plot_box(page), np.random.default_rng(seed)
    spots = rng.uniform(0.02, 0.98, size=(hovers + clicks, 2))
    next_frame = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
    for sx, sy in spots[:hovers]:
        page.mouse.move(box["left"] + sx * box["width"], box["top"] + sy * box["height"])
        page.evaluate(next_frame)  # the picture painted before the next move
    for sx, sy in spots[hovers:]:
        page.mouse.click(box["left"] + sx * box["width"], box["top"] + sy * box["height"])
        page.evaluate(next_frame)
    handled = page.evaluate("() => window.handled")
    pictures = page.evaluate("() => window.mapElement.__latentMap.timings.latencies"
                             ".filter((entry) => entry[0] === 'hover').map((entry) => entry[1])")
    return {"hover": [own for own, _ in handled["pointermove"]], "hover_event": [w for _, w in handled["pointermove"]],
            "picture": pictures, "click": [own for own, _ in handled["click"]]}


def hide_class_ms(page, label: int = 0) -> float:
    """Milliseconds of one legend click that hides class ``label`` (its handler redraws the dots)."""
    return float(page.evaluate("""label => {
        const button = window.mapElement.querySelector(`.latent-map-legend-item[data-label="${label}"]`);
        const started = performance.now();
        button.click();
        return performance.now() - started;
    }""", label))


def measure(browser, source: str, data: dict, hovers: int, clicks: int) -> dict:
    """First draw, hover, picture and click times of one map on a fresh page."""
    page = h.new_page(browser)
    page.set_default_timeout(FIRST_DRAW_TIMEOUT_MS)
    try:
        first = mount(page, source, data)
        times = hover_and_click(page, hovers, clicks)
        hide = hide_class_ms(page)
    finally:
        page.context.close()
    row = {"first_draw_ms": first, "hide_class_ms": hide}
    for name, values in times.items():
        row[f"{name}_p50_ms"] = h.percentile(values, 50) if values else float("nan")
        row[f"{name}_p95_ms"] = h.percentile(values, 95) if values else float("nan")
    return row


def python_payload_ms(points: np.ndarray, labels: np.ndarray, repeats: int = 3) -> tuple[float, float]:
    """Milliseconds (best of ``repeats``) of latent_map.map_data the first time, and on a later run of the page
    (equal arrays, new objects: latent_map.point_set finds them encoded)."""
    import vae
    from pages.common import latent_map

    ranges, names = [vae.plots.axis_range(points[:, d]) for d in range(2)], [f"class {c}" for c in range(CLASSES)]
    first, later = [], []
    for _ in range(repeats):
        latent_map._encoded.clear()  # as if never seen
        for times, arrays in ((first, (points, labels)), (later, (points.copy(), labels.copy()))):
            started = time.perf_counter()
            latent_map.map_data(*arrays, names, ranges[0], ranges[1], marker=(0.0, 0.0))
            times.append((time.perf_counter() - started) * 1000)
    return min(first), min(later)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="numbers of points")
    parser.add_argument("--before", default=BASE_COMMIT, help="the commit whose map is 'before' ('' to skip it)")
    parser.add_argument("--hovers", type=int, default=150, help="hovered spots per map")
    parser.add_argument("--clicks", type=int, default=30, help="clicked spots per map")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    return parser.parse_args()


def main() -> None:
    from playwright.sync_api import sync_playwright

    args = parse_args()
    versions = [("after", None)] + ([("before", args.before)] if args.before else [])
    sources = {name: component_source(ref) for name, ref in versions}
    decoder, rows = web_decoder(), []
    with sync_playwright() as playwright:
        browser = h.launch_browser(playwright)
        try:
            for count in args.sizes:
                points, labels = synthetic_points(count)
                build_ms, rebuild_ms = python_payload_ms(points, labels)
                data = {**map_payload(points, labels, decoder), "legend_local": True}
                for name, _ in versions:
                    row = {"points": count, "version": name, "python_payload_ms": build_ms, "python_rerun_ms": rebuild_ms,
                           **measure(browser, sources[name], data, args.hovers, args.clicks)}
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
        finally:
            browser.close()
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


def print_table(rows: list[dict]) -> None:
    """The rows as a Markdown table (milliseconds)."""
    columns = ["first_draw_ms", "hover_p50_ms", "hover_p95_ms", "hover_event_p95_ms", "picture_p50_ms", "picture_p95_ms",
               "click_p50_ms", "click_p95_ms", "hide_class_ms", "python_payload_ms", "python_rerun_ms"]
    print("| points | map | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for row in rows:
        print(f"| {row['points']:,} | {row['version']} | " + " | ".join(f"{row[c]:.1f}" for c in columns) + " |")


if __name__ == "__main__":
    main()
