"""The app in a real browser: cold start, click and slider latency, a 70,000-point map, several users at once,
and the live map (decoding in the page: hover and slider-drag frames per model, decoder payload bytes).

Run from the repository root (needs Debian's chromium and the playwright package):

    python benchmarks/app_speed.py [--json benchmarks/results/app_speed.json]

Everything runs against a fresh `streamlit run app.py` reading a temporary copy of the bundled
checkpoints and their saved test-image codes (checkpoints/ is never touched). The cold start is
measured on 3 fresh servers (the median is reported), each also without the codes files, i.e.
for models the app has never shown. "First map" is the Latent space page's map (a canvas
component, pages/common/latent_map.js) drawn and sized in the browser. Latencies are measured inside
the page: from the mousedown / keydown to the moment the new decoded image has loaded
(benchmarks/browser_harness.py, whose map helpers read the canvas map through its ``describe()``).

The 70,000-point map needs no hook in the app: the benchmark writes a synthetic "MNIST" in
torchvision's raw format whose test part holds 70,000 jittered copies of the mnist-5k digits,
points the server's VAE_DATA_ROOT at it, and re-saves the bundled conv-2d model with
dataset="mnist"; the Latent space page's map then draws all 70,000 test images of that model.
The live map's figures come from benchmarks/live_speed.py (how they are taken is described there).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import struct
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from benchmarks import browser_harness as h  # noqa: E402  (also the e2e tests' harness)
from benchmarks import live_speed  # noqa: E402

DEFAULT_MODEL = "mnist5k-conv-2d"
BIG_MODEL = "mnist70k-bench"
TARGETS = {"cold_start_s": 5.0, "click_p50_ms": 250.0, "big_click_p50_ms": 120.0, "hover_p95_ms": 16.0}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write every figure and raw timing to this file")
    parser.add_argument("--clicks", type=int, default=20, help="clicks on empty spots per measurement")
    parser.add_argument("--slider-moves", type=int, default=10)
    parser.add_argument("--big-points", type=int, default=70_000, help="points of the large map (0: skip)")
    parser.add_argument("--session-clicks", type=int, default=10, help="clicks per exploring user, per phase")
    parser.add_argument("--train-epochs", type=int, default=50, help="epochs of the busy user's run (stopped early)")
    parser.add_argument("--trainer-away", action="store_true",
                        help="also click while the run goes on with the trainer's page closed")
    parser.add_argument("--no-sessions", action="store_true", help="skip the several-users part")
    parser.add_argument("--hover-moves", type=int, default=200, help="mouse moves per model for hover -> pixels")
    parser.add_argument("--no-live", action="store_true", help="skip the live map's figures")
    parser.add_argument("--no-uncached-start", action="store_true",
                        help="skip the extra cold starts whose models have no saved test-image codes")
    parser.add_argument("--cold-starts", type=int, default=3, help="server spawns measured (the median is reported)")
    return parser.parse_args()


# ---------------------------------------------------------------- machine


def machine() -> dict:
    """nproc, CPU model, memory, load, Chromium and library versions."""
    from importlib.metadata import version

    import plotly
    import streamlit
    import torch

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    memory_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")), 0)
    return {
        "nproc": os.cpu_count(), "cpu_model": model, "memory_gib": round(memory_kb / 2**20, 1),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "chromium": h.chromium_version(), "python": platform.python_version(),
        "streamlit": streamlit.__version__, "plotly": plotly.__version__, "torch": torch.__version__,
        "playwright": version("playwright"),
    }


# ---------------------------------------------------------------- the 70k map, without touching the app


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the IDX format torchvision's MNIST reads (magic 0x08 = ubyte, then the dims)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.write(struct.pack(">HBB", 0, 0x08, array.ndim))
        out.write(struct.pack(f">{array.ndim}I", *array.shape))
        out.write(np.ascontiguousarray(array, np.uint8).tobytes())


def build_big_map(data_root: Path, checkpoint_dir: Path, points: int) -> None:
    """A torchvision-style MNIST under ``data_root`` with ``points`` test images, and a model that uses it."""
    import vae
    from vae.data import load_mnist_5k

    digits = load_mnist_5k()
    images = np.concatenate([digits.train_images, digits.test_images])
    labels = np.concatenate([digits.train_labels, digits.test_labels])
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(images), points)
    shifts = rng.integers(-2, 3, (points, 2))
    test = np.empty((points, 28, 28), np.float32)
    for row, (index, (dy, dx)) in enumerate(zip(picks, shifts)):  # a jittered copy: its code moves a little
        test[row] = np.roll(images[index], (int(dy), int(dx)), axis=(0, 1))
    test = np.clip(test + rng.normal(0, 0.05, test.shape).astype(np.float32), 0, 1)
    raw = data_root / "MNIST" / "raw"
    write_idx(raw / "train-images-idx3-ubyte", (digits.train_images * 255).round())
    write_idx(raw / "train-labels-idx1-ubyte", digits.train_labels)
    write_idx(raw / "t10k-images-idx3-ubyte", (test * 255).round())
    write_idx(raw / "t10k-labels-idx1-ubyte", labels[picks])
    model = vae.load_model(checkpoint_dir / f"{DEFAULT_MODEL}.pt")
    vae.save_checkpoint(checkpoint_dir / f"{BIG_MODEL}.pt", model.module, dataset="mnist",
                        class_names=[str(digit) for digit in range(10)])


# ---------------------------------------------------------------- measurements


def summary(values: list[float]) -> dict:
    """n, p50, p95, min, max of a list of milliseconds (or seconds)."""
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(h.percentile(values, 50), 1), "p95": round(h.percentile(values, 95), 1),
            "min": round(min(values), 1), "max": round(max(values), 1)}


def first_chart(page, url: str, points: int | None = None) -> float:
    """Seconds from opening ``url`` to the Latent space map drawn (with ``points`` dots, when given).

    (The key names say "chart", from when the map was a plotly chart; they are kept for comparisons.)
    """
    started = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded", timeout=h.PAGE_TIMEOUT_MS * 3)
    if points is None:
        h.wait_for_scatter(page, timeout_ms=h.PAGE_TIMEOUT_MS * 3)
    else:
        h.wait_for_point_count(page, points, timeout_ms=h.PAGE_TIMEOUT_MS * 3)
    return time.perf_counter() - started


def spots_to_click(page, count: int) -> list[tuple[float, float]]:
    """``count`` click targets: empty spots, cycled (consecutive ones always differ)."""
    spots = h.empty_spots(page, count) or h.empty_spots(page, count, min_pixels=8.0)
    if len(spots) < 2:
        spots = [(dot["x"], dot["y"]) for dot in h.isolated_dots(page, count, margin=0.0)]
    return [spots[i % len(spots)] for i in range(count)]


def click_latencies(page, count: int) -> list[float]:
    """Milliseconds from click to new decoded image, for ``count`` clicks at different spots."""
    return [h.timed_plane_click(page, x, y) for x, y in spots_to_click(page, count)]


def dot_latencies(page, count: int) -> list[float]:
    """Milliseconds from a click on a test image's dot to its decoded image (the page also shows the original)."""
    dots = h.isolated_dots(page, count)
    return [h.timed_plane_click(page, dot["x"], dot["y"]) for dot in dots]


