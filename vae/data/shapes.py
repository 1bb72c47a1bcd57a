"""Colour shapes: an offline dSprites-like set of coloured shapes with known factors, drawn by a seeded function.

Six factors, each a small integer index (``FACTOR_NAMES`` / ``FACTOR_SIZES``):

- shape: square, ellipse, triangle, star, heart (``SHAPE_NAMES``); also the class label.
- colour: six hues of the Okabe-Ito colour-blind-friendly palette (``PALETTE``), on a black background.
- size: four outer radii, from 11 % to 23 % of the image side.
- rotation: eight equal steps over each shape's own symmetry period (``ROTATION_PERIODS``):
  90 degrees for the square, 180 for the ellipse, 120 for the triangle, 72 for the five-pointed star
  and 360 for the heart. A square turned by 90 degrees looks the same as the unturned one, so
  stepping over 0..360 would make different factor values give identical images; stepping over the
  period makes all eight rotations of every shape look different. The circle is left out for the
  same reason: it looks the same at every angle.
- position x and position y: eight steps each, moving the shape's centre (its area centroid) from
  27 % to 73 % of the image side, left to right and top to bottom. Every shape at every size and
  angle keeps at least a pixel clear of the border, so nothing is ever cut off.

Images are sampled 256 points wide (8 x 8 samples per pixel at 32x32, 4 x 4 at 64x64) and averaged,
so edges are anti-aliased: each pixel is the palette colour times the share of it the shape covers.

All combinations make 5 x 6 x 4 x 8 x 8 x 8 = 61,440 images: 3.0 GB as float32 at 64x64, 755 MB at
32x32. :func:`make_shapes` therefore draws a seeded random subset of ``DEFAULT_COUNT`` combinations
by default (about 1 GB at 64x64, 250 MB at 32x32 as float32; a quarter of that with
``dtype=np.uint8``); pass ``count=None`` for every combination.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from vae.errors import DataError

SHAPE_NAMES: tuple[str, ...] = ("square", "ellipse", "triangle", "star", "heart")
ROTATION_PERIODS: dict[str, float] = {  # degrees after which each shape looks the same again
    "square": 90.0, "ellipse": 180.0, "triangle": 120.0, "star": 72.0, "heart": 360.0,
}
COLOUR_NAMES: tuple[str, ...] = ("vermillion", "yellow", "bluish green", "sky blue", "blue", "reddish purple")
PALETTE: np.ndarray = np.array([  # Okabe & Ito (2008) colour-blind-friendly hues, sRGB 0..255
    (213, 94, 0), (240, 228, 66), (0, 158, 115), (86, 180, 233), (0, 114, 178), (204, 121, 167),
], dtype=np.uint8)
SIZE_RADII: tuple[float, ...] = (0.11, 0.15, 0.19, 0.23)  # outer radius as a share of the image side
ROTATION_STEPS = 8  # equal steps over each shape's symmetry period, starting at 0 degrees
POSITION_STEPS = 8  # steps of the centre along each axis
POSITION_RANGE = (0.27, 0.73)  # share of the image side: the 0.23 radius + a margin of 0.04 (over a pixel at 32)

FACTOR_NAMES: tuple[str, ...] = ("shape", "colour", "size", "rotation", "position x", "position y")
FACTOR_SIZES: tuple[int, ...] = (
    len(SHAPE_NAMES), len(PALETTE), len(SIZE_RADII), ROTATION_STEPS, POSITION_STEPS, POSITION_STEPS,
)
IMAGE_SIZES: tuple[int, ...] = (32, 64)  # image side in pixels
CANVAS_SIDE = 256  # samples across the image: shapes are sampled this finely, then averaged down
DEFAULT_COUNT = 20_000  # random combinations drawn by default, out of 61,440
DEFAULT_SEED = 0
DEFAULT_TEST_FRACTION = 0.2  # share of all combinations held out for testing
SPLIT_SEED = 0  # fixed, so a combination is always on the same side of the split

ELLIPSE_MINOR_AXIS = 0.6  # minor to major semi-axis: clearly oval, so its rotation shows
STAR_INNER_RADIUS = 0.45  # inner to outer radius of the star: fat enough to read when small
CURVE_POINTS = 96  # vertices of the ellipse and heart outlines (a multiple of 2 keeps the ellipse symmetric)


class Shapes(NamedTuple):
    """Generated images with their factors; unpacks as ``images, factors, labels, class_names``.

    Attributes:
        images: (N, H, W, 3) float32 in [0, 1] (or uint8 0..255 when asked for).
        factors: (N, 6) int64 factor indices, columns in ``FACTOR_NAMES`` order.
        labels: (N,) int64 class labels: the shape factor.
        class_names: The shape names, one per label.
    """

    images: np.ndarray
    factors: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]


def polygon_outline(points: int, radii: tuple[float, ...]) -> np.ndarray:
    """(points * len(radii), 2) vertices around the origin, alternating radii, the first pointing up."""
    count = points * len(radii)
    angles = np.pi / 2 + 2 * np.pi * np.arange(count) / count
    lengths = np.resize(np.asarray(radii, dtype=np.float64), count)
    return np.stack([lengths * np.cos(angles), -lengths * np.sin(angles)], axis=1)  # y grows downwards


def heart_curve() -> np.ndarray:
    """(CURVE_POINTS, 2) vertices of the classic heart curve, point at the bottom, y growing downwards."""
    t = 2 * np.pi * np.arange(CURVE_POINTS) / CURVE_POINTS
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    return np.stack([x, -y], axis=1)


def ellipse_curve() -> np.ndarray:
    """(CURVE_POINTS, 2) vertices of an ellipse, major axis horizontal."""
    t = 2 * np.pi * np.arange(CURVE_POINTS) / CURVE_POINTS
    return np.stack([np.cos(t), ELLIPSE_MINOR_AXIS * np.sin(t)], axis=1)


def polygon_centroid(vertices: np.ndarray) -> np.ndarray:
    """Area centroid (2,) of a simple polygon given by its (K, 2) vertices (shoelace formula)."""
    x, y = vertices[:, 0], vertices[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = cross.sum() / 2
    return np.array([((x + np.roll(x, -1)) * cross).sum(), ((y + np.roll(y, -1)) * cross).sum()]) / (6 * area)


def unit_outline(shape: str) -> np.ndarray:
    """(K, 2) outline of a shape centred on its area centroid, its farthest vertex at distance 1."""
    outlines = {
        "square": lambda: polygon_outline(4, (1.0,)) @ rotation_matrix(45.0).T,  # sides level at 0 degrees
        "ellipse": ellipse_curve,
        "triangle": lambda: polygon_outline(3, (1.0,)),
        "star": lambda: polygon_outline(5, (1.0, STAR_INNER_RADIUS)),
        "heart": heart_curve,
    }
    vertices = outlines[shape]()
    vertices = vertices - polygon_centroid(vertices)
    return vertices / np.linalg.norm(vertices, axis=1).max()


def rotation_matrix(degrees: float) -> np.ndarray:
    """(2, 2) matrix turning points by ``degrees`` anticlockwise on screen (y grows downwards)."""
    angle = math.radians(degrees)
    return np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])


UNIT_OUTLINES: dict[str, np.ndarray] = {name: unit_outline(name) for name in SHAPE_NAMES}


def check_image_size(image_size: int) -> None:
    """Refuse image sides other than the supported ones."""
    if image_size not in IMAGE_SIZES:
        raise DataError(f"The shapes set comes in {' or '.join(map(str, IMAGE_SIZES))} pixels square; "
                        f"got {image_size}. Pick one of those sizes.")


def draw_coverage(
    shape: str, radius: float, degrees: float, centre: tuple[float, float], image_size: int
) -> np.ndarray:
    """(H, W) float32 share of each pixel covered by one shape, anti-aliased by supersampling.

    Args:
        shape: One of ``SHAPE_NAMES``.
        radius: Outer radius in image pixels.
        degrees: Rotation, anticlockwise on screen.
        centre: (x, y) of the shape's area centroid in image pixels; pixel i spans [i, i + 1).
        image_size: Side of the square image in pixels.
    """
    scale = CANVAS_SIDE // image_size
    vertices = UNIT_OUTLINES[shape] @ rotation_matrix(degrees).T * radius + np.asarray(centre)
    # Only the whole pixels around the shape are sampled: several times faster than the whole canvas.
    low = np.clip(np.floor(vertices.min(axis=0)).astype(int) - 1, 0, image_size)
    high = np.clip(np.ceil(vertices.max(axis=0)).astype(int) + 1, 0, image_size)
    width, height = (int(side) for side in high - low)
    inside = fill_polygon((vertices - low) * scale, width * scale, height * scale)
    coverage = np.zeros((image_size, image_size), dtype=np.float32)
    coverage[low[1]:high[1], low[0]:high[0]] = inside.reshape(height, scale, width, scale).mean(axis=(1, 3))
    return coverage


def fill_polygon(vertices: np.ndarray, width: int, height: int) -> np.ndarray:
    """(height, width) bool: which sample centres (j + 0.5, i + 0.5) lie inside a polygon (even-odd rule).

    A scanline fill in numpy, used instead of PIL's, which rounds vertices to whole samples and
    includes both edges, so its shapes come out about a sample wider than they are.

    Args:
        vertices: (K, 2) outline as (x, y) in sample units.
        width: Samples per row.
        height: Rows of samples.
    """
    rows = np.arange(height)[:, None] + 0.5  # (R, 1) scanline heights
    x0, y0 = vertices[:, 0], vertices[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    # Half-open in y, so a scanline through a vertex counts its two edges once, and flat edges never.
    crosses = (rows >= np.minimum(y0, y1)) & (rows < np.maximum(y0, y1))  # (R, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing_x = np.where(crosses, x0 + (rows - y0) / (y1 - y0) * (x1 - x0), np.inf)
    crossing_x = np.sort(crossing_x, axis=1)[:, : int(crosses.sum(axis=1).max())]  # (R, C), unused ones at inf
    centres = np.arange(width) + 0.5
    crossings_before = (crossing_x[:, :, None] < centres).sum(axis=1)  # (R, W)
    return crossings_before % 2 == 1


def factor_geometry(row: np.ndarray, image_size: int) -> tuple[str, float, float, tuple[float, float]]:
    """(shape name, radius in pixels, rotation in degrees, centre (x, y) in pixels) of one factor row."""
    shape, _, size, rotation, x_step, y_step = (int(value) for value in row)
    name = SHAPE_NAMES[shape]
    low, high = POSITION_RANGE
    positions = low + (high - low) * np.arange(POSITION_STEPS) / (POSITION_STEPS - 1)
    degrees = ROTATION_PERIODS[name] * rotation / ROTATION_STEPS
    centre = (float(positions[x_step] * image_size), float(positions[y_step] * image_size))
    return name, SIZE_RADII[size] * image_size, degrees, centre


def render_shapes(factors: np.ndarray, image_size: int = 64, dtype: type = np.float32) -> np.ndarray:
    """Draw the images of given factor rows.

    Args:
        factors: (N, 6) factor indices, columns in ``FACTOR_NAMES`` order.
        image_size: 32 or 64 pixels square.
        dtype: ``np.float32`` for values in [0, 1], or ``np.uint8`` for 0..255 (a quarter of the memory).

    Returns:
        (N, H, W, 3) images: the palette colour times each pixel's coverage, on black.
    """
    check_image_size(image_size)
    factors = check_factors(factors)
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.uint8)):
        raise DataError(f"Shapes images come as float32 or uint8; got {np.dtype(dtype)}.")
    uint8 = np.dtype(dtype) == np.uint8
    images = np.empty((len(factors), image_size, image_size, 3), dtype=np.uint8 if uint8 else np.float32)
    colours = PALETTE.astype(np.float32) / 255.0
    for index, row in enumerate(factors):
        coverage = draw_coverage(*factor_geometry(row, image_size), image_size)
        pixels = coverage[:, :, None] * colours[row[1]]
        images[index] = np.rint(pixels * 255.0) if uint8 else pixels
    return images


def check_factors(factors: np.ndarray) -> np.ndarray:
    """Validate (N, 6) factor indices against ``FACTOR_SIZES``; return them as int64."""
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[1] != len(FACTOR_SIZES):
        raise DataError(f"Shape factors must be a table with {len(FACTOR_SIZES)} columns; got shape {factors.shape}.")
    if len(factors) and ((factors < 0).any() or (factors >= np.array(FACTOR_SIZES)).any()):
        raise DataError(f"Shape factors must lie between 0 and {tuple(s - 1 for s in FACTOR_SIZES)} per column.")
    return factors.astype(np.int64)


def combination_count() -> int:
    """How many distinct factor combinations (images) the set has in all."""
    return math.prod(FACTOR_SIZES)


def sample_factors(count: int | None = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> np.ndarray:
    """(N, 6) distinct factor combinations: ``count`` drawn at random by ``seed``, or all when None.

    Rows come in the order of the full product (shape slowest, position y fastest), so a subset
    is a sub-sequence of the full set.
    """
    total = combination_count()
    if count is None:
        indices = np.arange(total)
    elif not 1 <= count <= total:
        raise DataError(f"The shapes set has {total:,} images; ask for between 1 and {total:,} (got {count}).")
    else:
        indices = np.sort(np.random.default_rng(seed).choice(total, size=count, replace=False))
    return np.stack(np.unravel_index(indices, FACTOR_SIZES), axis=1).astype(np.int64)


def make_shapes(
    count: int | None = DEFAULT_COUNT, image_size: int = 64, seed: int = DEFAULT_SEED, dtype: type = np.float32
) -> Shapes:
    """Generate the colour shapes set, deterministically from ``seed``; no download.

    Drawing takes roughly a millisecond per image on one core, so callers should cache the result.

    Args:
        count: How many distinct combinations to draw at random, or None for all 61,440
            (3.0 GB as float32 at 64x64: prefer a subset or ``dtype=np.uint8``).
        image_size: 32 or 64 pixels square.
        seed: Seed of the random subset; the same seed always gives the same bytes.
        dtype: ``np.float32`` for values in [0, 1], or ``np.uint8`` for 0..255.

    Returns:
        ``Shapes(images, factors, labels, class_names)``; labels are the shape factor.
    """
    check_image_size(image_size)
    factors = sample_factors(count, seed)
    images = render_shapes(factors, image_size, dtype)
    return Shapes(images, factors, factors[:, 0].copy(), SHAPE_NAMES)


def split_shapes(factors: np.ndarray, test_fraction: float = DEFAULT_TEST_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train_idx, test_idx) into the rows of ``factors``.

    Each of the 61,440 combinations is assigned once and for all to the train or test side by a
    fixed shuffle, so the same image is on the same side whatever subset or seed produced it, and
    two subsets never leak test images into each other's training.

    Args:
        factors: (N, 6) factor indices.
        test_fraction: Share of all combinations held out, strictly between 0 and 1.
    """
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}.")
    factors = check_factors(factors)
    total = combination_count()
    rank = np.empty(total, dtype=np.int64)
    rank[np.random.default_rng(SPLIT_SEED).permutation(total)] = np.arange(total)
    flat = np.ravel_multi_index(tuple(factors.T), FACTOR_SIZES) if len(factors) else np.empty(0, np.int64)
    is_test = rank[flat] < round(test_fraction * total)
    return np.flatnonzero(~is_test).astype(np.int64), np.flatnonzero(is_test).astype(np.int64)
