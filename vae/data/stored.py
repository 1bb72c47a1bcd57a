"""The user's stored uploads: checked once, kept as ``<data root>/uploads/<stem>.npz``, listed as "upload:<stem>"."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vae.data.dataset import Dataset
from vae.data.folders import uploads_folder
from vae.data.limits import MAX_UNCOMPRESSED_BYTES
from vae.data.uploads import load_user_dataset, read_user_file
from vae.errors import CheckpointError, DataError
from vae.files import sanitize_name, write_atomically

UPLOAD_PREFIX = "upload:"  # dataset names of stored user uploads: "upload:<stem>"


def list_user_datasets(root: str | Path | None = None) -> list[str]:
    """Names ("upload:<stem>") of the stored user uploads under ``<root>/uploads/``, sorted."""
    folder = uploads_folder(root)
    if not folder.is_dir():
        return []
    return [f"{UPLOAD_PREFIX}{path.stem}" for path in sorted(folder.glob("*.npz"))
            if path.is_file() and is_upload_stem(path.stem)]


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


def save_user_dataset(
    source_path: str | Path, name: str, root: str | Path | None = None, grayscale: bool = False
) -> str:
    """Check an uploaded .npz or .zip and store it as ``<root>/uploads/<stem>.npz``.

    The file is read and validated exactly as :func:`load_user_dataset` does, in memory (a zip
    is never extracted). Colour stays colour unless ``grayscale``. All images are stored in file
    order as uint8 (N, H, W) or (N, H, W, 3) with ``labels``
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
    images, labels, class_names = read_user_file(Path(source_path), grayscale=grayscale)
    arrays = {
        "images": to_uint8(images),  # (N, H, W) or (N, H, W, 3)
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