def slider_latencies(page, count: int) -> list[float]:
    """Milliseconds from one PageUp/PageDown on a latent slider to the new decoded image."""
    values = []
    for move in range(count):
        key = h.slider_thumb(page, f"explore_z_{move % 2}")
        value, low, high = (float(key.input_value()), float(key.get_attribute("min")), float(key.get_attribute("max")))
        press = "PageUp" if value < (low + high) / 2 else "PageDown"
        values.append(h.timed_slider_move(page, f"explore_z_{move % 2}", press))
    return values


def measure_single_user(browser, server, args, results: dict) -> None:
    """Warm load, clicks, dot clicks and slider moves on the default model; then the big map."""
    page = h.new_page(browser)
    results["warm_first_chart_s"] = round(first_chart(page, server.url), 3)
    results["explore_map_kind"] = h.map_kind(page)  # "canvas" (pages/common/latent_map.js) or "plotly"
    h.wait_idle(page)
    h.wait_decoded_shown(page)
    raw = results.setdefault("raw_ms", {})
    raw["click"] = click_latencies(page, args.clicks)
    raw["dot_click"] = dot_latencies(page, 10)
    raw["slider"] = slider_latencies(page, args.slider_moves)
    for key in ("click", "dot_click", "slider"):
        results[f"{key}_ms"] = summary(raw[key])
    page.context.close()
    if args.big_points:
        big = h.new_page(browser)
        url = f"{server.url}?model={BIG_MODEL}"
        results["big_points"] = args.big_points
        results["big_first_load_s"] = round(first_chart(big, url, args.big_points), 3)
        h.wait_idle(big, h.PAGE_TIMEOUT_MS * 3)
        big.context.close()
        big = h.new_page(browser)
        results["big_warm_load_s"] = round(first_chart(big, url, args.big_points), 3)
        h.wait_idle(big)
        h.wait_decoded_shown(big)
        results["raw_ms"]["big_click"] = click_latencies(big, args.clicks)
        results["big_click_ms"] = summary(results["raw_ms"]["big_click"])
        big.context.close()


