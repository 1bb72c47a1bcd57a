"""The in-page decoder (pages/decoder.js) in headless Chromium: time per decode and weight payload per model.

    python benchmarks/decoder_speed.py [--points N] [--warmup N] [--json PATH]

For MLP-20 (the classic-mlp preset, random codes), the bundled 16-D MLP through the PCA lift (plane
points spread over its map), the bundled conv-2d, the bundled colour model of the shapes (32x32 RGB,
10-D, through its PCA lift) and the conv-64-rgb preset (64x64 RGB, random codes, untrained: timing does
not depend on the weights): the fastest, p50 and p95 of one decode, and p50
and p95 of one decode painted on a canvas (decodeInto + putImageData), after a warm-up, each timed on
its own with performance.now() in a cross-origin-isolated page (5 us timer, not 100 us). The shipped runtime
keeps activations in Float64Arrays; the "float32 activations" rows run the same code with
Float32Arrays instead, for comparison. Weight payload: raw float32 bytes and as base64 text.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # allow `python benchmarks/decoder_speed.py`

from benchmarks import browser_harness as h  # noqa: E402
from benchmarks.common import machine_load, print_table, write_json  # noqa: E402
from vae.analysis.latent import LatentModel  # noqa: E402
from vae.analysis.projection import pca_projection  # noqa: E402
from vae.io.checkpoints import load_model  # noqa: E402
from vae.io.web import WebDecoder, export_decoder, lift_payload  # noqa: E402
from vae.models import build_model  # noqa: E402
from vae.presets import PRESETS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_16D = ROOT / "checkpoints" / "mnist5k-mlp-16d.pt"
BUNDLED_CONV = ROOT / "checkpoints" / "mnist5k-conv-2d.pt"
BUNDLED_COLOUR = ROOT / "checkpoints" / "shapes32-conv-rgb.pt"
PAGE_URL = "http://localhost:9/decoder-bench"  # never reached: the route below answers it
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}
VARIANTS = {  # row suffix -> how the runtime's source is changed
    "plain JS (shipped, float64 activations)": lambda source: source,
    "plain JS, float32 activations": lambda source: source.replace("new Float64Array(", "new Float32Array("),
}
TIME_IN_PAGE = """async ([payload, lift, points, latentDim, warmup]) => {
  const api = window.webDecoder;
  const decoder = api.createDecoder(payload.header, api.weightsFromBase64(payload.weights));
  const lifter = lift ? api.createLift(lift) : null;
  const values = api.weightsFromBase64(points);
  const stride = lifter ? 2 : latentDim;
  const count = values.length / stride;
  const codeOf = (n) => lifter ? lifter.lift(values[2 * n], values[2 * n + 1])
                               : values.subarray(n * latentDim, (n + 1) * latentDim);
  const canvas = document.createElement("canvas");
  canvas.width = decoder.width; canvas.height = decoder.height;
  document.body.appendChild(canvas);
  const context = canvas.getContext("2d");
  const image = context.createImageData(decoder.width, decoder.height);
  for (let n = 0; n < warmup; n++) decoder.decode(codeOf(n % count));
  const decodeMs = [], paintMs = [];
  for (let n = 0; n < count; n++) {
    const start = performance.now();
    decoder.decode(codeOf(n));
    decodeMs.push(performance.now() - start);
  }
  for (let n = 0; n < count; n++) {
    const start = performance.now();
    context.putImageData(decoder.decodeInto(codeOf(n), image), 0, 0);
    paintMs.push(performance.now() - start);
  }
  canvas.remove();
  return { decodeMs, paintMs, isolated: self.crossOriginIsolated };
}"""
BRIDGE = "\nwindow.webDecoder = { createDecoder, createLift, weightsFromBase64 };\n"


def multiply_adds(decoder: WebDecoder) -> int:
    """Multiply-adds of one decode, from the layer list."""
    total = 0
    for layer in decoder.header["layers"]:
        if layer["op"] == "linear":
            total += layer["in_features"] * layer["out_features"]
        elif layer["op"] == "conv2d":
            total += math.prod(layer["output_shape"]) * layer["in_channels"] * math.prod(layer["kernel"])
        elif layer["op"] == "conv_transpose2d":
            total += math.prod(layer["input_shape"]) * layer["out_channels"] * math.prod(layer["kernel"])
    return total


def b64(array: np.ndarray) -> str:
    import base64

    return base64.b64encode(np.ascontiguousarray(array, "<f4").tobytes()).decode("ascii")


def cases(points: int) -> list[tuple[str, LatentModel, dict | None, np.ndarray]]:
    """(name, model, lift payload or None, the points: codes (N, D) or plane points (N, 2))."""
    rng = np.random.default_rng(0)
    mlp20 = LatentModel(build_model(PRESETS["classic-mlp"], seed=0))
    mlp16 = load_model(BUNDLED_16D)
    means = np.load(BUNDLED_16D.with_name("mnist5k-mlp-16d.codes.npz"))["means"]
    projection = pca_projection(means)
    spots = projection.to_2d(means)
    conv = load_model(BUNDLED_CONV)
    return [
        ("MLP-20 (classic-mlp)", mlp20, None, rng.standard_normal((points, 20)).astype(np.float32)),
        ("MLP-16 bundled, PCA lift", mlp16, lift_payload(projection),
         rng.uniform(spots.min(axis=0), spots.max(axis=0), (points, 2)).astype(np.float32)),
        ("conv-2d bundled", conv, None, (rng.standard_normal((points, 2)) * 2).astype(np.float32)),
        colour_case(BUNDLED_COLOUR, points, rng),
        ("conv-64-rgb (64x64 colour)", LatentModel(build_model(PRESETS["conv-64-rgb"], seed=0)), None,
         rng.standard_normal((points, 10)).astype(np.float32)),
    ]


def colour_case(path: Path, points: int, rng: np.random.Generator) -> tuple[str, LatentModel, dict, np.ndarray]:
    """The bundled colour model of the shapes, through the PCA lift of its map, as the Latent space page would."""
    means = np.load(path.with_name(path.stem + ".codes.npz"))["means"]
    projection = pca_projection(means)
    spots = projection.to_2d(means)
    return ("shapes32-conv-rgb bundled (32x32 colour), PCA lift", load_model(path), lift_payload(projection),
            rng.uniform(spots.min(axis=0), spots.max(axis=0), (points, 2)).astype(np.float32))


def open_page(browser, source: str):
    """A cross-origin-isolated page (finer timer) with the runtime loaded as a module."""
    page = browser.new_page()
    page.route(PAGE_URL, lambda route: route.fulfill(status=200, headers={**ISOLATION_HEADERS, "Content-Type": "text/html"},
                                                     body="<!doctype html><html><body></body></html>"))
    page.goto(PAGE_URL)
    page.add_script_tag(content=source + BRIDGE, type="module")
    page.wait_for_function("window.webDecoder !== undefined")
    return page


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure(browser, points: int, warmup: int) -> list[dict]:
    rows = []
    runtime = (ROOT / "pages" / "decoder.js").read_text()
    measured = cases(points)
    _, first, first_lift, first_values = measured[0]
    page = open_page(browser, runtime)  # one untimed run first, so no row pays for the browser's start-up
    page.evaluate(TIME_IN_PAGE, [export_decoder(first).payload(), first_lift, b64(first_values), first.latent_dim, warmup])
    page.close()
    for name, model, lift, values in measured:
        decoder = export_decoder(model)
        payload = decoder.payload()
        for variant, change in VARIANTS.items():
            page = open_page(browser, change(runtime))
            timed = page.evaluate(TIME_IN_PAGE, [payload, lift, b64(values), model.latent_dim, warmup])
            page.close()
            rows.append({
                "model": name, "runtime": variant,
                "decode min ms": min(timed["decodeMs"]),  # the uninterrupted cost, when other work shares the cores
                "decode p50 ms": percentile(timed["decodeMs"], 50), "decode p95 ms": percentile(timed["decodeMs"], 95),
                "decode+paint p50 ms": percentile(timed["paintMs"], 50),
                "decode+paint p95 ms": percentile(timed["paintMs"], 95),
                "MFLOP": 2 * multiply_adds(decoder) / 1e6,
                "weights bytes": decoder.weights.size * 4, "base64 bytes": len(payload["weights"]),
                "header bytes": len(decoder.to_bytes()) - decoder.weights.size * 4,
                "isolated": timed["isolated"],
            })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200, help="timed decodes per model and runtime")
    parser.add_argument("--warmup", type=int, default=200, help="untimed decodes first (the JIT compiles the loops)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the figures to this JSON file")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    load_before = machine_load()
    with sync_playwright() as playwright:
        browser = h.launch_browser(playwright)
        try:
            version = browser.version
            rows = measure(browser, args.points, args.warmup)
        finally:
            browser.close()
    print_table(f"pages/decoder.js in headless Chromium {version}, one code at a time, "
                f"{args.points} points after {args.warmup} warm-up decodes", rows)
    print(f"\nmachine load before: {load_before}, after: {machine_load()}")
    write_json(args.json, {"rows": rows, "points": args.points, "warmup": args.warmup, "chromium": version,
                           "load_before": load_before, "load_after": machine_load()})


if __name__ == "__main__":
    main()
