"""The Dataset: images and labels split into train and test parts, as numpy arrays (no torch); grey and colour."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from vae.errors import DataError

LUMINANCE = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 weights of red, green and blue
GREY_SUFFIX = ":grey"  # "cifar10:grey": a colour dataset's images turned grey (vae.data.registry.load_dataset)
CONVERT_CHUNK_IMAGES = 4096  # images turned grey per step, so no full-size float temporary is made


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and labels split into train and test parts.

    ``eq=False`` keeps identity comparison and hashing: numpy fields cannot be
    compared or hashed as a tuple.

    Attributes:
        name: Short name shown in the app.
        train_images: (N, H, W) grey or (N, H, W, 3) colour, float32 in [0, 1].
        train_labels: (N,) int64 class indices.
        test_images: (M, H, W) or (M, H, W, 3) float32 in [0, 1].
        test_labels: (M,) int64 class indices.
        class_names: One name per class index.
        train_factors: (N, F) int64 known factors of variation (the colour shapes set), else None.
        test_factors: (M, F) int64, else None.
        factor_names: One name per factor column; empty without factors.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    train_factors: np.ndarray | None = None
    test_factors: np.ndarray | None = None
    factor_names: tuple[str, ...] = ()

    @property
    def image_shape(self) -> tuple[int, int]:
        """Image height and width, (H, W)."""
        height, width = self.train_images.shape[1:3]
        return int(height), int(width)

    @property
    def channels(self) -> int:
        """1 for grey images (N, H, W), 3 for colour (N, H, W, 3)."""
        return 1 if self.train_images.ndim == 3 else int(self.train_images.shape[3])

    @property
    def image_dims(self) -> tuple[int, ...]:
        """The shape of one image: (H, W) or (H, W, 3), as a model's ``image_dims``."""
        return tuple(int(side) for side in self.train_images.shape[1:])


def describe_size(image_dims: tuple[int, ...]) -> str:
    """'28x28 grey' or '32x32 colour' for an image shape (H, W) or (H, W, C)."""
    dims = tuple(int(side) for side in image_dims)
    kind = "grey" if len(dims) == 2 or dims[2:] == (1,) else "colour"
    return f"{dims[0]}x{dims[1]} {kind}" if len(dims) >= 2 else str(dims)


def require_image_size(images: np.ndarray, image_dims: tuple[int, ...], dataset: str) -> None:
    """A DataError unless ``images`` (N, *image_dims) are the size and colour a model reads: (H, W) or (H, W, 3)."""
    size = tuple(np.shape(images)[1:])
    if size != tuple(image_dims):
        raise DataError(f"The {dataset} images are {describe_size(size)}, but the model reads "
                        f"{describe_size(tuple(image_dims))} images; pick the dataset the model was trained on.")


def to_grayscale(pixels: np.ndarray) -> np.ndarray:
    """(..., C) floats in [0, 1] to (...) grey: colour by luminance (alpha dropped), one channel as it is."""
    if pixels.shape[-1] == 1:
        return pixels[..., 0]
    return pixels[..., :3] @ LUMINANCE


def grayscale_images(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) float32 colour -> (N, H, W) float32 grey, a few thousand images at a time."""
    result = np.empty(images.shape[:3], dtype=np.float32)
    for start in range(0, len(images), CONVERT_CHUNK_IMAGES):
        result[start:start + CONVERT_CHUNK_IMAGES] = to_grayscale(images[start:start + CONVERT_CHUNK_IMAGES])
    np.clip(result, 0.0, 1.0, out=result)
    return result


def as_grayscale(dataset: Dataset) -> Dataset:
    """The same dataset in grey, named ``<name>:grey``; a grey dataset comes back unchanged."""
    if dataset.channels == 1:
        return dataset
    return replace(dataset, name=f"{dataset.name}{GREY_SUFFIX}", train_images=grayscale_images(dataset.train_images),
                   test_images=grayscale_images(dataset.test_images))
