"""The user's own images, an uploaded .npz or .zip file, read, checked and split like the built-in sets."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vae.data.dataset import Dataset
from vae.data.limits import check_image_shape
from vae.data.npz import read_npz
from vae.data.split import DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, split_dataset
from vae.data.zips import read_image_zip
from vae.errors import DataError


def load_user_dataset(
    path: str | Path,
    name: str | None = None,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SPLIT_SEED,
    image_size: tuple[int, int] | None = None,
    grayscale: bool = False,
) -> Dataset:
    """Load an uploaded ``.npz`` or ``.zip`` file and split it like the built-in sets.

    ``.npz``: key ``images`` (N, H, W) or (N, H, W, C) with C in {1, 3, 4}, uint8 0..255 or
    float in [0, 1] (float up to 255 is read as 0..255); optional ``labels`` (N,) integers and
    ``class_names`` (strings; ``class_names[i]`` names label i). Colour images stay colour, (N, H, W, 3),
    alpha dropped; ``grayscale`` turns them grey (BT.601 luminance). Without labels every image gets label 0 and
    class "all". The labels that occur are renumbered 0..K-1 in increasing order, names kept.

    ``.zip``: one folder per class holding .png/.jpg/.jpeg files, optionally inside one
    wrapping folder. Entries are read in memory, never extracted; the set is colour when any image
    is (unless ``grayscale``), and every image is resized to ``image_size`` or else the most common size.

    Budgets, checked from the headers before any pixel is decoded: at most MAX_UPLOAD_PIXELS pixel
    values (N x H x W x C) at the final size, MAX_CLASSES classes, MAX_UNCOMPRESSED_BYTES of declared arrays (.npz)
    or unpacked files (.zip), and MAX_DECODED_BYTES of decoded zip images. A file that passes is
    stored by :func:`save_user_dataset` in a form that always passes them again.

    Args:
        path: The uploaded file.
        name: Dataset name; defaults to the file name without suffix.
        test_fraction: Share of each class held out for testing.
        seed: Seed of the split.
        image_size: (H, W) to resize every image to, each side 4..256.
        grayscale: Turn colour images grey.

    Returns:
        A Dataset with (N, H, W) grey or (N, H, W, 3) colour float32 images in [0, 1].

    Raises:
        DataError: The file is missing, of the wrong kind, unsafe or malformed.
    """
    path = Path(path)
    images, labels, class_names = read_user_file(path, image_size, grayscale)
    return split_dataset(name or path.stem, images, labels, class_names, test_fraction, seed)


def read_user_file(
    path: Path, image_size: tuple[int, int] | None = None, grayscale: bool = False
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read and validate an uploaded .npz or .zip, in file order (see :func:`load_user_dataset`).

    Returns:
        (images, labels, class_names): (N, H, W) or (N, H, W, 3) float32 in [0, 1], (N,) int64, one name per class.
    """
    if not path.is_file():
        raise DataError(f"File {path} does not exist. Upload a .npz or .zip file.")
    if image_size is not None:
        check_image_shape(tuple(image_size), f"image_size for {path.name}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        images, labels, class_names = read_npz(path, image_size, grayscale)
    elif suffix == ".zip":
        images, labels, class_names = read_image_zip(path, image_size, grayscale)
    else:
        raise DataError(f"{path.name}: unsupported file type {suffix or '(none)'!r}; upload a .npz or .zip file.")
    if len(images) < 2:
        raise DataError(f"{path.name} holds {len(images)} image(s); a dataset needs at least 2.")
    return images, labels, class_names
