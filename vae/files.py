"""Names and paths (safe model names, free names, files beside a checkpoint), the one atomic writer, leftover clean-up.

Every file this app writes goes through :func:`write_atomically` (temp file, fsync, rename); no torch here.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Callable

from vae.errors import CheckpointError, VAEError

LOGGER = logging.getLogger(__name__)
TEMP_SUFFIX = ".tmp"  # every temp file or folder this app makes ends so, and starts with a dot
FILE_MODE = 0o644  # temp files are private (0600); a saved file is an ordinary, readable file
STALE_TEMP_AGE_S = 30 * 60  # a temp this old belongs to a write that died: no save takes that long
CODES_SUFFIX = ".codes.npz"
TIMELAPSE_SUFFIX = ".timelapse.npz"  # the test images' codes after each epoch (vae.io.timelapse)
JOBS_FOLDER = ".training"  # inside a checkpoints folder: the app's training runs, one state file each (hidden)
MAX_NAME_LENGTH = 64
MAX_NAME_NUMBER = 999  # a trailing "-N" up to this counts as a copy number; larger ones (a year) are part of the name
_NUMBERED = re.compile(r"^(?P<stem>.+?)-(?P<number>[1-9][0-9]{0,2})$")


class NoFreeNameError(VAEError):
    """No free name is left near the one asked for."""


# ---------------------------------------------------------------- names and paths


def sanitize_name(name: str) -> str:
    """A safe file stem from a user's name: letters, digits, '-', '_' only; no paths, no dots."""
    stem = re.sub(r"\.pt$", "", str(name).strip(), flags=re.IGNORECASE)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:MAX_NAME_LENGTH].strip("-_")
    if not stem:
        raise CheckpointError("Give the model a name with at least one letter or digit (for example: my-model).")
    return stem


def checkpoint_path(folder: str | Path, name: str) -> Path:
    """Where a model called ``name`` lives inside ``folder``; it can never point outside it."""
    root = Path(folder).resolve()
    target = (root / f"{sanitize_name(name)}.pt").resolve()
    if target.parent != root:
        raise CheckpointError(f"The name {name!r} is not allowed.")
    return target


def split_number(name: str) -> tuple[str, int]:
    """``("digits-mlp", 2)`` for ``"digits-mlp-2"``; ``(name, 1)`` when it ends in no copy number."""
    match = _NUMBERED.match(name)
    if match and int(match["number"]) <= MAX_NAME_NUMBER:
        return match["stem"], int(match["number"])
    return name, 1


def next_free_name(name: str, is_taken: Callable[[str], bool], max_length: int = MAX_NAME_LENGTH) -> str:
    """``name`` when it is free, else the next numbered name that is: after ``x`` comes ``x-2``, after ``x-2`` ``x-3``.

    Numbers only go up from the one ``name`` ends in, so a suggestion never goes back to an older
    name. The stem is shortened when needed so that every candidate fits ``max_length`` characters.

    Args:
        name: A sanitized name (see :func:`sanitize_name`).
        is_taken: Whether a candidate name is already used (a file exists, a run writes it...).
        max_length: Longest name allowed.

    Raises:
        NoFreeNameError: Every number up to MAX_NAME_NUMBER is taken.
    """
    if not is_taken(name):
        return name
    stem, number = split_number(name)
    for candidate_number in range(number + 1, MAX_NAME_NUMBER + 1):
        suffix = f"-{candidate_number}"
        candidate = sanitize_name(stem[: max_length - len(suffix)]) + suffix
        if not is_taken(candidate):
            return candidate
    raise NoFreeNameError(f"There is no free name left like {name}; pick another name, or delete some old ones.")


def codes_path(checkpoint: str | Path) -> Path:
    """Where the codes of ``checkpoint`` (``<folder>/<stem>.pt``) are kept: ``<folder>/<stem>.codes.npz``."""
    source = Path(checkpoint)
    return source.with_name(source.stem + CODES_SUFFIX)


def timelapse_path(checkpoint: str | Path) -> Path:
    """Where the per-epoch codes of ``checkpoint`` are kept: ``<folder>/<stem>.timelapse.npz``."""
    source = Path(checkpoint)
    return source.with_name(source.stem + TIMELAPSE_SUFFIX)


def jobs_folder(checkpoints: str | Path) -> Path:
    """The hidden folder inside a checkpoints folder where training runs keep their progress."""
    return Path(checkpoints) / JOBS_FOLDER


# ---------------------------------------------------------------- the one atomic writer and its leftovers


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
