"""Paths and planes in latent space, numpy only (no torch): lerp, slerp and the 2-D projections the map uses."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def lerp(z0: np.ndarray, z1: np.ndarray, steps: int) -> np.ndarray:
    """Straight line from z0 to z1: (D,), (D,) -> (steps, D), endpoints included."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return ((1 - t) * np.asarray(z0, np.float64) + t * np.asarray(z1, np.float64)).astype(np.float32)


def slerp(z0: np.ndarray, z1: np.ndarray, steps: int) -> np.ndarray:
    """Spherical path: the direction turns along the great circle, the length changes linearly.

    Keeping the length linear (rather than the plain slerp formula) means every point's
    norm lies between the endpoints' norms. Opposite 1-D points have no path round, so
    they, like a zero endpoint, get the straight line. (D,), (D,) -> (steps, D), endpoints included.
    """
    a, b = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a < 1e-12 or norm_b < 1e-12:
        return lerp(a, b, steps)
    unit_a, unit_b = a / norm_a, b / norm_b
    angle = np.arccos(np.clip(unit_a @ unit_b, -1.0, 1.0))
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if angle < 1e-6:
        direction = (1 - t) * unit_a + t * unit_b
    elif np.pi - angle < 1e-6:
        if len(a) == 1:  # +x to -x in 1-D: no way round, only through zero
            return lerp(a, b, steps)
        # Opposite directions: every great circle joins them; turn through a fixed perpendicular.
        direction = np.cos(t * np.pi) * unit_a + np.sin(t * np.pi) * _perpendicular(unit_a)
    else:
        direction = (np.sin((1 - t) * angle) * unit_a + np.sin(t * angle) * unit_b) / np.sin(angle)
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    path = direction * ((1 - t) * norm_a + t * norm_b)
    path[0], path[-1] = a, b  # exact endpoints despite rounding
    return path.astype(np.float32)


def _perpendicular(unit: np.ndarray) -> np.ndarray:
    """A unit vector orthogonal to ``unit`` (D >= 2), from the basis axis least aligned with it."""
    axis = np.zeros_like(unit)
    axis[np.argmin(np.abs(unit))] = 1.0
    other = axis - (axis @ unit) * unit
    return other / np.linalg.norm(other)


@dataclass(frozen=True)
class Projection:
    """A linear map between the latent space (D) and a 2-D plane, with a right inverse.

    ``to_2d(from_2d(p)) == p`` for every plane point p. ``from_2d`` keeps the part of
    ``base`` the plane cannot see, so dims off the plane stay at a chosen point.
    """

    mean: np.ndarray  # (D,) origin of the plane in latent space
    axes: np.ndarray  # (2, D) orthonormal rows spanning the plane
    labels: tuple[str, str] = ("x", "y")

    def to_2d(self, points: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, 2)."""
        return ((np.asarray(points, np.float64) - self.mean) @ self.axes.T).astype(np.float32)

    def from_2d(self, plane_points: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
        """(N, 2) -> (N, D): ``base`` (default: the plane's origin) moved within the plane."""
        plane = np.asarray(plane_points, np.float64).reshape(-1, 2)
        anchor = self.mean if base is None else np.asarray(base, np.float64)
        offset = plane - (anchor - self.mean) @ self.axes.T  # (N, 2)
        return (anchor + offset @ self.axes).astype(np.float32)


def pca_projection(points: np.ndarray) -> Projection:
    """The plane of the two main directions of variation of (N, D) points, D >= 2."""
    data = np.asarray(points, np.float64)
    mean = data.mean(axis=0)
    _, _, vt = np.linalg.svd(data - mean, full_matrices=False)
    axes = vt[:2]
    if axes.shape[0] < 2:  # fewer than two points: fall back to the first two dims
        return dims_projection(data.shape[1], (0, 1))
    return Projection(mean=mean, axes=axes, labels=("PCA 1", "PCA 2"))


def dims_projection(latent_dim: int, dims: tuple[int, int] = (0, 1)) -> Projection:
    """The plane of two chosen latent dims; a 1-D latent gets the line y = 0."""
    axes = np.zeros((2, latent_dim))
    for row, dim in enumerate(dims[: min(2, latent_dim)]):
        axes[row, dim] = 1.0
    labels = tuple(f"z{d + 1}" for d in dims[:2]) if latent_dim >= 2 else ("z1", "(none)")
    return Projection(mean=np.zeros(latent_dim), axes=axes, labels=labels)  # type: ignore[arg-type]


def plane_projection(means: np.ndarray, latent_dim: int, method: str = "pca", dims: tuple[int, int] = (0, 1)) -> Projection:
    """How a latent space of ``latent_dim`` dims maps onto the app's 2-D plane.

    Up to 2-D the plane is the latent space itself; above, PCA of ``means`` (N, D) or two chosen dims.
    """
    if latent_dim <= 2:
        return dims_projection(latent_dim, (0, 1))
    return pca_projection(means) if method == "pca" else dims_projection(latent_dim, dims)
