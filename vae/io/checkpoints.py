"""Checkpoints: atomic save, safe and bounded load (never runs code); other programs' models open through vae.io."""
from __future__ import annotations

import pickle
from datetime import datetime, timezone
from pathlib import Path

import torch

from vae.analysis.latent import LatentModel
from vae.config import History, ModelConfig, TrainConfig
from vae.errors import CheckpointError, VAEError
from vae.files import write_atomically
from vae.io.catalog import corrupt_file, read_settings, runs_code
from vae.io.foreign import read_foreign_file
from vae.io.importers import import_state_dict
from vae.io.schema import FORMAT_NAME, FORMAT_VERSION, is_ours, validate_checkpoint
from vae.models import BaseVAE, build_model


def save_checkpoint(
    path: str | Path,
    model: BaseVAE,
    *,
    dataset: str,
    class_names: tuple[str, ...] | list[str],
    train_config: TrainConfig | None = None,
    history: History | None = None,
    metrics: dict | None = None,
    world_size: int = 1,
) -> Path:
    """Write one .pt file atomically: a temp file in the same folder, fsync, then a rename (vae.files).

    A failure mid-write leaves any previous file at ``path`` untouched. The contents are checked
    as a load would check them first, so a file this writes can always be opened again.
    ``world_size`` is the number of processes that trained the model (torchrun; 1 for one process).
    """
    target = Path(path)
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
        "world_size": int(world_size),
    }
    validate_checkpoint(payload, target.name)
    write_atomically(target, lambda handle: torch.save(payload, handle))
    return target


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint's contents as our format's dict, every field checked; other models (state_dicts, Keras) converted.

    First, without torch, what the load would cost is checked (vae.io.catalog.read_settings) and,
    for a file in our format, its settings and weight shapes (vae.io.schema): a file that asks for
    too much is refused before torch reads anything. Then it loads with ``weights_only=True``,
    so a file that would run code is refused too.
    """
    source = Path(path)
    try:
        settings = read_settings(source)
    except CheckpointError as error:  # not a torch file: perhaps a Keras one, or a pickled model (vae.io says which)
        return read_foreign_file(source, error)
    if is_ours(settings):
        validate_checkpoint(settings, source.name)
    raw = _safe_torch_load(source)
    if is_ours(raw):
        return validate_checkpoint(raw, source.name)
    return validate_checkpoint(import_state_dict(raw, source.name), source.name)


def _safe_torch_load(source: Path) -> object:
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "GLOBAL" in str(error):  # the file names a Python callable: loading it would run code
            raise runs_code(source.name) from None
        raise corrupt_file(source.name) from None
    except Exception:  # noqa: BLE001 - torch's unpickler raises many kinds on damaged bytes (never shown)
        raise corrupt_file(source.name) from None


def model_from_checkpoint(raw: dict, name: str = "checkpoint") -> BaseVAE:
    """Rebuild the module; settings and weight shapes are checked before anything is built (vae.io.schema)."""
    fields = validate_checkpoint(raw, name)
    try:
        model = build_model(ModelConfig.from_dict(fields["model_config"]))
        model.load_state_dict(fields["state_dict"])
    except VAEError as error:
        raise CheckpointError(f"{name}: its architecture is not one this app can build. {error}") from None
    except (RuntimeError, MemoryError):  # out of memory, or weights torch cannot copy: never shown raw
        raise CheckpointError(f"{name}: the model could not be rebuilt from its weights (the machine may be short "
                              f"of memory, or the file is damaged).") from None
    return model.eval()


def load_model(path: str | Path) -> LatentModel:
    """Open a checkpoint (ours, or another program's model that vae.io converts) as a ready-to-use LatentModel."""
    source = Path(path)
    fields = read_checkpoint(source)
    train_config = fields["train_config"]
    return LatentModel(
        module=model_from_checkpoint(fields, source.name),
        dataset=fields["dataset"],
        class_names=tuple(fields["class_names"]),
        train_config=TrainConfig.from_dict(train_config) if train_config else None,
        history=dict(fields["history"]),
        metrics=dict(fields["metrics"]),
        created=fields["created"],
        source=str(source),
    )
