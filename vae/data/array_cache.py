"""Arrays made once (drawn shapes, decoded photos) and kept as a .npz under the data root, with what they came from."""
from __future__ import annotations

import logging
import zipfile
import zlib
from pathlib import Path

import numpy as np

from vae.files import write_atomically

LOGGER = logging.getLogger(__name__)
VERSION_KEY = "cache_version"  # the text saying what the arrays were made from; another text: made again
# What reading a damaged .npz raises: bad zips, bad deflate data, short files, missing keys.
_READ_ERRORS = (OSError, EOFError, KeyError, ValueError, TypeError, zipfile.BadZipFile, zlib.error)


def read_cached(path: Path, version: str) -> dict[str, np.ndarray] | None:
    """The arrays kept at ``path`` when they were made from ``version``; None when missing, stale or damaged."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            if str(saved[VERSION_KEY]) != version:
                return None
            return {key: saved[key] for key in saved.files if key != VERSION_KEY}
    except _READ_ERRORS:
        LOGGER.warning("Ignoring the damaged cache %s; it is made again", path)
        return None


def write_cached(path: Path, version: str, arrays: dict[str, np.ndarray]) -> bool:
    """Keep ``arrays`` at ``path`` (compressed, written atomically); False when the folder cannot be written.

    A read-only data folder is no error: the arrays are simply made again next time.
    """
    try:
        write_atomically(path, lambda handle: np.savez_compressed(handle, **{VERSION_KEY: np.array(version)}, **arrays))
    except OSError:
        LOGGER.warning("Could not keep %s; it is made again next time", path, exc_info=True)
        return False
    return True
