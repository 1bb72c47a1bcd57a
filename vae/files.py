"""File names beside a checkpoint, the one atomic writer (temp file, fsync, rename), and the clean-up of its temps."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Callable

LOGGER = logging.getLogger(__name__)
TEMP_SUFFIX = ".tmp"  # every temp file or folder this app makes ends so, and starts with a dot
FILE_MODE = 0o644  # temp files are private (0600); a saved file is an ordinary, readable file
STALE_TEMP_AGE_S = 30 * 60  # a temp this old belongs to a write that died: no save takes that long
CODES_SUFFIX = ".codes.npz"


def codes_path(checkpoint: str | Path) -> Path:
    """Where the codes of ``checkpoint`` (``<folder>/<stem>.pt``) are kept: ``<folder>/<stem>.codes.npz``."""
    source = Path(checkpoint)
    return source.with_name(source.stem + CODES_SUFFIX)


def temp_prefix(target: Path) -> str:
    """The start of the names of ``target``'s temp files: a dot (hidden) and the target's name."""
    return f".{target.name}."


def write_atomically(target: str | Path, content: bytes | Callable[[BinaryIO], None]) -> Path:
    """Write ``content`` (bytes, or a function that writes into a binary file) to ``target`` atomically.

    The bytes go to a temp file in the same folder, are flushed to disk (fsync), made readable
    (mode 0644) and renamed over ``target``: readers see the old file or the new one, never half
    of one. On any failure the temp file is removed and the previous ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=temp_prefix(target), suffix=TEMP_SUFFIX,
                                         delete=False)
    try:
        with handle:
            if isinstance(content, (bytes, bytearray, memoryview)):
                handle.write(content)
            else:
                content(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, FILE_MODE)
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return target


def make_temp_folder(parent: str | Path, label: str) -> Path:
    """A new private folder ``.<label>.<random>.tmp`` inside ``parent``; :func:`remove_stale_temps` finds it if left."""
    Path(parent).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=parent, prefix=f".{label}.", suffix=TEMP_SUFFIX))


def is_temp_name(name: str) -> bool:
    """Whether a file name is one of this app's temp names (``.<something>.tmp``)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX) and len(name) > len(TEMP_SUFFIX) + 1


def remove_stale_temps(folder: str | Path, max_age_s: float = STALE_TEMP_AGE_S, now: float | None = None) -> list[Path]:
    """Delete this app's temp files and folders in ``folder`` older than ``max_age_s``; returns what was removed.

    A write that is still running is never touched: its temp file is younger than the limit.
    Problems (a vanished file, no permission) are logged and skipped.
    """
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not is_temp_name(entry.name):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < max_age_s:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            LOGGER.warning("Could not remove the stale temp file %s", entry.path, exc_info=True)
    return removed
