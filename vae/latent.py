"""Latent-space tools, numpy in and numpy out: encode, decode, grids, interpolation, projections."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from vae.config import ModelConfig, TrainConfig
from vae.models import BaseVAE


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


@dataclass
class LatentModel:
    """A trained VAE wrapped for the app: every method takes and returns numpy arrays."""

    module: BaseVAE
    dataset: str = ""
    class_names: tuple[str, ...] = ()
    train_config: TrainConfig | None = None
    history: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    created: str = ""
    source: str = ""  # file the model came from

    def __post_init__(self) -> None:
        self.module.eval()

    @property
    def config(self) -> ModelConfig:
        """The architecture."""
        return self.module.config

    @property
    def latent_dim(self) -> int:
        """Number of latent dims."""
        return self.config.latent_dim

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of the images the model reads and writes."""
        return self.config.image_shape

    @torch.no_grad()
    def encode(self, images: np.ndarray, batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
        """(N, H, W) in [0, 1] -> mu (N, D), logvar (N, D)."""
        data = np.asarray(images, np.float32).reshape(-1, *self.image_shape)
        means, logvars = [], []
        for start in range(0, len(data), batch_size):
            mu, logvar = self.module.encode(torch.from_numpy(data[start : start + batch_size]))
            means.append(mu.numpy())
            logvars.append(logvar.numpy())
        if not means:
            empty = np.zeros((0, self.latent_dim), np.float32)
            return empty, empty.copy()
        return np.concatenate(means), np.concatenate(logvars)

    @torch.no_grad()
    def decode(self, z: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """(N, D) or (D,) latents -> (N, H, W) images in [0, 1]; non-finite inputs are clipped."""
        points = np.nan_to_num(np.asarray(z, np.float32).reshape(-1, self.latent_dim), nan=0.0, posinf=1e6, neginf=-1e6)
        chunks = [
            self.module.decode(torch.from_numpy(points[start : start + batch_size])).numpy()
            for start in range(0, len(points), batch_size)
        ]
        images = np.concatenate(chunks) if chunks else np.zeros((0, *self.image_shape), np.float32)
        return np.nan_to_num(images, nan=0.5).clip(0.0, 1.0)

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W) -> (N, H, W): decode the mean of each image's encoding."""
        mu, _ = self.encode(images)
        return self.decode(mu)

    def sample_prior(self, count: int, temperature: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Draw z ~ N(0, temperature^2 I): latents (count, D) and images (count, H, W)."""
        rng = np.random.default_rng(seed)
        z = (rng.standard_normal((count, self.latent_dim)) * temperature).astype(np.float32)
        return z, self.decode(z)

    def plane_projection(self, means: np.ndarray, method: str = "pca", dims: tuple[int, int] = (0, 1)) -> Projection:
        """How the latent space maps onto the 2-D plane the app draws."""
        if self.latent_dim <= 2:
            return dims_projection(self.latent_dim, (0, 1))
        return pca_projection(means) if method == "pca" else dims_projection(self.latent_dim, dims)

    def manifold_grid(
        self,
        count: int = 20,
        x_range: tuple[float, float] = (-3.0, 3.0),
        y_range: tuple[float, float] = (-3.0, 3.0),
        projection: Projection | None = None,
        base: np.ndarray | None = None,
    ) -> np.ndarray:
        """Decode a count x count grid over the plane: (count, count, H, W), row 0 at the top (high y).

        For a latent above 2-D the dims off the plane stay at ``base`` (default: the plane origin).
        """
        plane = projection or dims_projection(self.latent_dim, (0, 1))
        xs = np.linspace(*x_range, count)
        ys = np.linspace(*y_range, count)[::-1]
        grid_x, grid_y = np.meshgrid(xs, ys)  # (count, count) each
        points = plane.from_2d(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1), base)
        return self.decode(points).reshape(count, count, *self.image_shape)

    def interpolate(self, z0: np.ndarray, z1: np.ndarray, steps: int = 10, method: str = "linear") -> tuple[np.ndarray, np.ndarray]:
        """Path (steps, D) from z0 to z1, linear or spherical, and its decoded images (steps, H, W)."""
        path = slerp(z0, z1, steps) if method == "spherical" else lerp(z0, z1, steps)
        return path, self.decode(path)

    def traverse(self, dim: int, base: np.ndarray | None = None, values: np.ndarray | None = None) -> np.ndarray:
        """Move one latent dim over ``values`` (default -3..3, 9 steps) from ``base``: (len(values), H, W)."""
        steps = np.linspace(-3, 3, 9) if values is None else np.asarray(values, np.float32)
        points = np.tile(np.zeros(self.latent_dim, np.float32) if base is None else np.asarray(base, np.float32), (len(steps), 1))
        points[:, dim] = steps
        return self.decode(points)

    def reconstruction_errors(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reconstructions (N, H, W) and each one's mean squared pixel error (N,)."""
        data = np.asarray(images, np.float32)
        recon = self.reconstruct(data)
        return recon, ((recon - data) ** 2).reshape(len(data), -1).mean(axis=1)
