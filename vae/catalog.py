"""The checkpoint folder without torch: safe names, paths, and a listing read from each file's settings only.

A .pt file is a zip archive: a small pickle (``<name>/data.pkl``) with the settings and
references to the weights, which are stored as separate entries. The listing unpickles that
small part with every tensor replaced by a stand-in, so it reads kilobytes instead of the
whole file and needs no torch (the app's first page can be drawn while torch still loads).
Like ``torch.load(weights_only=True)`` it never calls anything outside a short allow-list.
"""
from __future__ import annotations

import collections
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from vae.config import ModelConfig
from vae.errors import CheckpointError, VAEError

FORMAT_NAME = "vae-latent-explorer"
FORMAT_VERSION = 1
MAX_NAME_LENGTH = 64
MAX_SETTINGS_BYTES = 64 * 2**20  # a data.pkl larger than this is not one of ours
# The only callables a checkpoint's pickle may name besides torch's tensor builders (which become stand-ins).
_ALLOWED_GLOBALS = {("collections", "OrderedDict"): collections.OrderedDict}


@dataclass(frozen=True)
class CheckpointInfo:
    """What the model list shows, read from a checkpoint file."""

    name: str
    path: Path
    dataset: str
    latent_dim: int
    kind: str
    test_elbo: float | None
    created: str
    size_bytes: int


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


class TensorStandIn:
    """Takes the place of a tensor while reading settings: keeps only its shape."""

    def __init__(self, *args: object) -> None:
        size = args[2] if len(args) > 2 else ()
        self.shape = tuple(size) if isinstance(size, (tuple, list)) else ()


class _SettingsUnpickler(pickle.Unpickler):
    """Unpickles a checkpoint's data.pkl with tensors as stand-ins; any other callable is refused."""

    def find_class(self, module: str, name: str) -> object:
        if module == "torch" or module.startswith("torch."):
            return TensorStandIn  # tensor and storage builders, dtypes: never called for real
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        return allowed

    def persistent_load(self, pid: object) -> None:
        return None  # a reference to stored weights: not read here


def read_settings(path: str | Path) -> object:
    """The unpickled settings part of a .pt file (tensors as :class:`TensorStandIn`), without torch.

    Raises:
        CheckpointError: the file is missing, not a zip-format .pt, or names a callable (would run code).
    """
    source = Path(path)
    try:
        with zipfile.ZipFile(source) as archive:
            entry = next((info for info in archive.infolist() if info.filename.endswith("data.pkl")
                          and info.filename.count("/") == 1), None)
            if entry is None or entry.file_size > MAX_SETTINGS_BYTES:
                raise CheckpointError(f"{source.name} is not a checkpoint saved by this app.")
            with archive.open(entry) as stream:
                return _SettingsUnpickler(stream).load()
    except VAEError:
        raise
    except Exception:  # noqa: BLE001 - damaged zips and pickles raise many kinds
        raise CheckpointError(f"{source.name} could not be read as a checkpoint.") from None


def read_info(path: str | Path) -> CheckpointInfo:
    """The listing entry of one checkpoint in this app's format, read without torch.

    Raises:
        CheckpointError: unreadable, not this app's format, a newer format, or bad model settings.
    """
    source = Path(path)
    raw = read_settings(source)
    if not _is_ours(raw):
        raise CheckpointError(f"{source.name} is not in this app's format.")
    return _info_from_ours(source, raw)


def _is_ours(raw: object) -> bool:
    return isinstance(raw, dict) and raw.get("format") == FORMAT_NAME


def _info_from_ours(path: Path, raw: dict) -> CheckpointInfo:
    version = raw.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path.name} has a format version this app cannot read.")
    return info_from_settings(path, raw)


def info_from_settings(path: Path, raw: dict) -> CheckpointInfo:
    """A listing entry from a checkpoint's settings dict; a CheckpointError when the model settings are bad."""
    try:
        config = ModelConfig.from_dict(dict(raw["model_config"]))
    except (VAEError, KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path.name} has no valid model settings.") from None
    elbo = (raw.get("metrics") or {}).get("test_elbo")
    return CheckpointInfo(
        name=path.stem, path=path, dataset=str(raw.get("dataset") or "unknown"), latent_dim=config.latent_dim,
        kind=config.kind, test_elbo=None if elbo is None else float(elbo), created=str(raw.get("created") or ""),
        size_bytes=path.stat().st_size,
    )


def list_checkpoints(folder: str | Path) -> list[CheckpointInfo]:
    """Every readable checkpoint in ``folder``, sorted by name; unreadable files are skipped.

    Files in this app's format are read without torch (settings only, each file once). Other
    files, such as a classic example's state_dict dropped into the folder, go through the full
    safe loader.
    """
    infos = []
    for path in sorted(Path(folder).glob("*.pt")):
        try:
            raw = read_settings(path)
        except VAEError:
            raw = None
        try:
            info = _info_from_ours(path, raw) if _is_ours(raw) else _read_info_with_torch(path)
        except VAEError:  # ours, but a newer format or bad model settings
            continue
        if info is not None:
            infos.append(info)
    return infos


def _read_info_with_torch(path: Path) -> CheckpointInfo | None:
    from vae.checkpoints import read_checkpoint  # imports torch: only for files not in this app's format

    try:
        return info_from_settings(path, read_checkpoint(path))
    except VAEError:
        return None


def delete_checkpoint(folder: str | Path, name: str) -> None:
    """Remove the model called ``name`` from ``folder``, with its saved test-image codes."""
    from vae.codes import codes_path

    path = checkpoint_path(folder, name)
    if not path.is_file():
        raise CheckpointError(f"There is no model called {name!r}.")
    path.unlink()
    codes_path(path).unlink(missing_ok=True)
