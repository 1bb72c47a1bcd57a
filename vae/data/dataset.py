"""The Dataset: images and labels split into train and test parts, as numpy arrays (no torch)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vae.errors import DataError


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and labels split into train and test parts.

    ``eq=False`` keeps identity comparison and hashing: numpy fields cannot be
    compared or hashed as a tuple.

    Attributes:
        name: Short name shown in the app.
        train_images: (N, H, W) float32 in [0, 1].
        train_labels: (N,) int64 class indices.
        test_images: (M, H, W) float32 in [0, 1].
        test_labels: (M,) int64 class indices.
        class_names: One name per class index.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]

    @property
    def image_shape(self) -> tuple[int, int]:
        """Image height and width, (H, W)."""
        height, width = self.train_images.shape[1:3]
        return int(height), int(width)


def require_image_size(images: np.ndarray, image_shape: tuple[int, ...], dataset: str) -> None:
    """A DataError unless ``images`` (N, H, W) are ``image_shape`` (H, W): a model can only read its own size."""
    size = tuple(np.shape(images)[1:])
    if size != tuple(image_shape):
        raise DataError(f"The {dataset} images are {size}, but the model reads {tuple(image_shape)}; "
                        f"pick the dataset the model was trained on.")
