"""Checkpoints: atomic save, safe load (never runs code); other programs' models open through vae.io (listing: catalog)."""
from __future__ import annotations

import os
import pickle
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

from vae.catalog import (  # noqa: F401 - the torch-free listing half, re-exported here
    FORMAT_NAME,
    FORMAT_VERSION,
    CheckpointInfo,
    checkpoint_path,
    delete_checkpoint,
    list_checkpoints,
    sanitize_name,
)
from vae.config import ModelConfig, TrainConfig
from vae.errors import CheckpointError, VAEError
from vae.io.foreign import read_foreign_file
from vae.io.importers import import_state_dict
from vae.latent import LatentModel
from vae.models import BaseVAE, build_model
from vae.training import History


def save_checkpoint(
    path: str | Path,
    model: BaseVAE,
    *,
    dataset: str,
    class_names: tuple[str, ...] | list[str],
    train_config: TrainConfig | None = None,
    history: History | None = None,
    metrics: dict | None = None,
) -> Path:
    """Write one .pt file atomically: a temp file in the same folder, fsync, then a rename.

    A failure mid-write leaves any previous file at ``path`` untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "train_config": train_config.to_dict() if train_config else None,
        "dataset": dataset,
        "class_names": [str(c) for c in class_names],
        "history": (history or History()).to_dict(),
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _write_atomically(target, payload)
    return target


def _write_atomically(target: Path, payload: dict) -> None:
    handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o644)  # temp files are private; a checkpoint is an ordinary file
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint's contents as our format's dict; other models (state_dicts, Keras files) are converted.

    Loads with ``weights_only=True``, so a file that would run code is refused.
    """
    source = Path(path)
    try:
        raw = _safe_torch_load(source)
    except CheckpointError as error:  # not a torch file: perhaps a Keras one (vae.io says what it is)
        return read_foreign_file(source, error)
    if isinstance(raw, dict) and raw.get("format") == FORMAT_NAME:
        return _check_version(raw, source)
    return import_state_dict(raw, source.name)


def _safe_torch_load(source: Path) -> object:
    if not source.is_file():
        raise CheckpointError(f"No checkpoint file at {source}.")
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "GLOBAL" in str(error):  # the file names a Python callable: loading it would run code
            raise CheckpointError(
                f"{source.name} was refused: it contains Python objects that would run code when opened. "
                f"Only plain weights and settings are accepted."
            ) from None
        raise _corrupt(source) from None
    except Exception:  # noqa: BLE001 - torch's unpickler raises many kinds on damaged bytes
        raise _corrupt(source) from None


def _corrupt(source: Path) -> CheckpointError:
    return CheckpointError(f"{source.name} could not be read: the file is truncated or corrupt. Save or download it again.")


def _check_version(raw: dict, source: Path) -> dict:
    version = raw.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(f"{source.name} has no valid format version; it may be damaged.")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{source.name} was made by a newer version of this app (format {version}; this app reads up to "
            f"{FORMAT_VERSION}). Update the app to open it."
        )
    return raw


def model_from_checkpoint(raw: dict, name: str = "checkpoint") -> BaseVAE:
    """Rebuild the module; a wrong architecture or mismatched weights give a CheckpointError."""
    try:
        config = ModelConfig.from_dict(dict(raw["model_config"]))
        model = build_model(config)
        model.load_state_dict(raw["state_dict"])
    except VAEError as error:
        raise CheckpointError(f"{name}: its architecture is not one this app can build ({error})") from None
    except (KeyError, TypeError, AttributeError):
        raise CheckpointError(f"{name}: the model settings or weights are missing; the file may be damaged.") from None
    except RuntimeError as error:
        first = str(error).strip().splitlines()[1:2] or [str(error)[:200]]
        raise CheckpointError(f"{name}: the weights do not fit the architecture ({first[0].strip()}).") from None
    return model.eval()


def load_model(path: str | Path) -> LatentModel:
    """Open a checkpoint (ours or a classic state_dict) as a ready-to-use LatentModel."""
    source = Path(path)
    raw = read_checkpoint(source)
    module = model_from_checkpoint(raw, source.name)
    train_config = raw.get("train_config")
    return LatentModel(
        module=module,
        dataset=str(raw.get("dataset") or ""),
        class_names=tuple(str(c) for c in raw.get("class_names") or ()),
        train_config=TrainConfig.from_dict(train_config) if train_config else None,
        history=dict(raw.get("history") or {}),
        metrics=dict(raw.get("metrics") or {}),
        created=str(raw.get("created") or ""),
        source=str(source),
    )
