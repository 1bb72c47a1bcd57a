"""The live map's figures for benchmarks/app_speed.py: hover -> pixels, slider-drag frames, decoder payload bytes.

Measured inside the page (pages/common/map_live.js keeps them in ``map.timings``), for each input:
"input -> pixels", from the input event's timestamp to the decoded picture's pixels painted on its canvas
(the next display frame shows them); "handler -> pixels", from the moment the page's handler got the event
(Chromium holds mouse moves until its next frame: up to 16.7 ms at 60 Hz, for any page); "input -> frame",
to the start of the display frame that shows them. Each move waits for its picture before the next, so
every figure is one input's own latency. Models:
MLP-20 (the classic-mlp preset, 784-400-20; an untrained, seeded checkpoint built in the temporary folder:
the timing does not depend on training), the bundled 16-D MLP through its PCA plane, and the bundled conv-2d.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from benchmarks import browser_harness as h  # noqa: E402
from benchmarks import live_harness as lh  # noqa: E402

MLP20 = "bench-classic-mlp-20"
HOVER_MODELS = {"MLP-20 (classic-mlp)": MLP20, "MLP-16 bundled, PCA plane": "mnist5k-mlp-16d",
                "conv-2d bundled": "mnist5k-conv-2d"}
SLIDER_MODEL = "mnist5k-conv-2d"
PATH_COLUMNS = 20  # the hover path: a snake over a lattice inside the plot, this many spots per row
LIVE_KINDS = ("input -> pixels", "handler -> pixels", "input -> frame")
_MAP = "document.querySelector('.st-key-explore_scatter .latent-map').parentElement.__latentMap"


def build_mlp20(checkpoints: Path) -> None:
    """A classic-mlp (784-400-20) checkpoint on mnist-5k, untrained and seeded, in ``checkpoints``."""
    import vae
    from vae.models import build_model

    model = build_model(vae.PRESETS["classic-mlp"], seed=0)
    vae.save_checkpoint(checkpoints / f"{MLP20}.pt", model, dataset="mnist-5k",
                        class_names=[str(digit) for digit in range(10)])


def payload_bytes(checkpoints: Path) -> dict:
    """Per model: the decoder's float32 weights, as base64, and the whole JSON payload the page receives once."""
    import vae
    from vae.io.web import export_decoder

    figures = {}
    for label, name in HOVER_MODELS.items():
        decoder = export_decoder(vae.load_model(checkpoints / f"{name}.pt"))
        payload = decoder.payload()
        figures[label] = {"weights": int(decoder.weights.nbytes), "base64": len(payload["weights"]),
                          "json": len(json.dumps(payload))}
    return figures


def hover_path(page, moves: int) -> list[tuple[float, float]]:
    """``moves`` plane points in a snake over the plot (rows of PATH_COLUMNS), inside its border."""
    state = h.map_state(page)
    (x0, x1), (y0, y1) = state["x_range"], state["y_range"]
    rows = -(-moves // PATH_COLUMNS)
    points = []
    for row in range(rows):
        columns = range(PATH_COLUMNS) if row % 2 == 0 else reversed(range(PATH_COLUMNS))
        for column in columns:
            points.append((x0 + (x1 - x0) * (column + 1) / (PATH_COLUMNS + 1), y1 - (y1 - y0) * (row + 1) / (rows + 1)))
    return points[:moves]


def open_live(page, url: str) -> None:
    h.open_app(page, url)
    h.wait_for_scatter(page)
    h.wait_idle(page)
    lh.wait_live_ready(page)


def hover_latencies(browser, url: str, moves: int) -> list[list]:
    """[input -> pixels, handler -> pixels, input -> frame] ms of each of ``moves`` mouse moves over the map."""
    page = h.new_page(browser)
    try:
        open_live(page, url)
        for x, y in hover_path(page, 20):  # warm-up: the JIT compiles the decode loops
            lh.hover(page, x, y)
        page.evaluate(f"() => {{ {_MAP}.timings.latencies = []; }}")
        lh.watch_reruns(page)
        for x, y in hover_path(page, moves):
            lh.hover(page, x, y)
        assert lh.reruns(page) == 0, "hovering reran the app"
        return sources(page, "hover")
    finally:
        page.context.close()


def slider_drag_latencies(browser, url: str, moves: int) -> list[list]:
    """[input -> pixels, handler -> pixels, input -> frame] ms of each move of a latent slider's thumb (mouse down)."""
    page = h.new_page(browser)
    try:
        open_live(page, url)
        slider = lh.map_slider(page, 0)
        box = slider.bounding_box()
        y = box["y"] + box["height"] / 2
        low, high = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
        to_x = lambda share: box["x"] + 8 + share * (box["width"] - 16)  # noqa: E731 - Chromium's 16 px thumb
        page.mouse.move(to_x(-low / (high - low)), y)
        page.mouse.down()
        page.evaluate(f"() => {{ {_MAP}.timings.latencies = []; }}")
        for move in range(moves):  # back and forth over the track, a few pixels a move
            share = (move % 100) / 100 if (move // 100) % 2 == 0 else 1 - (move % 100) / 100
            frames = lh.live(page)["frames"]
            page.mouse.move(to_x(share), y)
            lh.wait_frame(page, frames)
        page.mouse.up()
        return sources(page, "slider")
    finally:
        page.context.close()


def sources(page, source: str) -> list[list]:
    """[input -> pixels, handler -> pixels, input -> frame] ms of the map's recorded inputs of one kind."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    return [entry[1:] for entry in lh.timings(page) if entry[0] == source and entry[3] is not None]


def measure_live(browser, server, checkpoints: Path, moves: int, summary, results: dict) -> None:
    """Hover per model, slider drag, payload bytes: into ``results`` (summaries) and results["raw_ms"]."""
    raw = results.setdefault("raw_ms", {})
    results["live_payload_bytes"] = payload_bytes(checkpoints)
    runs = {f"Hover, {label}": hover_latencies(browser, f"{server.url}?model={name}", moves)
            for label, name in HOVER_MODELS.items()}
    runs[f"Slider drag, {SLIDER_MODEL}"] = slider_drag_latencies(browser, f"{server.url}?model={SLIDER_MODEL}", moves)
    results["live_ms"] = {}
    for label, rows in runs.items():
        results["live_ms"][label] = {}
        for column, kind in enumerate(LIVE_KINDS):
            raw[f"{label}, {kind}"] = [row[column] for row in rows]
            results["live_ms"][label][kind] = summary(raw[f"{label}, {kind}"])


def print_live(results: dict, hover_target_ms: float) -> None:
    """The live rows of the report."""
    if "live_ms" not in results:
        return
    print(f"\n{'live map (ms, in page)':60} {'n':>4} {'p50':>7} {'p95':>7} {'max':>7} {'target p95':>11}")
    for label, figures in results["live_ms"].items():
        for kind in LIVE_KINDS:
            row = figures[kind]
            target = f"<= {hover_target_ms:g}" if kind != "input -> frame" else ""
            if row.get("n"):
                print(f"{label + ': ' + kind:60} {row['n']:>4} {row['p50']:>7.1f} {row['p95']:>7.1f} "
                      f"{row['max']:>7.1f} {target:>11}")
    print(f"\n{'decoder sent once per model (bytes)':48} {'weights':>10} {'base64':>10} {'JSON':>10}")
    for label, sizes in results["live_payload_bytes"].items():
        print(f"{label:48} {sizes['weights']:>10,} {sizes['base64']:>10,} {sizes['json']:>10,}")
