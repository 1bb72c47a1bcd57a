"""The colour shapes as datasets (``shapes-32``, ``shapes-64``): drawn once, seeded, kept under the data root.

The images come from :mod:`vae.data.shapes` (a seeded subset of all 61,440 combinations of shape,
colour, size, rotation and position), split with :func:`vae.data.shapes.split_shapes` so a combination
is always on the same side, and labelled by their shape. The factors travel with the Dataset, so a
model trained on them can be scored for disentanglement. Drawing takes about half a millisecond per
image on one core: the first load draws them (with progress reports) and keeps them as uint8 in
``<data root>/shapes/<name>-<count>-seed<seed>.npz``, written atomically; later loads read that file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from vae.data.array_cache import read_cached, write_cached
from vae.data.dataset import Dataset
from vae.data.folders import default_data_root
from vae.data.shapes import FACTOR_NAMES, SHAPE_NAMES, check_factors, render_shapes, sample_factors, split_shapes
from vae.errors import DataError

# name -> (image side in pixels, images). 20,000 of 32x32 are 245 MB as float32 and draw in about 10 s;
# 64x64 images take four times the memory, so that set has half as many (491 MB, about 5 s).
SHAPES_SETS: dict[str, tuple[int, int]] = {"shapes-32": (32, 20_000), "shapes-64": (64, 10_000)}
SHAPES_SEED = 0
CACHE_FOLDER = "shapes"  # below the data root
CACHE_FORMAT = 1  # changes whenever the drawing changes, so an old file is never read as the new set
DRAW_CHUNK = 250  # images drawn between two progress reports
CHECKED_IMAGES = 4  # images of a kept file drawn again and compared, to catch a damaged or altered file


def shapes_cache_path(name: str, root: str | Path | None = None) -> Path:
    """Where the drawn images of the shapes set ``name`` are kept."""
    side, count = shapes_spec(name)
    base = Path(root) if root is not None else default_data_root()
    return base / CACHE_FOLDER / f"{name}-{count}-seed{SHAPES_SEED}.npz"


def shapes_spec(name: str) -> tuple[int, int]:
    """(image side, image count) of a shapes set; DataError for another name."""
    if name not in SHAPES_SETS:
        raise DataError(f"Unknown shapes set {name!r}; choose one of: {', '.join(SHAPES_SETS)}.")
    return SHAPES_SETS[name]


def cache_version(name: str) -> str:
    """What a kept file must say it was drawn from."""
    side, count = shapes_spec(name)
    return f"shapes:{CACHE_FORMAT}:{side}:{count}:{SHAPES_SEED}"


def shapes_ready(name: str, root: str | Path | None = None) -> bool:
    """Whether the set is already drawn and kept (loading it then takes well under a second)."""
    return shapes_cache_path(name, root).is_file()


def draw_shapes(name: str, root: str | Path | None = None,
                progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The set's uint8 images (N, S, S, 3) and factors (N, 6): read when kept and sound, else drawn and kept.

    Args:
        name: "shapes-32" or "shapes-64".
        root: The data root; defaults to :func:`default_data_root`.
        progress: Called with the share drawn so far (0..1) while drawing.
    """
    side, count = shapes_spec(name)
    factors = sample_factors(count, SHAPES_SEED)
    path = shapes_cache_path(name, root)
    kept = read_cached(path, cache_version(name))
    if kept is not None and is_sound(kept, factors, side):
        return kept["images"], factors
    images = np.empty((count, side, side, 3), dtype=np.uint8)
    for start in range(0, count, DRAW_CHUNK):
        images[start:start + DRAW_CHUNK] = render_shapes(factors[start:start + DRAW_CHUNK], side, np.uint8)
        if progress is not None:
            progress(min(count, start + DRAW_CHUNK) / count)
    write_cached(path, cache_version(name), {"images": images, "factors": factors})
    return images, factors


def is_sound(kept: dict[str, np.ndarray], factors: np.ndarray, side: int) -> bool:
    """Whether a kept file holds this set: its factors, and a few of its images drawn again, match exactly."""
    images, stored = kept.get("images"), kept.get("factors")
    if images is None or stored is None or images.dtype != np.uint8 or images.shape != (len(factors), side, side, 3):
        return False
    if not np.array_equal(stored, factors):
        return False
    probe = np.linspace(0, len(factors) - 1, CHECKED_IMAGES).astype(np.int64)
    return bool(np.array_equal(images[probe], render_shapes(factors[probe], side, np.uint8)))


def load_shapes_set(name: str, root: str | Path | None = None,
                    progress: Callable[[float], None] | None = None) -> Dataset:
    """The shapes set ``name`` as a Dataset: (N, S, S, 3) float32 images, labelled by shape, with their factors."""
    images, factors = draw_shapes(name, root, progress)
    check_factors(factors)
    train_idx, test_idx = split_shapes(factors)
    return Dataset(
        name=name,
        train_images=to_float(images[train_idx]), train_labels=factors[train_idx, 0].copy(),
        test_images=to_float(images[test_idx]), test_labels=factors[test_idx, 0].copy(),
        class_names=SHAPE_NAMES, train_factors=factors[train_idx], test_factors=factors[test_idx],
        factor_names=FACTOR_NAMES,
    )


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 0..255 -> float32 in [0, 1]."""
    result = images.astype(np.float32)
    result /= 255.0
    return result
