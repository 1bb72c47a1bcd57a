"""A model's training time-lapse: its test images' codes after each epoch, kept beside its checkpoint (numpy only).

``<stem>.timelapse.npz`` holds, for up to :data:`MAX_FRAMES` epochs, the codes (latent means) of the
first :data:`MAX_IMAGES` test images, their positions on ONE fixed plane and ONE fixed frame, so an
animation of the frames shows the codes moving, not the axes. Like the map's codes file
(vae.io.codes) it records the SHA-256 of the checkpoint it belongs to: after the checkpoint
changes, it is stale and ignored.

What is stored, and why:
- ``points`` (F, N, 2) float32: every frame on the plane of the FINAL epoch's codes (the latent
  space itself for 1 or 2 dims, else the PCA plane of the last frame), so the last frame reads like
  the Latent space map and earlier frames show how the space got there. Always present.
- ``codes`` (F, N, D) float16: the full codes, for other planes, while they fit
  :data:`CODES_BUDGET_BYTES` (8 MiB: 200 frames of 1,000 images at up to 20 dims); above that only
  the points are kept (a 64-D model over 200 epochs would need 25 MB).
- Runs of more than MAX_FRAMES epochs keep every k-th epoch (1, 1 + k, 1 + 2k, ...) and the last.
"""
from __future__ import annotations

import logging
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vae.analysis.projection import Projection, plane_projection
from vae.config import MAX_EPOCHS, MAX_LATENT_DIM
from vae.files import timelapse_path, write_atomically
from vae.io.codes import file_digest

TIMELAPSE_FORMAT = 1
MAX_IMAGES = 1000  # test images followed through training (the first ones of the test set)
MAX_FRAMES = 200  # epochs kept; longer runs keep every k-th
CODES_BUDGET_BYTES = 8 * 2**20  # full float16 codes are kept while they take at most this
MAX_FILE_BYTES = 64 * 2**20  # what reading a time-lapse may unpack in all (a damaged file cannot ask for more)
MAX_CLASS_NAMES = 10_000
FRAME_MARGIN = 0.1  # of the codes' span, added on each side of the frame
MIN_FRAME_SPAN = 1.0  # plane units: a collapsed model's blob still gets a frame it fills visibly
LOGGER = logging.getLogger(__name__)
_READ_ERRORS = (OSError, EOFError, KeyError, ValueError, TypeError, RuntimeError, NotImplementedError,
                zipfile.BadZipFile, zlib.error)


@dataclass(frozen=True)
class Timelapse:
    """The test images' codes after each recorded epoch, on one fixed plane and in one fixed frame."""

    epochs: np.ndarray  # (F,) int64, increasing: the epoch after which each frame was taken
    points: np.ndarray  # (F, N, 2) float32 positions on ``projection``'s plane
    codes: np.ndarray | None  # (F, N, D) float32 full codes, or None when they were over the budget
    labels: np.ndarray  # (N,) int64 class of each image
    indices: np.ndarray  # (N,) int64 test image numbers
    class_names: tuple[str, ...]
    dataset: str
    projection: Projection  # the fixed plane (for the final codes; the latent space itself up to 2 dims)
    frame: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max: one frame for every epoch

    @property
    def latent_dim(self) -> int:
        """Numbers per code."""
        return int(self.projection.axes.shape[1])


def frame_stride(epochs: int) -> int:
    """Keep every k-th epoch so that a run of ``epochs`` gives at most MAX_FRAMES frames (the last included)."""
    return max(1, math.ceil(epochs / (MAX_FRAMES - 1)))


def build_timelapse(epochs: list[int], frames: list[np.ndarray], labels: np.ndarray, class_names: tuple[str, ...],
                    dataset: str) -> Timelapse:
    """A time-lapse from the recorded frames: each (N, D) codes after ``epochs[i]``; the plane fits the last frame."""
    codes = np.stack([np.asarray(frame, np.float32) for frame in frames])  # (F, N, D)
    latent_dim = codes.shape[2]
    projection = plane_projection(codes[-1], latent_dim, "pca")
    points = np.stack([projection.to_2d(frame) for frame in codes]).astype(np.float32)
    kept = codes if codes.size * 2 <= CODES_BUDGET_BYTES else None
    return Timelapse(np.asarray(epochs, np.int64), points, kept, np.asarray(labels, np.int64)[: codes.shape[1]],
                     np.arange(codes.shape[1], dtype=np.int64), tuple(str(name) for name in class_names), dataset,
                     projection, fixed_frame(points))


def fixed_frame(points: np.ndarray) -> tuple[float, float, float, float]:
    """One frame holding the codes of every epoch: the 0.5th..99.5th percentile of each axis, a margin, and 0."""
    bounds = []
    for axis in range(2):
        values = np.asarray(points[..., axis], np.float64).ravel()
        values = values[np.isfinite(values)]
        low, high = np.percentile(values, [0.5, 99.5]) if values.size else (-1.0, 1.0)
        pad = FRAME_MARGIN * (high - low)
        low, high = min(0.0, low - pad), max(0.0, high + pad)
        if high - low < MIN_FRAME_SPAN:
            centre = (low + high) / 2
            low, high = centre - MIN_FRAME_SPAN / 2, centre + MIN_FRAME_SPAN / 2
        bounds += [float(low), float(high)]
    return bounds[0], bounds[1], bounds[2], bounds[3]


