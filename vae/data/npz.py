"""Uploaded .npz files: arrays checked from their headers, then converted to floats in [0, 1], grey or colour."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from vae.data.dataset import to_grayscale
from vae.data.limits import (
    MAX_UNCOMPRESSED_BYTES,
    MAX_ZIP_ENTRIES,
    ZIP_READ_ERRORS,
    check_class_count,
    check_class_names,
    check_image_shape,
    check_pixel_budget,
)
from vae.errors import DataError

CONVERT_CHUNK_BYTES = 16 * 1024**2  # float32 working memory per step while an .npz's images are converted
COLOUR_CHANNELS = (3, 4)  # RGB, and RGBA whose alpha is dropped: kept as colour unless turned grey


def read_npz(
    path: Path, image_size: tuple[int, int] | None, grayscale: bool = False
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read and validate an uploaded .npz; returns (N, H, W) or (N, H, W, 3) float32 images, labels, class names.

    Colour images stay colour unless ``grayscale``. Every budget is checked from the arrays' headers
    before any array is read.
    """
    headers = read_npz_headers(path)
    if "images" not in headers:
        raise DataError(f"{path.name} has no array named 'images' (found: {', '.join(headers) or 'none'}). "
                        "Save it with np.savez(file, images=..., labels=...).")
    check_images_header(headers["images"], image_size, path.name, grayscale)
    arrays = read_npz_arrays(path)
    images = normalize_images(arrays["images"], path.name, image_size, grayscale)
    if "labels" not in arrays:
        return images, np.zeros(len(images), dtype=np.int64), ("all",)
    labels = validate_labels(arrays["labels"], len(images), path.name)
    labels, class_names = number_classes(labels, arrays.get("class_names"), path.name)
    return images, labels, class_names


def read_npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """Load every array of a .npz without unpickling (call :func:`read_npz_headers` first)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise DataError(f"{path.name} contains Python objects, which are never unpickled. "
                            "Save plain numeric arrays (and class_names as a string array).") from None
        raise DataError(f"{path.name} is not a valid .npz file ({error}). Save it with np.savez.") from None
    except (KeyError, *ZIP_READ_ERRORS) as error:
        raise DataError(f"{path.name} is not a valid .npz file ({error}). Save it with np.savez.") from None


def read_npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """(shape, dtype) of every array of a .npz, from its header alone; refuses objects and oversized files."""
    headers, total_bytes = {}, 0
    try:
        with zipfile.ZipFile(path) as archive:
            if len(archive.infolist()) > MAX_ZIP_ENTRIES:
                raise DataError(f"{path.name} holds more than {MAX_ZIP_ENTRIES:,} arrays.")
            for info in archive.infolist():
                with archive.open(info) as member:
                    shape, dtype = read_array_header(member, path.name)
                headers[info.filename.removesuffix(".npy")] = (shape, dtype)
                total_bytes += int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    except (ValueError, *ZIP_READ_ERRORS) as error:
        raise DataError(f"{path.name} is not a valid .npz file ({error}). Save it with np.savez.") from None
    if total_bytes > MAX_UNCOMPRESSED_BYTES:
        raise DataError(f"{path.name} declares {total_bytes:,} bytes of arrays; the limit is "
                        f"{MAX_UNCOMPRESSED_BYTES:,}. Upload fewer or smaller images.")
    return headers


def read_array_header(member: io.BufferedIOBase, file_name: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of an .npy member from its header; refuses object arrays and negative sizes."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    if dtype.hasobject:
        raise DataError(f"{file_name} contains Python objects, which are never unpickled. "
                        "Save plain numeric arrays (and class_names as a string array).")
    if any(side < 0 for side in shape):
        raise ValueError(f"an array declares the shape {shape}")
    return tuple(shape), dtype


def check_images_header(
    header: tuple[tuple[int, ...], np.dtype], image_size: tuple[int, int] | None, file_name: str,
    grayscale: bool = False,
) -> None:
    """Refuse an 'images' array by its header: layout, side lengths, and pixel values beyond MAX_UPLOAD_PIXELS."""
    shape, _ = header
    check_image_layout(shape, file_name)
    check_image_shape(shape[1:3], file_name)
    height, width = tuple(image_size) if image_size is not None else shape[1:3]
    check_pixel_budget(shape[0], (height, width), file_name, kept_channels(shape, grayscale))


def kept_channels(shape: tuple[int, ...], grayscale: bool) -> int:
    """Channels the images keep: 3 for RGB or RGBA (alpha dropped) unless turned grey, else 1."""
    return 3 if len(shape) == 4 and shape[-1] in COLOUR_CHANNELS and not grayscale else 1


def normalize_images(
    images: np.ndarray, file_name: str, image_size: tuple[int, int] | None = None, grayscale: bool = False
) -> np.ndarray:
    """Turn uploaded (N, H, W[, C]) pixels into float32 in [0, 1], resized to ``image_size``.

    Grey images, and colour ones when ``grayscale``, become (N, H, W); colour stays (N, H, W, 3) (RGBA's
    alpha is dropped). Converted a few images at a time, so the only large new array is the result itself.
    """
    check_image_layout(images.shape, file_name)
    check_image_shape(images.shape[1:3], file_name)
    divisor = pixel_divisor(images, file_name)
    size = tuple(image_size) if image_size is not None else tuple(images.shape[1:3])
    channels = kept_channels(images.shape, grayscale)
    result = np.empty((len(images), *size) + ((channels,) if channels > 1 else ()), dtype=np.float32)
    step = max(1, CONVERT_CHUNK_BYTES // (4 * max(1, int(np.prod(images.shape[1:])))))
    for start in range(0, len(images), step):
        pixels = images[start:start + step].astype(np.float32)
        pixels /= divisor
        if pixels.ndim == 4:
            pixels = pixels[..., :3] if channels > 1 else to_grayscale(pixels)
        np.clip(pixels, 0.0, 1.0, out=pixels)
        result[start:start + step] = pixels if pixels.shape[1:3] == size else resize_float_images(pixels, size)
    return result


def check_image_layout(shape: tuple[int, ...], file_name: str) -> None:
    """Require (N, H, W) or (N, H, W, C) with C in {1, 3, 4} and N >= 2; ``shape`` is the array's shape."""
    is_gray = len(shape) == 3
    is_channels_last = len(shape) == 4 and shape[-1] in (1, 3, 4)
    if not (is_gray or is_channels_last):
        raise DataError(f"{file_name}: 'images' has shape {tuple(shape)}; expected (N, H, W) "
                        "or (N, H, W, C) with C = 1 (gray), 3 (RGB) or 4 (RGBA).")
    if shape[0] < 2:
        raise DataError(f"{file_name} holds {shape[0]} image(s); a dataset needs at least 2.")


