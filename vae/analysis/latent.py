"""Latent-space tools, numpy in and numpy out: encode, decode, grids, interpolation, projections."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from vae.analysis.projection import Projection, dims_projection, lerp, plane_projection, slerp
from vae.config import ModelConfig, TrainConfig
from vae.models import BaseVAE


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

    @property
    def channels(self) -> int:
        """1 for a grey model, 3 for a colour one."""
        return self.config.channels

    @property
    def image_dims(self) -> tuple[int, ...]:
        """The shape of one image: (H, W) for grey, (H, W, 3) for colour."""
        return self.config.image_dims

    @torch.no_grad()
    def encode(self, images: np.ndarray, batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
        """(N, H, W) grey or (N, H, W, 3) colour images in [0, 1] -> mu (N, D), logvar (N, D)."""
        data = np.asarray(images, np.float32).reshape(-1, *self.image_dims)
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
        """(N, D) or (D,) latents -> (N, H, W) or (N, H, W, 3) images in [0, 1]; non-finite inputs are clipped."""
        points = np.nan_to_num(np.asarray(z, np.float32).reshape(-1, self.latent_dim), nan=0.0, posinf=1e6, neginf=-1e6)
        chunks = [
            self.module.decode(torch.from_numpy(points[start : start + batch_size])).numpy()
            for start in range(0, len(points), batch_size)
        ]
        images = np.concatenate(chunks) if chunks else np.zeros((0, *self.image_dims), np.float32)
        return np.nan_to_num(images, nan=0.5).clip(0.0, 1.0)

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """(N, *image_dims) -> (N, *image_dims): decode the mean of each image's encoding."""
        mu, _ = self.encode(images)
        return self.decode(mu)

    def sample_prior(self, count: int, temperature: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Draw z ~ N(0, temperature^2 I): latents (count, D) and images (count, *image_dims)."""
        rng = np.random.default_rng(seed)
        z = (rng.standard_normal((count, self.latent_dim)) * temperature).astype(np.float32)
        return z, self.decode(z)

    def plane_projection(self, means: np.ndarray, method: str = "pca", dims: tuple[int, int] = (0, 1)) -> Projection:
        """How the latent space maps onto the 2-D plane the app draws."""
        return plane_projection(means, self.latent_dim, method, dims)

    def manifold_grid(
        self,
        count: int = 20,
        x_range: tuple[float, float] = (-3.0, 3.0),
        y_range: tuple[float, float] = (-3.0, 3.0),
        projection: Projection | None = None,
        base: np.ndarray | None = None,
    ) -> np.ndarray:
        """Decode a count x count grid over the plane: (count, count, *image_dims), row 0 at the top (high y).

        For a latent above 2-D the dims off the plane stay at ``base`` (default: the plane origin).
        """
        plane = projection or dims_projection(self.latent_dim, (0, 1))
        xs = np.linspace(*x_range, count)
        ys = np.linspace(*y_range, count)[::-1]
        grid_x, grid_y = np.meshgrid(xs, ys)  # (count, count) each
        points = plane.from_2d(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1), base)
        return self.decode(points).reshape(count, count, *self.image_dims)

    def interpolate(self, z0: np.ndarray, z1: np.ndarray, steps: int = 10, method: str = "linear") -> tuple[np.ndarray, np.ndarray]:
        """Path (steps, D) from z0 to z1, linear or spherical, and its decoded images (steps, *image_dims)."""
        path = slerp(z0, z1, steps) if method == "spherical" else lerp(z0, z1, steps)
        return path, self.decode(path)

    def traverse(self, dim: int, base: np.ndarray | None = None, values: np.ndarray | None = None) -> np.ndarray:
        """Move one latent dim over ``values`` (default -3..3, 9 steps) from ``base``: (len(values), *image_dims)."""
        steps = np.linspace(-3, 3, 9) if values is None else np.asarray(values, np.float32)
        points = np.tile(np.zeros(self.latent_dim, np.float32) if base is None else np.asarray(base, np.float32), (len(steps), 1))
        points[:, dim] = steps
        return self.decode(points)

    def reconstruction_errors(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reconstructions (N, *image_dims) and each one's mean squared pixel error (N,)."""
        data = np.asarray(images, np.float32)
        recon = self.reconstruct(data)
        return recon, mean_squared_errors(recon, data)

    def errors_per_image(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Each image's mean squared pixel error (N,) against its reconstruction, in batches to bound memory.

        The error is the average, over all pixels, of the squared difference in grey level (0..1)
        between the image and the model's redrawn version: 0 is a perfect copy, 1 the worst possible. For a
        colour image every channel of every pixel counts once.
        """
        data = np.asarray(images, np.float32).reshape(-1, *self.image_dims)
        batches = [data[start : start + batch_size] for start in range(0, len(data), batch_size)]
        chunks = [mean_squared_errors(self.reconstruct(batch), batch) for batch in batches]
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def mean_squared_errors(recon: np.ndarray, images: np.ndarray) -> np.ndarray:
    """(N, ...) reconstructions and images -> (N,) mean squared differences over every pixel (and channel)."""
    return ((recon - images) ** 2).reshape(len(images), -1).mean(axis=1)
