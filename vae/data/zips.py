"""Uploaded .zip files of class folders (grey or colour): read in memory, never extracted; budgets checked from headers."""
from __future__ import annotations

import io
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO

import numpy as np
from PIL import Image

from vae.data.limits import (
    MAX_UNCOMPRESSED_BYTES,
    MAX_ZIP_ENTRIES,
    ZIP_READ_ERRORS,
    check_class_names,
    check_image_shape,
    check_pixel_budget,
)
from vae.errors import DataError

MAX_IMAGE_PIXELS = 4096 * 4096  # one decoded image may not exceed this, checked before decoding
MAX_DECODED_BYTES = 512 * 1024**2  # a zip's images as PIL holds them decoded: width x height x bytes per pixel
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")  # PIL modes of grey images (LA: grey + alpha)
_IMAGE_FORMATS = ("PNG", "JPEG")  # the only decoders PIL may use on uploads
# What PIL raises on unknown, truncated or oversized image data.
_IMAGE_READ_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
_ZIP_LAYOUT_HINT = (
    "Put one folder per class at the top of the zip, e.g. cats/1.png and dogs/7.jpg "
    "(one extra wrapping folder such as mydata/cats/1.png is fine)."
)


def read_image_zip(
    path: Path, image_size: tuple[int, int] | None, grayscale: bool = False
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read a zip of class folders in memory; returns float32 images, labels, class names.

    The images are colour, (N, H, W, 3), when any of them is (grey ones then get three equal channels),
    else grey (N, H, W); ``grayscale`` turns them all grey. Two passes: every image's header first (its
    size and mode; nothing is decoded) for the budgets, then each image is unpacked, decoded and resized
    straight into the result, one at a time.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            entries = list_image_entries(archive, path.name)
            class_names = tuple(sorted({class_name for class_name, _ in entries}))
            check_class_names(class_names, path.name, "class folders")
            headers = read_image_headers(archive, entries, path.name)
            target = tuple(image_size) if image_size is not None else most_common_size(headers)
            check_image_shape(target, path.name, "Resize them first or choose an image size such as (64, 64).")
            channels = 3 if any(header.colour for header in headers) and not grayscale else 1
            check_decoded_budget(headers, target, path.name, channels)
            images = decode_zip_images(archive, headers, target, path.name, channels)
    except ZIP_READ_ERRORS as error:
        raise DataError(f"{path.name} is not a readable zip file ({error}). Re-create it and upload again.") from None
    numbers = {class_name: index for index, class_name in enumerate(class_names)}
    labels = np.array([numbers[header.class_name] for header in headers], dtype=np.int64)
    return images, labels, class_names


def list_image_entries(archive: zipfile.ZipFile, file_name: str) -> list[tuple[str, zipfile.ZipInfo]]:
    """Check a zip's layout and return (class name, entry) pairs sorted by entry name."""
    files = list_zip_files(archive, file_name)
    parts = strip_wrapping_folder([entry_parts(info.filename) for info in files])
    for entry, info in zip(parts, files):
        check_depth(entry, info.filename, file_name)
    return sorted(((entry[0], info) for entry, info in zip(parts, files)), key=lambda pair: pair[1].filename)


def list_zip_files(archive: zipfile.ZipFile, file_name: str) -> list[zipfile.ZipInfo]:
    """File entries of a zip, minus folders and junk, after the count, name and size checks."""
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise DataError(f"{file_name} has {len(infos):,} entries; the limit is {MAX_ZIP_ENTRIES:,}.")
    for info in infos:
        check_entry_name(info.filename, file_name)
    files = [info for info in infos if not info.is_dir() and not is_junk_entry(info.filename)]
    declared = sum(info.file_size for info in files)
    if declared > MAX_UNCOMPRESSED_BYTES:
        raise DataError(f"{file_name} unpacks to {declared:,} bytes; the limit is "
                        f"{MAX_UNCOMPRESSED_BYTES:,}. Upload fewer or smaller images.")
    if not files:
        raise DataError(f"{file_name} contains no images. {_ZIP_LAYOUT_HINT}")
    return files


def check_entry_name(entry_name: str, file_name: str) -> None:
    """Refuse absolute entry names and names that climb out with '..'."""
    unix_path, windows_path = PurePosixPath(entry_name), PureWindowsPath(entry_name)
    if unix_path.is_absolute() or windows_path.is_absolute() or windows_path.drive or entry_name.startswith("\\"):
        raise DataError(f"{file_name}: entry {entry_name!r} has an absolute path; refusing the upload.")
    if ".." in entry_parts(entry_name):
        raise DataError(f"{file_name}: entry {entry_name!r} points outside the zip ('..'); refusing the upload.")


def entry_parts(entry_name: str) -> tuple[str, ...]:
    """Path components of an entry name, accepting both / and \\ separators."""
    return tuple(part for part in entry_name.replace("\\", "/").split("/") if part)


def is_junk_entry(entry_name: str) -> bool:
    """True for macOS metadata (__MACOSX/) and hidden files such as .DS_Store."""
    return any(part == "__MACOSX" or part.startswith(".") for part in entry_parts(entry_name))


