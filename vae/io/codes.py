"""Saved test-image codes: a model's test images encoded once, kept beside its checkpoint (numpy only).

The map of a model shows the codes (latent means) of its test images, and their uncertainty (the
log-variances of each image's posterior q(z|x)) for the ellipses and the density overlays. Computing them needs
torch, the model and the dataset; reading them back from ``<stem>.codes.npz`` needs none of
these, so the map of a model seen before appears as soon as the app starts. The file records
the checkpoint it belongs to (SHA-256 of its bytes) and the version of its dataset; codes made
for another version of either are ignored and made again.
"""
from __future__ import annotations

import hashlib
import logging
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from vae.data.dataset import require_image_size
from vae.data.registry import dataset_version
from vae.files import codes_path, write_atomically

CODES_FORMAT = 2  # 2: the log-variances are kept too; files of format 1 are ignored and made again
ENCODE_BATCH_IMAGES = 4096  # images encoded per step; progress is reported after each
LOGGER = logging.getLogger(__name__)
# What reading a damaged .npz raises: bad zips, bad deflate data, odd compression methods, short files.
_READ_ERRORS = (OSError, EOFError, KeyError, ValueError, TypeError, RuntimeError, NotImplementedError,
                zipfile.BadZipFile, zlib.error)


@dataclass(frozen=True)
class TestCodes:
    """The test images' latent means, log-variances and labels, as the map draws them."""

    means: np.ndarray  # (N, D) float32
    labels: np.ndarray  # (N,) int64
    class_names: tuple[str, ...]
    dataset: str
    logvars: np.ndarray | None = None  # (N, D) float32: log sigma^2 of each image's posterior; None when not known


class Encoder(Protocol):
    """Anything with LatentModel's ``image_dims`` and ``encode``: (N, *image_dims) -> (means (N, D), logvars (N, D))."""

    image_dims: tuple[int, ...]  # (H, W) grey or (H, W, 3) colour

    def encode(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, as hex (read in 1 MiB pieces)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for piece in iter(lambda: stream.read(2**20), b""):
            digest.update(piece)
    return digest.hexdigest()


def read_test_codes(checkpoint: str | Path, dataset_version: str) -> TestCodes | None:
    """The saved codes of ``checkpoint``, or None when there are none, they are stale, or the file is damaged.

    Args:
        checkpoint: the model's .pt file.
        dataset_version: :func:`vae.data.dataset_version` of the model's dataset now.
    """
    target = codes_path(checkpoint)
    if not target.is_file():
        return None
    try:
        with np.load(target, allow_pickle=False) as saved:
            stored = {key: saved[key] for key in saved.files}
        fits = (int(stored["format"]) == CODES_FORMAT and str(stored["dataset_version"]) == dataset_version
                and str(stored["checkpoint_sha256"]) == file_digest(checkpoint))
        if not fits:
            return None
        return _checked(stored)
    except _READ_ERRORS:
        LOGGER.warning("Ignoring unreadable saved codes %s", target)
        return None


def _checked(stored: dict[str, np.ndarray]) -> TestCodes | None:
    means, labels = np.asarray(stored["means"]), np.asarray(stored["labels"])
    if means.ndim != 2 or labels.shape != (len(means),) or not np.isfinite(means).all():
        return None
    logvars = np.asarray(stored["logvars"]) if "logvars" in stored else None
    if logvars is not None and (logvars.shape != means.shape or not np.isfinite(logvars).all()):
        return None
    return TestCodes(means.astype(np.float32), labels.astype(np.int64),
                     tuple(str(name) for name in stored["class_names"]), str(stored["dataset"]),
                     None if logvars is None else logvars.astype(np.float32))


def write_test_codes(checkpoint: str | Path, codes: TestCodes, dataset_version: str) -> Path:
    """Save ``codes`` beside ``checkpoint`` atomically (temp file, fsync, rename); returns the file written."""
    target = codes_path(checkpoint)
    arrays = {
        "format": np.array(CODES_FORMAT), "checkpoint_sha256": np.array(file_digest(checkpoint)),
        "dataset": np.array(codes.dataset), "dataset_version": np.array(dataset_version),
        "means": np.asarray(codes.means, np.float32), "labels": np.asarray(codes.labels, np.int64),
        "class_names": np.array([str(name) for name in codes.class_names], dtype=str),
    }
    if codes.logvars is not None:  # codes made by hand (tests, other tools) may lack them: read back as None
        arrays["logvars"] = np.asarray(codes.logvars, np.float32)
    write_atomically(target, lambda handle: np.savez_compressed(handle, **arrays))
    return target


def encode_test_codes(model: Encoder, test_images: np.ndarray, test_labels: np.ndarray,
                      class_names: tuple[str, ...], dataset: str,
                      progress: Callable[[float], None] | None = None) -> TestCodes:
    """Encode the test images (N, *image_dims) with ``model``: their latent means and log-variances as :class:`TestCodes`.

    They are encoded ENCODE_BATCH_IMAGES at a time; ``progress`` gets the fraction done (0..1) after each
    batch, so a page can show a bar while a large set (70,000 images) is encoded.

    Raises:
        DataError: the images are not the size the model reads.
    """
    require_image_size(test_images, model.image_dims, dataset)
    means, logvars = encode_in_batches(model, test_images, progress)
    return TestCodes(means, np.asarray(test_labels).astype(np.int64), tuple(str(name) for name in class_names), dataset,
                     logvars)


def encode_in_batches(model: Encoder, images: np.ndarray, progress: Callable[[float], None] | None = None,
                      batch_size: int = ENCODE_BATCH_IMAGES) -> tuple[np.ndarray, np.ndarray | None]:
    """The latent means and log-variances (N, D) float32 of (N, *image_dims) images, a batch at a time, reporting the
    fraction done; the log-variances are None when the encoder gives none."""
    total = len(images)
    if not total:
        return _posterior(model.encode(images))
    parts = []
    for start in range(0, total, batch_size):
        parts.append(_posterior(model.encode(images[start : start + batch_size])))
        if progress is not None:
            progress(min(start + batch_size, total) / total)
    means = np.concatenate([mean for mean, _ in parts])
    if any(logvar is None for _, logvar in parts):
        return means, None
    return means, np.concatenate([logvar for _, logvar in parts])


def _posterior(encoded: tuple) -> tuple[np.ndarray, np.ndarray | None]:
    """An encoder's (means, logvars) as float32 arrays; logvars stay None when it gives none."""
    means, logvars = encoded
    return np.asarray(means, np.float32), None if logvars is None else np.asarray(logvars, np.float32)


def save_codes(checkpoint: str | Path, codes: TestCodes) -> Path | None:
    """Save ``codes`` beside ``checkpoint``, keyed by their dataset's version now; returns the file written.

    None for a dataset the app cannot open by name (a file given by path): the app then encodes
    the images itself when it shows the model.
    """
    version = dataset_version(codes.dataset)
    return write_test_codes(checkpoint, codes, version) if version else None


class _TestSet(Protocol):
    """Anything with Dataset's name, test images, test labels and class names."""

    name: str
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]


def save_test_codes(checkpoint: str | Path, model: Encoder, dataset: _TestSet) -> Path | None:
    """Encode ``dataset``'s test images with ``model`` and save the codes beside ``checkpoint``.

    Returns the file written, or None for a dataset the app cannot open by name (a file given by
    path): the app then encodes the images itself when it shows the model.
    """
    version = dataset_version(dataset.name)
    if not version:
        return None
    codes = encode_test_codes(model, dataset.test_images, dataset.test_labels, tuple(dataset.class_names), dataset.name)
    return write_test_codes(checkpoint, codes, version)
