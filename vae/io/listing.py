"""The checkpoint folder as the app lists it: every .pt file with its facts, or why it cannot be opened; delete.

Files in this app's format are read without torch (settings only, each file once, see
vae.io.catalog). Other files, such as a classic example's state_dict dropped into the folder,
go through the full safe loader (vae.io.checkpoints, which imports torch). One odd file never
stops the listing: it is listed with the reason it cannot be opened, so it can be deleted.
"""
from __future__ import annotations

import logging
from pathlib import Path

from vae.errors import CheckpointError, VAEError
from vae.files import codes_path, remove_stale_temps, timelapse_path
from vae.io.catalog import CheckpointInfo, corrupt_file, info_from_fields, read_settings, unreadable_info
from vae.io.schema import is_ours, validate_checkpoint

LOGGER = logging.getLogger(__name__)


def scan_checkpoints(folder: str | Path) -> list[CheckpointInfo]:
    """Every .pt file in ``folder``, sorted by name; a file that cannot be opened has ``problem`` set.

    Temp files that a killed save left in the folder (older than :data:`vae.files.STALE_TEMP_AGE_S`)
    are removed on the way.
    """
    remove_stale_temps(folder)
    infos = []
    for path in sorted(Path(folder).glob("*.pt")):
        info = _scan_one(path)
        if info is not None:
            infos.append(info)
    return infos


def list_checkpoints(folder: str | Path) -> list[CheckpointInfo]:
    """The checkpoints in ``folder`` that can be opened, sorted by name; the others are left out."""
    return [info for info in scan_checkpoints(folder) if not info.problem]


def _scan_one(path: Path) -> CheckpointInfo | None:
    try:
        if not path.is_file():
            return None  # a folder named like a checkpoint
        size = path.stat().st_size
    except OSError:
        return None  # removed meanwhile
    try:
        return info_from_fields(path, _read_fields(path), size)
    except VAEError as error:
        return unreadable_info(path, size, str(error))
    except Exception:  # noqa: BLE001 - one odd file must never stop the listing
        LOGGER.warning("Could not list %s", path, exc_info=True)
        return unreadable_info(path, size, str(corrupt_file(path.name)))


def _read_fields(path: Path) -> dict:
    raw = read_settings(path)
    if is_ours(raw):
        return validate_checkpoint(raw, path.name)
    from vae.io.checkpoints import read_checkpoint  # imports torch: only for files not in this app's format

    return read_checkpoint(path)


def delete_checkpoint(folder: str | Path, name: str) -> None:
    """Remove the file ``<name>.pt`` from ``folder`` (usable or not), with its saved test-image codes and time-lapse.

    ``name`` is the file's stem as listed, so a file whose name the app would not choose itself
    (copied in by hand) can be deleted too; a name with a path in it is refused.
    """
    path = listed_path(folder, name)
    if not path.is_file():
        raise CheckpointError(f"There is no model called {name!r}.")
    path.unlink()
    codes_path(path).unlink(missing_ok=True)
    timelapse_path(path).unlink(missing_ok=True)


def listed_path(folder: str | Path, name: str) -> Path:
    """The file ``<name>.pt`` directly inside ``folder``; a CheckpointError for a name that would leave it."""
    if not name or "/" in name or "\\" in name or "\x00" in name or name in (".", ".."):
        raise CheckpointError(f"The name {name!r} is not allowed.")
    return Path(folder).resolve() / f"{name}.pt"  # a link is removed itself, never what it points to
