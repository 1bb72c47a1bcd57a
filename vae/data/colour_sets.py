"""CIFAR-10, SVHN and CelebA: colour photos that torchvision downloads when online, read here from their raw files.

torchvision fetches and unpacks each set (``download=True``), but its readers check every file's MD5
and unpickle CIFAR's batches with nothing held back. Here the same raw files are read directly: CIFAR's
pickled batches through an unpickler that builds only numpy arrays and plain values, SVHN's MATLAB
files with scipy, CelebA's text lists and JPEG files with PIL. A set that is missing and cannot be
downloaded gets the same message as the MNIST family (vae.data.torchvision_sets.describe_missing_files).

Layout under the data root (what torchvision writes):

- ``cifar-10-batches-py/``: ``data_batch_1`` .. ``data_batch_5``, ``test_batch``, ``batches.meta``.
- ``SVHN/``: ``train_32x32.mat``, ``test_32x32.mat`` (X: 32x32x3xN uint8, y: N labels, 10 meaning the digit 0).
- ``celeba/``: ``img_align_celeba/*.jpg``, ``list_eval_partition.txt``, ``list_attr_celeba.txt``,
  ``identity_CelebA.txt`` (and the bbox and landmark lists torchvision also fetches).

CelebA has 202,599 faces of 178x218 pixels: ``celeba-64`` takes the first CELEBA_TRAIN of its training
partition and the first CELEBA_TEST of its test partition, crops each to the central CELEBA_CROP square
(the face) and resizes it to 64x64, as PyTorch-VAE and many papers do. The result (1.1 GB as float32)
is kept as uint8 in ``celeba/celeba-64.npz`` so later loads skip the 22,000 JPEG decodes.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from vae.data.array_cache import read_cached, write_cached
from vae.data.builtin import OFFLINE_DATASETS
from vae.data.dataset import Dataset
from vae.data.shapes_set import to_float
from vae.data.torchvision_sets import describe_missing_files
from vae.errors import DataError

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{index}" for index in range(1, 6))
CIFAR_TEST, CIFAR_META = "test_batch", "batches.meta"
CIFAR_SIDE = 32
MAX_BATCH_BYTES = 64 * 1024**2  # a CIFAR batch file is 31 MB; a larger one is not a batch
SVHN_FOLDER = "SVHN"
SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")
SVHN_ZERO_LABEL = 10  # SVHN files call the digit 0 "10"
CELEBA_FOLDER, CELEBA_IMAGES = "celeba", "img_align_celeba"
CELEBA_PARTITION, CELEBA_ATTRIBUTES = "list_eval_partition.txt", "list_attr_celeba.txt"
CELEBA_TRAIN, CELEBA_TEST = 20_000, 2_000  # faces taken from the training and test partitions
CELEBA_TRAIN_PART, CELEBA_TEST_PART = "0", "2"  # list_eval_partition.txt: 0 train, 1 validation, 2 test
CELEBA_CROP = 148  # pixels: the central square of a 178x218 aligned face that holds the face
CELEBA_SIDE = 64
# Labels by hair colour (first attribute set wins), a visible trait the map can show; the rest: "other hair".
CELEBA_HAIR = (("Black_Hair", "black hair"), ("Blond_Hair", "blond hair"), ("Brown_Hair", "brown hair"),
               ("Gray_Hair", "grey hair"))
CELEBA_OTHER = "other hair"
# The only callables a CIFAR batch may name: numpy's array rebuilders, and bytes as Python 3 pickles them.
_PICKLE_NAMES = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}
_READ_ERRORS = (OSError, ValueError, KeyError, IndexError, TypeError, EOFError, AttributeError,
                pickle.UnpicklingError, NotImplementedError)


def colour_set_files(name: str, root: Path) -> tuple[Path, list[str]]:
    """The folder of a colour set under ``root`` and the names of the files (or folders, ending in /) it needs."""
    layouts = {
        "cifar10": (root / CIFAR_FOLDER, [*CIFAR_TRAIN, CIFAR_TEST, CIFAR_META]),
        "svhn": (root / SVHN_FOLDER, list(SVHN_FILES)),
        "celeba-64": (root / CELEBA_FOLDER, [f"{CELEBA_IMAGES}/", CELEBA_PARTITION, CELEBA_ATTRIBUTES]),
    }
    return layouts[name]


def load_colour_set(name: str, root: Path, download: bool) -> Dataset:
    """CIFAR-10 (``cifar10``), SVHN (``svhn``) or CelebA (``celeba-64``) as a Dataset of (N, H, W, 3) float32.

    Raises:
        DataError: the files are missing and cannot be downloaded (the message says where to put them),
            or they cannot be read.
    """
    folder, names = colour_set_files(name, root)
    if download and not has_files(folder, names):
        try:
            DOWNLOADERS[name](root)
        except Exception as error:  # noqa: BLE001 - torchvision raises URLError, RuntimeError, ImportError (gdown), ...
            raise DataError(describe_missing_files(name, folder, names, error, compressed_too=False)) from None
    if not has_files(folder, names):
        missing = FileNotFoundError("its files are not on this machine")
        raise DataError(describe_missing_files(name, folder, names, missing, compressed_too=False))
    try:
        return READERS[name](folder)
    except _READ_ERRORS as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise DataError(f"Could not read {name!r} from {folder} ({reason}). The files look damaged: delete them "
                        f"and download again, or pick an offline dataset: {', '.join(OFFLINE_DATASETS)}.") from None


def has_files(folder: Path, names: list[str]) -> bool:
    """Whether every named file (or folder, a name ending in /) is there."""
    return all((folder / name).is_dir() if name.endswith("/") else (folder / name).is_file() for name in names)


# ---------------------------------------------------------------- CIFAR-10


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, lists, dicts, numbers and text; any other callable is refused, never run."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _PICKLE_NAMES:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"the file names {module}.{name}, which a CIFAR batch never does")


def read_cifar_batch(path: Path) -> dict:
    """One CIFAR batch or meta file (a Python 2 pickle) as a dict, nothing in it ever run."""
    if path.stat().st_size > MAX_BATCH_BYTES:
        raise ValueError(f"{path.name} is larger than any CIFAR batch")
    entry = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    if not isinstance(entry, dict):
        raise ValueError(f"{path.name} is not a CIFAR batch")
    return {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in entry.items()}


def cifar_images(folder: Path, names: tuple[str, ...], classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The batches' images (N, 32, 32, 3) float32 and labels (N,): rows of 3072 bytes, red plane first."""
    images, labels = [], []
    for name in names:
        entry = read_cifar_batch(folder / name)
        data = np.asarray(entry["data"])
        batch_labels = np.asarray(entry.get("labels", entry.get("fine_labels")), dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * CIFAR_SIDE**2:
            raise ValueError(f"{name} holds {data.dtype} data of shape {data.shape}, not rows of 3072 bytes")
        if batch_labels.shape != (len(data),) or (batch_labels < 0).any() or (batch_labels >= classes).any():
            raise ValueError(f"{name} has labels that do not fit its {len(data)} images")
        images.append(data.reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE).transpose(0, 2, 3, 1))  # planes -> (H, W, RGB)
        labels.append(batch_labels)
    return to_float(np.concatenate(images)), np.concatenate(labels)


