"""How many tiles of a decoded grid lie near real codes, for each bundled model: the Generate page's figure.

    python benchmarks/grid_coverage.py [--side 20] [--json PATH]

Reads each model's saved test codes (no torch), and for a side x side grid at the prior's quantiles
(Kingma's layout, linspace(0.05, 0.95)), over +-3 (the old map) and over +-5 (the Keras tutorial), prints
the share of tiles near real codes (vae.analysis.grids: the nearest test code no farther than 95% of test
codes are from their own nearest neighbour) and the share outside the region holding 90% of the prior.
On a model above 2-D the grid lies in the first two code numbers, the others at 0.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # allow `python benchmarks/grid_coverage.py`

import vae  # noqa: E402

PRIOR_MASS = 0.9  # "where the prior has little mass": outside the disc that holds this share of N(0, I) in 2-D
GRIDS = {"quantiles": ("quantiles", 3.0), "range 3": ("range", 3.0), "range 5": ("range", 5.0)}  # (spacing, range)


def coverage(means: np.ndarray, side: int) -> dict[str, dict[str, float]]:
    """Per grid: the share of its tiles near real codes, and the share outside the prior's 90% disc."""
    threshold = vae.near_code_threshold(means)
    radius_squared = -2.0 * math.log(1.0 - PRIOR_MASS)
    figures = {}
    for label, (spacing, limit) in GRIDS.items():
        values = vae.grid_values(side, spacing, limit)
        grid = vae.latent_grid(values, values, means.shape[1])
        plane = grid.codes[:, :2].astype(np.float64)
        figures[label] = {"near_real_codes": float(vae.near_codes(grid.codes, means, threshold).mean()),
                          "outside_prior_90": float(((plane**2).sum(axis=1) > radius_squared).mean())}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=20, help="tiles per side of the grid")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    arguments = parser.parse_args()
    results = {}
    for path in sorted((ROOT / "checkpoints").glob("*.pt")):
        info = vae.read_info(path)
        codes = vae.read_test_codes(path, vae.dataset_version(info.dataset))
        if codes is None:
            print(f"{path.stem}: no saved codes (run `python -m vae codes {path}`)")
            continue
        results[path.stem] = coverage(codes.means.astype(np.float64), arguments.side)
    print(f"{'model':<20} {'grid':<10} {'near real codes':>16} {'outside 90% prior':>18}")
    for name, figures in results.items():
        for label, values in figures.items():
            print(f"{name:<20} {label:<10} {values['near_real_codes']:>16.1%} {values['outside_prior_90']:>18.1%}")
    if arguments.json:
        arguments.json.write_text(json.dumps({"side": arguments.side, "models": results}, indent=2))


if __name__ == "__main__":
    main()