def copy_models(source: Path, target: Path, with_codes: bool = True) -> Path:
    """A fresh copy of the checkpoints in ``source`` (and their saved codes, if ``with_codes``) in ``target``."""
    target.mkdir()
    for path in source.iterdir():
        if path.suffix == ".pt" or (with_codes and path.name.endswith(".codes.npz")):
            shutil.copy2(path, target / path.name)
    return target


def measure_cold_start(browser, checkpoints: Path, log: Path | None, data_root: Path, server=None) -> dict:
    """Seconds from spawning `streamlit run` to health ok, to the first map drawn and to the decoded image.

    The page is opened in a fresh browser context before the spawn (the browser's own start is not the
    app's). With ``server`` given, that already-spawned server is measured and left running; otherwise
    one is started on ``checkpoints`` and stopped again.
    """
    page = h.new_page(browser)
    own = server is None
    if own:
        server = h.start_server(checkpoints, log, extra_env={"VAE_DATA_ROOT": str(data_root)})
    try:
        h.wait_healthy(server)
        figures = {"cold_health_s": round(time.perf_counter() - server.spawned_at, 3)}
        page.goto(server.url, wait_until="domcontentloaded", timeout=h.PAGE_TIMEOUT_MS)
        h.wait_for_scatter(page)
        figures["cold_start_s"] = round(time.perf_counter() - server.spawned_at, 3)
        h.wait_decoded_shown(page)
        figures["cold_decoded_s"] = round(time.perf_counter() - server.spawned_at, 3)
    finally:
        page.context.close()
        if own:
            h.stop_server(server)
    return figures


# ---------------------------------------------------------------- several users


def concurrent_clicks(explorers: list, rounds: int) -> list[float]:
    """Every explorer clicks at the same moment, ``rounds`` times; all their click latencies (ms)."""
    spots = [spots_to_click(page, rounds) for page in explorers]
    latencies = []
    for round_index in range(rounds):
        for page in explorers:
            h.wait_idle(page)
        for page, targets in zip(explorers, spots):
            h.arm_decoded_watch(page)
            h.click_plane(page, *targets[round_index])
        latencies += [h.decoded_latency_ms(page) for page in explorers]
    for page in explorers:
        h.wait_idle(page)
    return latencies


def start_busy_training(page, server, epochs: int) -> str:
    """On the Train page: mnist-5k, conv-2d, ``epochs`` epochs; returns the model name once batches run."""
    from playwright.sync_api import expect

    h.open_app(page, server.url)
    h.open_page_from_menu(page, "Train")
    h.choose_option(page, "train_model", "conv-2d:")
    name_field = h.keyed(page, "train_name").locator("input")
    expect(name_field).to_have_value(re.compile(r"conv-2d"), timeout=h.ACTION_TIMEOUT_MS)
    field = h.keyed(page, "train_epochs").locator("input")
    h.wait_idle(page)
    field.fill(str(epochs))
    field.press("Enter")
    expect(field).to_have_value(str(epochs), timeout=h.ACTION_TIMEOUT_MS)
    h.wait_idle(page)
    name = name_field.input_value()
    h.keyed(page, "train_start").get_by_role("button").click()
    page.locator('[data-testid="stProgress"]').filter(has_text="batch").first.wait_for(timeout=h.PAGE_TIMEOUT_MS)
    return name


def stop_training(page) -> None:
    """Press Stop and wait until the run has ended."""
    stop = h.keyed(page, "train_stop").get_by_role("button")
    if stop.count():
        stop.click()
        stop.wait_for(state="detached", timeout=h.PAGE_TIMEOUT_MS)