def strip_wrapping_folder(parts: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Drop a single top folder that holds only folders, e.g. mydata/cats/1.png -> cats/1.png."""
    tops = {entry[0] for entry in parts}
    if len(tops) == 1 and all(len(entry) >= 3 for entry in parts):
        return [entry[1:] for entry in parts]
    return parts


def check_depth(parts: tuple[str, ...], entry_name: str, file_name: str) -> None:
    """Require every file to sit directly inside a class folder."""
    if len(parts) == 1:
        raise DataError(f"{file_name}: {entry_name!r} is not inside a class folder. {_ZIP_LAYOUT_HINT}")
    if len(parts) > 2:
        raise DataError(f"{file_name}: {entry_name!r} is nested too deep. {_ZIP_LAYOUT_HINT}")


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says, read before anything is decoded."""

    class_name: str
    info: zipfile.ZipInfo
    size: tuple[int, int]  # PIL's (width, height)
    decoded_bytes: int  # memory PIL takes for the decoded pixels
    colour: bool  # whether the image has colour (its mode, and a palette's entries, from the header)


def read_image_headers(
    archive: zipfile.ZipFile, entries: list[tuple[str, zipfile.ZipInfo]], file_name: str
) -> list[ImageHeader]:
    """Each entry's size and decoded size from its header alone (PIL opens lazily; no pixel is decoded)."""
    headers = []
    for class_name, info in entries:
        if not info.filename.lower().endswith(IMAGE_SUFFIXES):
            raise DataError(f"{file_name}: {info.filename!r} is not an image; only "
                            f"{', '.join(IMAGE_SUFFIXES)} files are allowed.")
        with archive.open(info) as member:  # streamed: only the first bytes are unpacked
            image = open_image(member, info.filename, file_name)
            headers.append(ImageHeader(class_name, info, image.size, decoded_bytes(image), has_colour(image)))
    return headers


def has_colour(image: Image.Image) -> bool:
    """Whether an opened (not decoded) image is in colour: its mode, or for a palette image, any entry not grey."""
    if image.mode in GREY_MODES:
        return False
    if image.mode in ("P", "PA"):
        palette = np.asarray(image.getpalette() or [], dtype=np.int64).reshape(-1, 3)  # PNG's PLTE, read with the header
        return bool((palette != palette[:, :1]).any())
    return True


def decoded_bytes(image: Image.Image) -> int:
    """Bytes PIL holds for the decoded image: 1 per pixel for grey and palette, 2 for 16-bit, else 4."""
    width, height = image.size
    per_pixel = 1 if image.mode in ("1", "L", "P") else 2 if image.mode.startswith("I;16") else 4
    return width * height * per_pixel


def check_decoded_budget(headers: list[ImageHeader], size: tuple[int, int], file_name: str, channels: int = 1) -> None:
    """Refuse, before decoding, a result over MAX_UPLOAD_PIXELS values or decoding work over MAX_DECODED_BYTES."""
    check_pixel_budget(len(headers), size, file_name, channels)
    total = sum(header.decoded_bytes for header in headers)
    if total > MAX_DECODED_BYTES:
        raise DataError(f"{file_name}: its {len(headers):,} images decode to {total:,} bytes; the limit is "
                        f"{MAX_DECODED_BYTES:,} bytes. Upload fewer images, or smaller ones.")


def decode_zip_images(
    archive: zipfile.ZipFile, headers: list[ImageHeader], size: tuple[int, int], file_name: str, channels: int = 1
) -> np.ndarray:
    """Unpack, decode and resize each image into one (N, H, W) or (N, H, W, 3) float32 array, one at a time."""
    images = np.empty((len(headers), *size) + ((channels,) if channels > 1 else ()), dtype=np.float32)
    budget = MAX_UNCOMPRESSED_BYTES
    for index, header in enumerate(headers):
        payload = read_member(archive, header.info, budget, file_name)
        budget -= len(payload)
        image = open_image(io.BytesIO(payload), header.info.filename, file_name)
        images[index] = decode_image(image, header.info.filename, size, file_name, channels)
    return images


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, file_name: str) -> bytes:
    """Read one entry but never more than ``limit`` bytes, whatever its header claims."""
    with archive.open(info) as member:
        payload = member.read(limit + 1)
    if len(payload) > limit:
        raise DataError(f"{file_name}: {info.filename!r} unpacks to more data than the upload limit of "
                        f"{MAX_UNCOMPRESSED_BYTES:,} bytes allows; refusing the upload.")
    return payload


def open_image(source: IO[bytes], entry_name: str, file_name: str) -> Image.Image:
    """Open PNG or JPEG data without decoding pixels; refuses images over MAX_IMAGE_PIXELS."""
    try:
        image = Image.open(source, formats=_IMAGE_FORMATS)
    except _IMAGE_READ_ERRORS:
        raise DataError(f"{file_name}: {entry_name!r} is not a readable PNG or JPEG image; "
                        "re-save it or remove it from the zip.") from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(f"{file_name}: {entry_name!r} is {width}x{height} pixels; the limit is "
                        f"{MAX_IMAGE_PIXELS:,} pixels. Shrink it first.")
    return image


def most_common_size(headers: list[ImageHeader]) -> tuple[int, int]:
    """Most common (H, W) among the images; ties go to the first seen."""
    width, height = Counter(header.size for header in headers).most_common(1)[0][0]
    return height, width


def decode_image(
    image: Image.Image, entry_name: str, size: tuple[int, int], file_name: str, channels: int = 1
) -> np.ndarray:
    """Decode to grey (1 channel) or RGB (3) and resize to ``size`` (H, W); returns (H, W[, 3]) float32 in [0, 1]."""
    height, width = size
    try:
        pixels = image.convert("L" if channels == 1 else "RGB")
        if pixels.size != (width, height):
            pixels = pixels.resize((width, height), Image.Resampling.LANCZOS)
    except _IMAGE_READ_ERRORS:
        raise DataError(f"{file_name}: {entry_name!r} is not a readable PNG or JPEG image; "
                        "re-save it or remove it from the zip.") from None
    return np.asarray(pixels, dtype=np.float32) / 255.0