def pixel_divisor(images: np.ndarray, file_name: str) -> float:
    """What maps the pixels to [0, 1]: 255 for integer 0..255 or float [0, 255], else 1; DataError otherwise.

    Reads the images a few at a time (no full-size temporary copy).
    """
    if images.dtype.kind == "b":
        return 1.0
    if images.dtype.kind not in "uif":
        raise DataError(f"{file_name}: 'images' has dtype {images.dtype}; use uint8 or float.")
    low, high = np.inf, -np.inf
    step = max(1, CONVERT_CHUNK_BYTES // max(1, images[:1].nbytes))
    for start in range(0, len(images), step):
        chunk = images[start:start + step]
        if chunk.dtype.kind == "f" and not np.isfinite(chunk).all():
            raise DataError(f"{file_name}: 'images' contains NaN or infinite values; replace them first.")
        low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
    if low < 0 or high > 255:
        raise DataError(f"{file_name}: pixel values run from {low:g} to {high:g}; "
                        "use 0..255 (uint8) or floats in [0, 1].")
    return 255.0 if images.dtype.kind in "ui" or high > 1 else 1.0


def resize_float_images(images: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Resize (N, H, W) or (N, H, W, C) float32 images to (N, *image_size[, C]) with bilinear filtering.

    PIL resizes one float plane at a time, so a colour image is resized channel by channel.
    """
    height, width = image_size
    if images.ndim == 4:
        channels = [resize_float_images(np.ascontiguousarray(images[..., c]), image_size) for c in range(images.shape[3])]
        return np.stack(channels, axis=-1)
    resized = [np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))
               for image in images]
    return np.clip(np.stack(resized), 0.0, 1.0).astype(np.float32)


def validate_labels(labels: np.ndarray, count: int, file_name: str) -> np.ndarray:
    """Check uploaded labels are (N,) non-negative whole numbers; returns int64."""
    if labels.ndim != 1 or len(labels) != count:
        raise DataError(f"{file_name}: 'labels' has shape {labels.shape} but there are {count} images; "
                        "give exactly one label per image.")
    if labels.dtype.kind in "ui":
        whole = labels.astype(np.int64)
    elif labels.dtype.kind == "f" and np.isfinite(labels).all() and (labels == np.round(labels)).all():
        whole = labels.astype(np.int64)
    else:
        raise DataError(f"{file_name}: 'labels' must be whole numbers (class indices 0, 1, 2, ...), "
                        f"got dtype {labels.dtype}.")
    if count and whole.min() < 0:
        raise DataError(f"{file_name}: 'labels' contains negative values; use class indices 0, 1, 2, ...")
    return whole


def number_classes(
    labels: np.ndarray, class_names: np.ndarray | None, file_name: str
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Renumber the classes that occur to 0..K-1 (in increasing order), K at most MAX_CLASSES.

    ``class_names[i]`` names the ORIGINAL label i, so the names of the classes that occur are kept,
    in the same order; without names, each class is called by its original label ("3", "7").

    Returns:
        (labels, class_names): (N,) int64 in 0..K-1 and K names.
    """
    present, numbered = np.unique(labels, return_inverse=True)
    check_class_count(len(present), file_name, "different labels")
    if class_names is None:
        return numbered.astype(np.int64), tuple(str(int(label)) for label in present)
    if class_names.dtype.kind not in "US" or class_names.ndim != 1:
        raise DataError(f"{file_name}: 'class_names' must be a 1-D array of strings.")
    if len(class_names) <= present[-1]:
        raise DataError(f"{file_name}: 'class_names' has {len(class_names)} names but labels go up to "
                        f"{present[-1]}; give at least {present[-1] + 1} names (class_names[i] names label i).")
    names = tuple(name.decode() if isinstance(name, bytes) else str(name) for name in class_names[present].tolist())
    check_class_names(names, file_name, "classes")
    return numbered.astype(np.int64), names
