"""Codes to decode for the tutorials' views, numpy only (no torch): labelled grids and offset walks.

A grid spans a plane (a :class:`vae.analysis.projection.Projection`) in plane coordinates, as the
Latent space page shows them: evenly over a symmetric range (the Keras tutorial's +-5), or at the
prior's quantiles (Kingma and Welling's figures: the inverse normal CDF of an even grid in (0, 1)).
A tile counts as "near real codes" when the nearest test code is no farther from it than
NEAR_SHARE (95%) of the test codes are from their own nearest neighbour.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from vae.analysis.projection import Projection, dims_projection
from vae.errors import VAEError

RANGE, QUANTILES = "range", "quantiles"  # the two grid spacings
QUANTILE_EDGE = 0.05  # the outermost quantile of the prior grid: linspace(0.05, 0.95, n), as the Keras and Kingma grids
NEAR_SHARE = 0.95  # a tile is near real codes when it is as close to one as this share of codes is to its neighbour
MAX_WALK_STEPS = 64  # pictures in one offset walk at most (a strip wider than a slide helps no one)


@dataclass(frozen=True)
class LatentGrid:
    """The codes of a rows x columns grid of tiles, row 0 at the top (high y), as images are drawn."""

    xs: np.ndarray  # (columns,) plane x of each column, left to right
    ys: np.ndarray  # (rows,) plane y of each row, top to bottom
    codes: np.ndarray  # (rows * columns, D) float32, row by row from the top

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return len(self.ys), len(self.xs)


def grid_values(count: int, spacing: str = QUANTILES, limit: float = 3.0, edge: float = QUANTILE_EDGE) -> np.ndarray:
    """``count`` values along one axis, low to high: evenly from -limit to +limit (``"range"``), or the
    standard normal's quantiles at an even grid from ``edge`` to 1 - edge (``"quantiles"``).

    In plain words: where the grid's pictures sit along one axis. Quantiles put as many pictures in
    each slice as the prior puts codes there: close together near the centre, sparse at the edges.
    """
    if count < 1:
        raise VAEError("A grid needs at least one picture per side.")
    if spacing == RANGE:
        if not np.isfinite(limit) or limit <= 0:
            raise VAEError("Pick a range above 0 for the grid.")
        return np.linspace(-float(limit), float(limit), count)
    if spacing != QUANTILES:
        raise VAEError(f'A grid is spaced over a "{RANGE}" or at the prior\'s "{QUANTILES}".')
    if not 0.0 < edge < 0.5:
        raise VAEError("The outermost quantile must lie between 0 and 0.5.")
    standard = NormalDist()
    return np.array([standard.inv_cdf(p) for p in np.linspace(edge, 1.0 - edge, count)])


def prior_centre(projection: Projection) -> np.ndarray:
    """Where the prior's centre (the code 0) lies on the plane: (2,). Zero for a plane of two code numbers."""
    return (-np.asarray(projection.mean, np.float64) @ np.asarray(projection.axes, np.float64).T).reshape(2)


def latent_grid(
    xs: np.ndarray, ys: np.ndarray, latent_dim: int, projection: Projection | None = None,
    base: np.ndarray | None = None,
) -> LatentGrid:
    """The codes of the grid with columns at plane x ``xs`` and rows at plane y ``ys`` (row 0 at the top).

    ``ys`` are given low to high and drawn high at the top. Off the plane the codes stay at ``base``
    (default: the plane's origin), as :meth:`Projection.from_2d` keeps them.
    """
    plane = projection or dims_projection(latent_dim, (0, 1))
    columns = np.asarray(xs, np.float64).ravel()
    rows = np.asarray(ys, np.float64).ravel()[::-1]
    grid_x, grid_y = np.meshgrid(columns, rows)  # (rows, columns) each
    codes = plane.from_2d(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1), base)
    return LatentGrid(columns, rows, codes.reshape(-1, latent_dim))


# ---------------------------------------------------------------- near real codes