def isolation_checks(trainer, explorers: list, server) -> dict:
    """Each explorer shows its own last point; no other session shows the trainer's run."""
    checks = {}
    dots = h.isolated_dots(explorers[0], len(explorers))
    for page, dot in zip(explorers, dots):
        h.timed_plane_click(page, dot["x"], dot["y"])
    for number, (page, dot) in enumerate(zip(explorers, dots), 1):
        text = page.locator('[data-testid="stMain"]').inner_text()
        others = [other["index"] for other in dots if other is not dot]
        checks[f"explorer{number}_sees_only_its_own_point"] = (
            f"Test image #{dot['index']} " in text and not any(f"Test image #{i} " in text for i in others))
    checks["trainer_sees_its_run"] = trainer.locator('[data-testid="stProgress"]').count() >= 1
    for number, page in enumerate(explorers, 1):
        h.open_page_from_menu(page, "Train")
        h.keyed(page, "train_start").get_by_role("button").wait_for()
        checks[f"explorer{number}_train_page_has_no_progress"] = (
            page.locator('[data-testid="stProgress"]').count() == 0 and h.keyed(page, "train_stop").count() == 0)
    return checks


def measure_several_users(browser, server, args, results: dict) -> None:
    """Two users explore while a third trains: click latency idle vs busy, and isolation."""
    explorers = [h.new_page(browser) for _ in range(2)]
    trainer = h.new_page(browser)
    try:
        for page in explorers:
            h.open_app(page, server.url)
            h.wait_for_scatter(page)
            h.wait_decoded_shown(page)
        idle = concurrent_clicks(explorers, args.session_clicks)
        started = time.perf_counter()
        name = start_busy_training(trainer, server, args.train_epochs)
        results["sessions_training_started_s"] = round(time.perf_counter() - started, 2)
        busy = concurrent_clicks(explorers, args.session_clicks)
        results["sessions_trainer_still_running"] = h.keyed(trainer, "train_stop").count() == 1
        if args.trainer_away:  # the same run, its page closed: the training process's own share of the slowdown
            h.open_page_from_menu(trainer, "Models")
            h.wait_idle(trainer)
            away = concurrent_clicks(explorers, args.session_clicks)
            h.open_page_from_menu(trainer, "Train")
            results.setdefault("raw_ms", {}).update(sessions_training_page_closed=away)
            results["sessions_click_ms_training_page_closed"] = summary(away)
            if idle and away:
                results["sessions_p50_ratio_page_closed_vs_idle"] = round(h.percentile(away, 50) / h.percentile(idle, 50), 2)
        results["sessions_isolation"] = isolation_checks(trainer, explorers, server)
        results["sessions_training_model"] = name
        results.setdefault("raw_ms", {}).update(sessions_idle=idle, sessions_training=busy)
        results["sessions_click_ms_idle"] = summary(idle)
        results["sessions_click_ms_training"] = summary(busy)
        if idle and busy:
            results["sessions_p50_ratio_training_vs_idle"] = round(h.percentile(busy, 50) / h.percentile(idle, 50), 2)
    finally:
        stop_training(trainer)
        for page in [*explorers, trainer]:
            page.context.close()


# ---------------------------------------------------------------- report


def print_table(results: dict) -> None:
    """One row per figure, with the target where there is one."""
    info = results["machine"]
    print(f"Machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB, load at start "
          f"{info['load_average_at_start']}; {info['chromium']}; streamlit {info['streamlit']}, plotly {info['plotly']}")
    print(f"Cold starts: {len(results.get('cold_runs', []))} spawns, medians below; first map per spawn: "
          f"{[run.get('cold_start_s') for run in results.get('cold_runs', [])]} s "
          f"(Latent space map: {results.get('explore_map_kind', '?')})")
    rows = [("Cold start: spawn -> first map", "cold_start_s", "s", TARGETS["cold_start_s"]),
            ("Cold start: spawn -> health ok", "cold_health_s", "s", None),
            ("Cold start: spawn -> decoded image", "cold_decoded_s", "s", None),
            ("Cold start, no saved codes: -> first map", "cold_start_s_no_codes", "s", None),
            ("Cold start, no saved codes: -> decoded image", "cold_decoded_s_no_codes", "s", None),
            ("Warm page load -> first map", "warm_first_chart_s", "s", None)]
    print(f"\n{'figure':48} {'value':>12} {'target':>10}")
    for label, key, unit, target in rows:
        if key in results:
            print(f"{label:48} {results[key]:>10.2f} {unit} {'' if target is None else f'< {target:g} {unit}':>10}")
    latency_rows = [("Click empty spot -> image", "click_ms", TARGETS["click_p50_ms"]),
                    ("Click a dot -> image (+ original shown)", "dot_click_ms", None),
                    ("Slider key -> image", "slider_ms", None),
                    (f"Click with {results.get('big_points', 0):,} points -> image", "big_click_ms",
                     TARGETS["big_click_p50_ms"]),
                    ("2 users clicking, idle server", "sessions_click_ms_idle", None),
                    ("2 users clicking, 3rd user training", "sessions_click_ms_training", None)]
    print(f"\n{'latency (ms, in page)':48} {'n':>4} {'p50':>8} {'p95':>8} {'max':>8} {'target p50':>11}")
    for label, key, target in latency_rows:
        figures = results.get(key)
        if figures and figures.get("n"):
            print(f"{label:48} {figures['n']:>4} {figures['p50']:>8.0f} {figures['p95']:>8.0f} {figures['max']:>8.0f} "
                  f"{'' if target is None else f'< {target:g}':>11}")
    for label, key in (("Big map first load (load + encode + draw)", "big_first_load_s"),
                       ("Big map warm load", "big_warm_load_s")):
        if key in results:
            print(f"{label:48} {results[key]:>10.2f} s")
    if "sessions_p50_ratio_training_vs_idle" in results:
        print(f"{'p50 ratio, training vs idle':48} {results['sessions_p50_ratio_training_vs_idle']:>10.2f} x")
    if "sessions_p50_ratio_page_closed_vs_idle" in results:
        print(f"{'p50 ratio, training (its page closed) vs idle':48} "
              f"{results['sessions_p50_ratio_page_closed_vs_idle']:>10.2f} x")
    live_speed.print_live(results, TARGETS["hover_p95_ms"])
    if "load_average_at_end" in results:
        print(f"\nLoad average (1, 5, 15 min) at start {info['load_average_at_start']}, "
              f"at end {results['load_average_at_end']}")
    if "sessions_isolation" in results:
        still = results.get("sessions_trainer_still_running")
        print(f"\nThe training run was {'still' if still else 'NOT'} running when the busy clicks ended "
              f"({results.get('sessions_training_model')}, started in {results.get('sessions_training_started_s')} s).")
        print("Isolation between sessions:")
        for check, passed in results["sessions_isolation"].items():
            print(f"  {'ok  ' if passed else 'FAIL'} {check}")


