"""A checkpoint uploaded on the Models page: checked in a hidden temp folder, then saved with the one atomic writer."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import vae
from pages.common.caches import clear_model_caches
from pages.common.model_access import checkpoint_dir

LOGGER = logging.getLogger("vae_explorer")


def import_checkpoint(data: bytes, name: str, replace: bool = False) -> str:
    """Check an uploaded checkpoint and save it as ``name`` in the checkpoint folder; returns the stem.

    The upload is written to a hidden temp folder beside the checkpoints and fully loaded first,
    so a corrupt or unsafe file never reaches the list (a killed check leaves only that folder,
    which a later listing removes). Our own format is copied byte for byte; a classic PyTorch-
    example state_dict is converted to our format. Either way the final write is atomic.
    """
    folder = checkpoint_dir()
    target = vae.checkpoint_path(folder, name)
    if target.exists() and not replace:
        raise vae.CheckpointError(f"A model called {target.stem!r} already exists. Choose another name, "
                                  f"or tick 'Replace the existing model'.")
    scratch = vae.files.make_temp_folder(folder, "upload")
    try:
        upload = scratch / target.name
        upload.write_bytes(data)
        raw, model = read_upload(upload)
        if raw.get("imported_from"):
            vae.save_checkpoint(target, model.module, dataset=model.dataset, class_names=model.class_names)
        else:
            vae.files.write_atomically(target, data)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    clear_model_caches()
    return target.stem


def read_upload(path: Path) -> tuple[dict, vae.LatentModel]:
    """Read and rebuild an uploaded checkpoint; any failure on arbitrary bytes becomes a CheckpointError."""
    try:
        return vae.read_checkpoint(path), vae.load_model(path)
    except vae.VAEError:
        raise
    except Exception:  # noqa: BLE001 - unpicklers raise all sorts of errors on random bytes
        LOGGER.warning("Unreadable upload", exc_info=True)
        raise vae.CheckpointError("The uploaded file could not be read as a checkpoint: it is truncated, corrupt "
                                  "or not a PyTorch .pt file. Save or download it again.") from None