def nearest_code_distances(points: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Euclidean distance (M,) from each point (M, D) to its nearest code (N, D), counting every code number."""
    from scipy.spatial import cKDTree  # loaded when first measured: keeps the map's start light

    data = _finite_codes(codes)
    distances, _ = cKDTree(data).query(np.asarray(points, np.float64).reshape(-1, data.shape[1]), k=1)
    return np.asarray(distances, np.float64)


def neighbour_distances(codes: np.ndarray) -> np.ndarray:
    """Distance (N,) from each code (N, D) to the nearest other code (0 for a code given twice)."""
    from scipy.spatial import cKDTree

    data = _finite_codes(codes)
    if len(data) < 2:
        raise VAEError("Measuring how near the pictures are to real codes needs at least two test images.")
    distances, _ = cKDTree(data).query(data, k=2)  # the first neighbour is the code itself
    return np.asarray(distances[:, 1], np.float64)


def near_code_threshold(codes: np.ndarray, share: float = NEAR_SHARE) -> float:
    """The distance within which a point counts as near real codes: ``share`` of the codes (N, D) have
    their nearest neighbour at most this far."""
    return float(np.quantile(neighbour_distances(codes), share))


def near_codes(points: np.ndarray, codes: np.ndarray, threshold: float) -> np.ndarray:
    """Whether each point (M, D) is near real codes: its nearest code (N, D) lies within ``threshold``. (M,) bool.

    In plain words: a picture decoded there shows a place where test pictures' codes really are.
    """
    return nearest_code_distances(points, codes) <= threshold


def _finite_codes(codes: np.ndarray) -> np.ndarray:
    data = np.asarray(codes, np.float64)
    if data.ndim != 2 or not len(data) or not np.isfinite(data).all():
        raise VAEError("Measuring how near the pictures are to real codes needs the test images' codes.")
    return data


# ---------------------------------------------------------------- offset walks


def offset_codes(start: np.ndarray, direction: np.ndarray, step: float, count: int) -> np.ndarray:
    """The codes start + k * step * direction for k = 0..count: (count + 1, D) float32.

    In plain words: "generate with offset": the same code pushed further and further one way.
    """
    if not 1 <= count <= MAX_WALK_STEPS:
        raise VAEError(f"An offset walk takes 1 to {MAX_WALK_STEPS} steps.")
    origin = np.asarray(start, np.float64).ravel()
    way = np.asarray(direction, np.float64).ravel()
    if origin.shape != way.shape or not (np.isfinite(origin).all() and np.isfinite(way).all() and np.isfinite(step)):
        raise VAEError("The walk needs a starting code and a direction of the same size, both made of numbers.")
    offsets = np.arange(count + 1, dtype=np.float64) * float(step)  # (count + 1,)
    return (origin[None] + offsets[:, None] * way[None]).astype(np.float32)


def dim_direction(latent_dim: int, dim: int) -> np.ndarray:
    """The unit direction (D,) of one code number."""
    if not 0 <= dim < latent_dim:
        raise VAEError(f"This model's codes have the numbers z1 to z{latent_dim}.")
    direction = np.zeros(latent_dim)
    direction[dim] = 1.0
    return direction


def random_direction(latent_dim: int, seed: int) -> np.ndarray:
    """A random unit direction (D,), the same for the same seed (uniform over directions)."""
    rng = np.random.default_rng(int(seed))
    while True:  # a zero draw has no direction; it never happens in practice, but loop rather than divide by 0
        draw = rng.standard_normal(latent_dim)
        length = float(np.linalg.norm(draw))
        if length > 1e-12:
            return draw / length


def class_direction(means: np.ndarray, labels: np.ndarray, from_class: int, to_class: int) -> tuple[np.ndarray, float]:
    """The unit direction (D,) from one class's mean code to another's, and the distance between the two means."""
    codes, classes = np.asarray(means, np.float64), np.asarray(labels)
    centres = []
    for label in (from_class, to_class):
        members = codes[classes == label]
        if not len(members):
            raise VAEError("One of the two classes has no test pictures: pick two classes that have some.")
        centres.append(members.mean(axis=0))
    difference = centres[1] - centres[0]
    distance = float(np.linalg.norm(difference))
    if distance < 1e-9:
        raise VAEError("The two classes' average codes are the same point: pick two different classes.")
    return difference / distance, distance
