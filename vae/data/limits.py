"""Limits on the user's own images (README: "Limits on your own images"), checked before any pixel is decoded."""
from __future__ import annotations

import zipfile
import zlib

from vae.errors import DataError

MAX_ZIP_ENTRIES = 100_000  # more entries than this in an upload is refused
MAX_UNCOMPRESSED_BYTES = 512 * 1024**2  # a zip's files unpacked, or an .npz's arrays as declared in their headers
# Budgets checked from the headers before any pixel is decoded (README: "Limits on your own images"):
# Pixel values of a whole upload at its final size, N x H x W x C (256 MiB as float32): a colour picture counts
# three times, once per channel, as it takes three times the memory and the training work.
MAX_UPLOAD_PIXELS = 64 * 1024**2
# 100 classes: CIFAR-100's, the most of the common labelled image sets; past that the map's legend, its class
# chips and the class pickers stop being readable (and 11 colours x 6 shapes give only 66 distinct marks).
MAX_CLASSES = 100
MAX_CLASS_NAME_CHARS = 100  # longest class name (a zip's folder name, or an entry of class_names)
MIN_IMAGE_SIDE = 4  # smallest height or width a dataset image may have
MAX_IMAGE_SIDE = 256  # largest height or width a dataset image may have
# What zipfile and zlib raise on damaged, encrypted or exotic archives.
ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError)


def check_image_shape(shape: tuple[int, ...], source: str, advice: str = "Resize them first.") -> None:
    """Refuse image sizes outside MIN_IMAGE_SIDE..MAX_IMAGE_SIDE; ``shape`` is (H, W)."""
    if len(shape) != 2 or min(shape) < MIN_IMAGE_SIDE or max(shape) > MAX_IMAGE_SIDE:
        raise DataError(
            f"{source}: images are {'x'.join(str(side) for side in shape)} (HxW); each side must be "
            f"between {MIN_IMAGE_SIDE} and {MAX_IMAGE_SIDE} pixels. {advice}"
        )


def check_pixel_budget(count: int, size: tuple[int, int], file_name: str, channels: int = 1) -> None:
    """Refuse ``count`` images of ``size`` (H, W) with ``channels`` values per pixel beyond MAX_UPLOAD_PIXELS values."""
    values = count * size[0] * size[1] * channels
    if values <= MAX_UPLOAD_PIXELS:
        return
    if channels == 1:
        raise DataError(f"{file_name} holds {count:,} images of {size[0]}x{size[1]} pixels, {values:,} pixels in "
                        f"all; the limit is {MAX_UPLOAD_PIXELS:,} pixels. Upload fewer images, or smaller ones.")
    raise DataError(f"{file_name} holds {count:,} colour images of {size[0]}x{size[1]} pixels, {values:,} pixel "
                    f"values in all (3 per colour pixel); the limit is {MAX_UPLOAD_PIXELS:,} pixel values. Upload "
                    f"fewer images or smaller ones, or turn them grey.")


def check_class_count(count: int, file_name: str, what: str) -> None:
    """Refuse more than MAX_CLASSES classes; ``what`` says what was counted ("class folders")."""
    if count > MAX_CLASSES:
        raise DataError(f"{file_name} has {count:,} {what}; the limit is {MAX_CLASSES} classes. "
                        "Merge some classes, or upload fewer.")


def check_class_names(class_names: tuple[str, ...], file_name: str, what: str) -> None:
    """Refuse more than MAX_CLASSES classes, or a name longer than MAX_CLASS_NAME_CHARS."""
    check_class_count(len(class_names), file_name, what)
    longest = max(class_names, key=len, default="")
    if len(longest) > MAX_CLASS_NAME_CHARS:
        raise DataError(f"{file_name}: a class is called {longest[:40]!r}..., {len(longest):,} characters long; "
                        f"the limit is {MAX_CLASS_NAME_CHARS} characters. Give it a shorter name.")