def write_timelapse(checkpoint: str | Path, timelapse: Timelapse) -> Path:
    """Save ``timelapse`` beside ``checkpoint`` atomically, tied to the checkpoint's bytes; returns the file."""
    target = timelapse_path(checkpoint)
    arrays = {
        "format": np.array(TIMELAPSE_FORMAT), "checkpoint_sha256": np.array(file_digest(checkpoint)),
        "epochs": timelapse.epochs.astype(np.int64), "points": timelapse.points.astype(np.float32),
        "labels": timelapse.labels.astype(np.int64), "indices": timelapse.indices.astype(np.int64),
        "class_names": np.array(list(timelapse.class_names), dtype=str), "dataset": np.array(timelapse.dataset),
        "plane_mean": np.asarray(timelapse.projection.mean, np.float64),
        "plane_axes": np.asarray(timelapse.projection.axes, np.float64),
        "plane_labels": np.array(list(timelapse.projection.labels), dtype=str),
        "frame": np.asarray(timelapse.frame, np.float64),
    }
    if timelapse.codes is not None:
        arrays["codes"] = timelapse.codes.astype(np.float16)
    write_atomically(target, lambda handle: np.savez_compressed(handle, **arrays))
    return target


def read_timelapse(checkpoint: str | Path) -> Timelapse | None:
    """The time-lapse saved with ``checkpoint``, or None: there is none, it is damaged, or the checkpoint changed since.

    Needs no torch. Every array is checked (shapes, sizes, finite values, increasing epochs) before use.
    """
    target = timelapse_path(checkpoint)
    if not target.is_file():
        return None
    try:
        if _unpacked_bytes(target) > MAX_FILE_BYTES:
            LOGGER.warning("Ignoring an oversized time-lapse %s", target)
            return None
        with np.load(target, allow_pickle=False) as saved:
            stored = {key: saved[key] for key in saved.files}
        if int(stored["format"]) != TIMELAPSE_FORMAT or str(stored["checkpoint_sha256"]) != file_digest(checkpoint):
            return None
        return _checked(stored)
    except _READ_ERRORS:
        LOGGER.warning("Ignoring an unreadable time-lapse %s", target)
        return None


def _unpacked_bytes(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(entry.file_size for entry in archive.infolist())


def _checked(stored: dict[str, np.ndarray]) -> Timelapse | None:
    """The arrays as a Timelapse when they are consistent, else None."""
    epochs, points = np.asarray(stored["epochs"]), np.asarray(stored["points"])
    labels, indices = np.asarray(stored["labels"]), np.asarray(stored["indices"])
    mean, axes, frame = (np.asarray(stored[key], np.float64) for key in ("plane_mean", "plane_axes", "frame"))
    names, plane_labels = stored["class_names"], stored["plane_labels"]
    if epochs.ndim != 1 or not 1 <= len(epochs) <= MAX_FRAMES or points.shape[:1] != epochs.shape:
        return None
    count = points.shape[1] if points.ndim == 3 else -1
    latent_dim = mean.shape[0] if mean.ndim == 1 else 0
    shapes_fit = (points.ndim == 3 and points.shape[2] == 2 and 1 <= count <= MAX_IMAGES
                  and labels.shape == indices.shape == (count,) and 1 <= latent_dim <= MAX_LATENT_DIM
                  and axes.shape == (2, latent_dim) and frame.shape == (4,) and plane_labels.shape == (2,)
                  and names.ndim == 1 and len(names) <= MAX_CLASS_NAMES)
    if not shapes_fit or not _numbers_fit(epochs, points, labels, indices, mean, axes, frame):
        return None
    codes = stored.get("codes")
    if codes is not None:
        codes = np.asarray(codes)
        if codes.shape != (len(epochs), count, latent_dim) or not np.isfinite(codes).all():
            return None
        codes = codes.astype(np.float32)
    labels_text = tuple(str(label) for label in plane_labels)
    return Timelapse(epochs.astype(np.int64), points.astype(np.float32), codes, labels.astype(np.int64),
                     indices.astype(np.int64), tuple(str(name) for name in names), str(stored["dataset"]),
                     Projection(mean=mean, axes=axes, labels=(labels_text[0], labels_text[1])),
                     (float(frame[0]), float(frame[1]), float(frame[2]), float(frame[3])))


def _numbers_fit(epochs, points, labels, indices, mean, axes, frame) -> bool:
    integers = all(np.issubdtype(array.dtype, np.integer) for array in (epochs, labels, indices))
    return (integers and bool((np.diff(epochs) > 0).all()) and 1 <= int(epochs[0]) and int(epochs[-1]) <= MAX_EPOCHS
            and bool((labels >= 0).all()) and bool((indices >= 0).all())
            and all(np.isfinite(array).all() for array in (points, mean, axes, frame))
            and frame[0] < frame[1] and frame[2] < frame[3])
