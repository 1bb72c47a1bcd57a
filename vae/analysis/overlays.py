"""What the map draws over its plane, numpy only (no torch): posterior ellipses, the prior's rings, the density picture.

The arithmetic of densities and holes lives in vae.analysis.diagnostics; this module turns it into shapes
and pictures for the map. A plane is a :class:`vae.analysis.projection.Projection` with orthonormal axes A
(2, D) and origin m: a code z sits at A (z - m) on the plane, so a Gaussian N(mu, Sigma) of codes is seen
there as N(A (mu - m), A Sigma A^T), exactly.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vae.analysis.diagnostics import PRIOR_MASS, DensityGrids, _plane_axes
from vae.analysis.projection import Projection

ELLIPSE_SIGMAS = 1.0  # ellipses are drawn at one standard deviation of each image's posterior
PRIOR_RING_MASSES = (0.5, PRIOR_MASS)  # the prior's rings: half its mass, and the region where holes are looked for
DENSITY_RESOLUTION = 120  # cells per side of the density picture and of the holes' grid
DENSITY_MAX_IMAGES = 10_000  # posteriors mixed for the density picture; a seeded sample of larger test sets
DATA_RGB = (0, 114, 178)  # Okabe-Ito blue: where the images' codes are
HOLE_RGB = (213, 94, 0)  # Okabe-Ito vermillion: the holes
DATA_ALPHA = 150  # opacity (0-255) of the data shading where it is densest
HOLE_ALPHAS = (170, 70)  # opacity of a hole's hatching stripes, and between them
HATCH_PERIOD = 6  # picture cells from one hatching stripe to the next
HATCH_WIDTH = 2  # cells of each stripe


@dataclass(frozen=True)
class Ellipses:
    """One ellipse per image on the plane: centre, semi-axes and the major axis's direction."""

    centres: np.ndarray  # (N, 2) plane position of each image's mean code
    major: np.ndarray  # (N,) longer semi-axis, plane units
    minor: np.ndarray  # (N,) shorter semi-axis, plane units
    angle: np.ndarray  # (N,) radians from the plane's x axis to the major axis, counter-clockwise (y up)


def plane_covariances(logvars: np.ndarray, projection: Projection) -> np.ndarray:
    """Each posterior's covariance as the plane sees it: A diag(exp(logvar_i)) A^T, (N, D) -> (N, 2, 2)."""
    axes = _plane_axes(projection)
    variances = np.exp(np.asarray(logvars, np.float64).reshape(-1, axes.shape[1]))
    return np.einsum("ad,nd,bd->nab", axes, variances, axes)


def ellipse_axes(covariances: np.ndarray, sigmas: float = ELLIPSE_SIGMAS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``sigmas``-standard-deviation ellipses of 2x2 covariances (N, 2, 2): major (N,), minor (N,), angle (N,).

    The eigen-decomposition of [[a, b], [b, d]] in closed form: eigenvalues (a + d) / 2 +- sqrt(((a - d) / 2)^2 + b^2),
    the larger one's eigenvector at angle atan2(2b, a - d) / 2; the semi-axes are ``sigmas`` times their roots.
    """
    cov = np.asarray(covariances, np.float64).reshape(-1, 2, 2)
    a, b, d = cov[:, 0, 0], 0.5 * (cov[:, 0, 1] + cov[:, 1, 0]), cov[:, 1, 1]
    centre, spread = 0.5 * (a + d), np.hypot(0.5 * (a - d), b)
    major = sigmas * np.sqrt(np.maximum(centre + spread, 0.0))
    minor = sigmas * np.sqrt(np.maximum(centre - spread, 0.0))
    return major, minor, 0.5 * np.arctan2(2 * b, a - d)


def posterior_ellipses(means: np.ndarray, logvars: np.ndarray, projection: Projection,
                       sigmas: float = ELLIPSE_SIGMAS) -> Ellipses:
    """Where each test image's code may lie, on the plane: its posterior's ``sigmas`` ellipse.

    In plain words: the model is unsure of each picture's exact code; the ellipse shows how unsure.
    """
    centres = projection.to_2d(np.asarray(means, np.float64)).astype(np.float64)
    major, minor, angle = ellipse_axes(plane_covariances(logvars, projection), sigmas)
    return Ellipses(centres, major, minor, angle)


def ellipse_mass(sigmas: float = ELLIPSE_SIGMAS) -> float:
    """Share (0..1) of a 2-D Gaussian inside its ``sigmas`` ellipse: 1 - exp(-sigmas^2 / 2) (39.3% at 1 sigma)."""
    return 1.0 - math.exp(-0.5 * sigmas**2)


def prior_rings(projection: Projection, masses: tuple[float, ...] = PRIOR_RING_MASSES) -> tuple[np.ndarray, np.ndarray]:
    """The prior's rings on the plane: centre (2,) and radii (k,), each ring holding ``masses[k]`` of the prior.

    On a plane with orthonormal axes A and origin m the prior N(0, I) is N(-A m, I), a round Gaussian:
    its ring of mass q has radius sqrt(-2 ln(1 - q)). In plain words: where the model expects codes
    before it has seen any picture.
    """
    axes = _plane_axes(projection)
    centre = -(np.asarray(projection.mean, np.float64) @ axes.T)
    return centre, np.sqrt(-2.0 * np.log1p(-np.asarray(masses, np.float64)))


def density_sample(count: int, limit: int = DENSITY_MAX_IMAGES, seed: int = 0) -> np.ndarray:
    """Which images' posteriors the density picture mixes: all of them, or a seeded sample of ``limit`` (sorted)."""
    if count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, limit, replace=False))


def density_picture(grids: DensityGrids, show_data: bool, show_holes: bool = True) -> np.ndarray:
    """The picture under the dots, (R, R, 4) RGBA uint8, row 0 at the top as the grids are.

    ``show_data`` shades where the images' codes are (the aggregate posterior; the square root of its
    density against its peak, so thin regions still show); ``show_holes`` hatches the holes.
    """
    picture = np.zeros((*grids.aggregate.shape, 4), np.uint8)
    if show_data:
        peak = float(grids.aggregate.max())
        share = np.sqrt(grids.aggregate / peak) if peak > 0 else np.zeros_like(grids.aggregate)
        picture[..., :3] = DATA_RGB
        picture[..., 3] = np.round(DATA_ALPHA * share).astype(np.uint8)
    if show_holes:
        rows, columns = np.indices(grids.holes.shape)
        stripes = (rows + columns) % HATCH_PERIOD < HATCH_WIDTH
        picture[grids.holes, :3] = HOLE_RGB
        picture[grids.holes, 3] = np.where(stripes, *HOLE_ALPHAS)[grids.holes]
    return picture


def picture_extent(grids: DensityGrids) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) plane edges of the picture: each grid point is a cell's centre, so half a cell
    lies beyond the outermost points."""
    half_x = 0.5 * (grids.xs[-1] - grids.xs[0]) / max(len(grids.xs) - 1, 1)
    half_y = 0.5 * (grids.ys[0] - grids.ys[-1]) / max(len(grids.ys) - 1, 1)
    return (float(grids.xs[0] - half_x), float(grids.xs[-1] + half_x),
            float(grids.ys[-1] - half_y), float(grids.ys[0] + half_y))


def rgba_png(picture: np.ndarray) -> bytes:
    """An (H, W, 4) RGBA uint8 picture as PNG file bytes (transparency kept)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(picture, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