def main() -> int:
    args = parse_args()
    if h.chromium_path() is None:
        print(f"Chromium is not installed at {h.CHROMIUM}: apt-get install chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    results: dict = {"machine": machine()}
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="app-speed-")))
        checkpoints, data_root = scratch / "checkpoints", scratch / "data"
        checkpoints.mkdir()
        for path in (ROOT / "checkpoints").glob("*.pt"):  # the models and their saved test-image codes
            for source in (path, path.with_name(path.stem + ".codes.npz")):
                if source.is_file():
                    shutil.copy2(source, checkpoints / source.name)
        if not (checkpoints / f"{DEFAULT_MODEL}.pt").is_file():
            print(f"{DEFAULT_MODEL}.pt is missing: run `bash checkpoints/rebuild.sh`", file=sys.stderr)
            return 2
        if args.big_points:
            build_big_map(data_root, checkpoints, args.big_points)
        if not args.no_live:
            live_speed.build_mlp20(checkpoints)
        playwright = stack.enter_context(sync_playwright())
        browser = h.launch_browser(playwright)
        stack.callback(browser.close)
        starts = []
        for run in range(max(1, args.cold_starts)):  # every spawn but the last reads its own copy and is stopped
            figures = {}
            if not args.no_uncached_start:
                bare = copy_models(checkpoints, scratch / f"without-codes-{run}", with_codes=False)
                figures.update({f"{key}_no_codes": value for key, value in
                                measure_cold_start(browser, bare, scratch / f"bare-{run}.log", data_root).items()})
            if run < args.cold_starts - 1:
                copy = copy_models(checkpoints, scratch / f"with-codes-{run}")
                figures.update(measure_cold_start(browser, copy, scratch / f"cold-{run}.log", data_root))
            starts.append(figures)
        server = h.start_server(checkpoints, scratch / "streamlit.log", extra_env={"VAE_DATA_ROOT": str(data_root)})
        stack.callback(h.stop_server, server)
        starts[-1].update(measure_cold_start(browser, checkpoints, None, data_root, server))
        results["cold_runs"] = starts
        for key in sorted({key for start in starts for key in start}):
            results[key] = round(float(np.median([start[key] for start in starts if key in start])), 3)

        measure_single_user(browser, server, args, results)
        if not args.no_live:
            live_speed.measure_live(browser, server, checkpoints, args.hover_moves, summary, results)
        if not args.no_sessions:
            measure_several_users(browser, server, args, results)
        results["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    print_table(results)
    if args.json:
        results["raw_ms"] = {key: [round(v, 1) for v in values] for key, values in results.get("raw_ms", {}).items()}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nWrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
