"""Checkpoints: atomic save, safe load (never runs code), and the classic example's state_dict (listing: catalog)."""
from __future__ import annotations

import math
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
from vae.latent import LatentModel
from vae.models import BaseVAE, build_model
from vae.training import History

CLASSIC_KEYS = ("fc1", "fc21", "fc22", "fc3", "fc4")
# The classic example's layers, in our MLPVAE's names.
CLASSIC_TO_OURS = {"fc1": "encoder.0", "fc21": "fc_mu", "fc22": "fc_logvar", "fc3": "decoder.0", "fc4": "decoder.2"}


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
    """The checkpoint's contents as our format's dict; classic state_dicts are converted.

    Loads with ``weights_only=True``, so a file that would run code is refused.
    """
    source = Path(path)
    raw = _safe_torch_load(source)
    if isinstance(raw, dict) and raw.get("format") == FORMAT_NAME:
        return _check_version(raw, source)
    if isinstance(raw, dict) and _looks_classic(raw):
        return classic_to_checkpoint(raw, source)
    raise CheckpointError(
        f"{source.name} is not a VAE Latent Explorer checkpoint, nor a state_dict of the classic PyTorch VAE "
        f"example (layers fc1, fc21, fc22, fc3, fc4). Save your model with this app or that example."
    )


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


def _looks_classic(raw: dict) -> bool:
    return all(f"{layer}.{part}" in raw for layer in CLASSIC_KEYS for part in ("weight", "bias"))


def classic_to_checkpoint(state_dict: dict, source: Path | None = None) -> dict:
    """Convert the classic example's state_dict (any latent size) to our checkpoint dict."""
    name = source.name if source else "state_dict"
    shapes = {key: tuple(value.shape) for key, value in state_dict.items() if isinstance(value, torch.Tensor)}
    try:
        hidden, pixels = shapes["fc1.weight"]
        latent = shapes["fc21.weight"][0]
    except (KeyError, ValueError):
        raise CheckpointError(f"{name}: the classic layers fc1/fc21 are missing or have the wrong shape.") from None
    side = math.isqrt(pixels)
    if side * side != pixels:
        raise CheckpointError(f"{name}: the model reads {pixels} pixels, which is not a square image.")
    try:
        config = ModelConfig(kind="mlp", image_shape=(side, side), latent_dim=latent, hidden_sizes=(hidden,))
    except VAEError as error:
        raise CheckpointError(f"{name}: {error}") from None
    renamed = {
        f"{CLASSIC_TO_OURS[key.split('.')[0]]}.{key.split('.')[1]}": value
        for key, value in state_dict.items()
        if key.split(".")[0] in CLASSIC_TO_OURS
    }
    return {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "model_config": config.to_dict(),
        "state_dict": renamed, "train_config": None, "history": History().to_dict(), "metrics": {},
        "dataset": "mnist-5k" if pixels == 784 else "", "class_names": [str(d) for d in range(10)],
        "created": "", "imported_from": "classic PyTorch VAE example",
    }


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