def read_cifar10(folder: Path) -> Dataset:
    """CIFAR-10 with its own split: 50,000 training and 10,000 test images of 32x32."""
    class_names = tuple(str(name) for name in read_cifar_batch(folder / CIFAR_META)["label_names"])
    train_images, train_labels = cifar_images(folder, CIFAR_TRAIN, len(class_names))
    test_images, test_labels = cifar_images(folder, (CIFAR_TEST,), len(class_names))
    return Dataset("cifar10", train_images, train_labels, test_images, test_labels, class_names)


# ---------------------------------------------------------------- SVHN


def svhn_part(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One SVHN .mat file: images (N, 32, 32, 3) float32 and labels 0..9."""
    from scipy.io import loadmat

    arrays = loadmat(str(path), variable_names=["X", "y"])
    pixels, labels = np.asarray(arrays["X"]), np.asarray(arrays["y"]).astype(np.int64).ravel()
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[2] != 3 or pixels.shape[3] != len(labels):
        raise ValueError(f"{path.name} holds {pixels.dtype} images of shape {pixels.shape}, not 32x32x3xN bytes")
    if (labels < 1).any() or (labels > SVHN_ZERO_LABEL).any():
        raise ValueError(f"{path.name} has labels outside 1..10")
    return to_float(np.ascontiguousarray(pixels.transpose(3, 0, 1, 2))), labels % SVHN_ZERO_LABEL


def read_svhn(folder: Path) -> Dataset:
    """SVHN's training and test files (73,257 and 26,032 digits of 32x32; the 'extra' set is not used)."""
    train_images, train_labels = svhn_part(folder / SVHN_FILES[0])
    test_images, test_labels = svhn_part(folder / SVHN_FILES[1])
    return Dataset("svhn", train_images, train_labels, test_images, test_labels, tuple(str(d) for d in range(10)))


# ---------------------------------------------------------------- CelebA


def read_lists(folder: Path) -> tuple[list[str], list[str], np.ndarray]:
    """The faces' file names and partitions (list_eval_partition.txt) and their hair labels (list_attr_celeba.txt)."""
    rows = [line.split() for line in (folder / CELEBA_PARTITION).read_text().splitlines() if line.strip()]
    names, parts = [row[0] for row in rows], [row[1] for row in rows]
    lines = (folder / CELEBA_ATTRIBUTES).read_text().splitlines()
    header, table = lines[1].split(), {row[0]: row[1:] for row in (line.split() for line in lines[2:] if line.strip())}
    columns = [header.index(attribute) for attribute, _ in CELEBA_HAIR]
    labels = np.full(len(names), len(CELEBA_HAIR), dtype=np.int64)
    for index, name in enumerate(names):
        flags = [table[name][column] == "1" for column in columns]
        labels[index] = flags.index(True) if True in flags else len(CELEBA_HAIR)
    return names, parts, labels


def face(path: Path) -> np.ndarray:
    """One aligned face: the central CELEBA_CROP square (or the largest that fits), resized to 64x64 RGB uint8."""
    with Image.open(path, formats=("JPEG", "PNG")) as image:
        width, height = image.size
        side = min(CELEBA_CROP, width, height)
        left, top = (width - side) // 2, (height - side) // 2
        crop = image.convert("RGB").crop((left, top, left + side, top + side))
        return np.asarray(crop.resize((CELEBA_SIDE, CELEBA_SIDE), Image.Resampling.BICUBIC), dtype=np.uint8)


def read_celeba(folder: Path) -> Dataset:
    """The first CELEBA_TRAIN training and CELEBA_TEST test faces at 64x64, labelled by hair colour."""
    version = celeba_version(folder)
    kept = read_cached(folder / "celeba-64.npz", version)
    if kept is None:
        names, parts, labels = read_lists(folder)
        chosen = [[i for i, part in enumerate(parts) if part == wanted][:limit]
                  for wanted, limit in ((CELEBA_TRAIN_PART, CELEBA_TRAIN), (CELEBA_TEST_PART, CELEBA_TEST))]
        kept = {"train": np.stack([face(folder / CELEBA_IMAGES / names[i]) for i in chosen[0]]),
                "test": np.stack([face(folder / CELEBA_IMAGES / names[i]) for i in chosen[1]]),
                "train_labels": labels[chosen[0]], "test_labels": labels[chosen[1]]}
        write_cached(folder / "celeba-64.npz", version, kept)
    class_names = (*(label for _, label in CELEBA_HAIR), CELEBA_OTHER)
    return Dataset("celeba-64", to_float(kept["train"]), kept["train_labels"].astype(np.int64),
                   to_float(kept["test"]), kept["test_labels"].astype(np.int64), class_names)


def celeba_version(folder: Path) -> str:
    """What the kept 64x64 faces were made from: the two lists' sizes and times, and the subset's sizes."""
    stamps = [f"{(folder / name).stat().st_size}:{(folder / name).stat().st_mtime_ns}"
              for name in (CELEBA_PARTITION, CELEBA_ATTRIBUTES)]
    return f"celeba:{CELEBA_TRAIN}:{CELEBA_TEST}:{CELEBA_CROP}:{CELEBA_SIDE}:{':'.join(stamps)}"


# ---------------------------------------------------------------- downloads (torchvision) and readers


def _download_cifar10(root: Path) -> None:
    import torchvision.datasets

    torchvision.datasets.CIFAR10(str(root), train=True, download=True)


def _download_svhn(root: Path) -> None:
    import torchvision.datasets

    for split in ("train", "test"):
        torchvision.datasets.SVHN(str(root / SVHN_FOLDER), split=split, download=True)


def _download_celeba(root: Path) -> None:
    import torchvision.datasets

    torchvision.datasets.CelebA(str(root), split="all", target_type=[], download=True)


DOWNLOADERS: dict[str, Callable[[Path], None]] = {
    "cifar10": _download_cifar10, "svhn": _download_svhn, "celeba-64": _download_celeba,
}
READERS: dict[str, Callable[[Path], Dataset]] = {"cifar10": read_cifar10, "svhn": read_svhn, "celeba-64": read_celeba}
COLOUR_SETS: tuple[str, ...] = tuple(READERS)
VERSION_FILES: dict[str, str] = {  # the file whose size and time name a set's version (vae.data.registry)
    "cifar10": f"{CIFAR_FOLDER}/{CIFAR_TEST}", "svhn": f"{SVHN_FOLDER}/{SVHN_FILES[1]}",
    "celeba-64": f"{CELEBA_FOLDER}/{CELEBA_PARTITION}",
}
