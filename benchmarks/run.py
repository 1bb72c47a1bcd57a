"""Every benchmark in one run on one machine, printed as one table.

    python benchmarks/run.py [--quick] [--json PATH] [--skip-app]

Runs, one after another so they do not compete for the two cores:
``benchmarks/training_speed.py`` (training images/s, epoch seconds, ratio to the classic
per-sample DataLoader loop, fraction of the measured matmul FLOP limit, GPU when present),
``benchmarks/inference_speed.py`` (decode and encode latency) and ``benchmarks/app_speed.py``
(the app in headless Chromium: cold start, click and slider latency, a 70,000-point map,
and click latency while another user trains). Each writes JSON; this script prints the
figures of all three side by side with the machine they ran on.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {
    "training": ["benchmarks/training_speed.py"],
    "inference": ["benchmarks/inference_speed.py"],
    "app": ["benchmarks/app_speed.py"],
}
QUICK_FLAGS = {"training": ["--quick"], "inference": ["--repeats", "50"], "app": ["--clicks", "10", "--big-points", "20000"]}


def machine() -> str:
    """Cores, CPU model and Python, for the table's heading."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def run_script(name: str, quick: bool, folder: Path) -> tuple[dict, float]:
    """Run one benchmark script with --json; its figures and how long it took."""
    out = folder / f"{name}.json"
    command = [sys.executable, *SCRIPTS[name], "--json", str(out), *(QUICK_FLAGS[name] if quick else [])]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, text=True, capture_output=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0 or not out.exists():
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        return {"error": " | ".join(tail) or f"exit {result.returncode}"}, seconds
    return json.loads(out.read_text()), seconds


def flatten(figures: object, prefix: str = "") -> list[tuple[str, object]]:
    """Nested JSON -> (dotted name, value) rows; raw timing lists are summarised by their length."""
    if isinstance(figures, dict):
        rows = []
        for key, value in figures.items():
            rows += flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(figures, list):
        if all(isinstance(item, (int, float)) for item in figures):
            return [(prefix, f"{len(figures)} samples")]
        return [row for index, item in enumerate(figures) for row in flatten(item, f"{prefix}[{index}]")]
    return [(prefix, figures)]


def show(value: object) -> str:
    """Numbers to 4 significant figures; everything else as text."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs of every part")
    parser.add_argument("--skip-app", action="store_true", help="leave out the browser measurements")
    parser.add_argument("--json", type=Path, help="also write all figures to this file")
    args = parser.parse_args()
    names = [name for name in SCRIPTS if not (args.skip_app and name == "app")]
    results = {"machine": machine()}
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            results[name], seconds = run_script(name, args.quick, Path(folder))
            results[name]["benchmark_seconds"] = round(seconds, 1)
    print(f"# VAE Latent Explorer benchmarks on {results['machine']}")
    rows = [(name, key, show(value)) for name in names for key, value in flatten(results[name])]
    width = max(len(f"{name}: {key}") for name, key, _ in rows)
    for name, key, value in rows:
        print(f"{f'{name}: {key}':<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all("error" not in results[name] for name in names) else 1


if __name__ == "__main__":
    sys.exit(main())
