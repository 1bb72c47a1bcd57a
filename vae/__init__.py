"""VAE Latent Explorer's model side: models, data, training, checkpoints and latent tools (no UI).

Names are loaded on first use: ``import vae`` alone is instant, and the parts that need no
torch (catalog, listing, schema, files, codes, projection, data, plots, images, config, errors)
never import it, so the app can draw a saved map while torch is still loading.
"""
from __future__ import annotations

import importlib
import sys

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("CheckpointInfo", "checkpoint_path", "sanitize_name"), "vae.catalog"),
    **dict.fromkeys(("delete_checkpoint", "list_checkpoints", "scan_checkpoints"), "vae.listing"),
    **dict.fromkeys(("load_model", "read_checkpoint", "save_checkpoint"), "vae.checkpoints"),
    **dict.fromkeys(("TestCodes", "codes_path", "encode_test_codes", "read_test_codes", "save_test_codes",
                     "write_test_codes"), "vae.codes"),
    **dict.fromkeys(("PRESET_DESCRIPTIONS", "PRESETS", "ModelConfig", "TrainConfig", "model_config_for"),
                    "vae.config"),
    **dict.fromkeys(("DATASETS", "OFFLINE_DATASETS", "Dataset", "dataset_version", "list_datasets",
                     "list_user_datasets", "load_dataset", "load_user_dataset", "save_user_dataset"), "vae.data"),
    **dict.fromkeys(("CheckpointError", "DataError", "TrainingError", "VAEError"), "vae.errors"),
    "LatentModel": "vae.latent",
    **dict.fromkeys(("ConvVAE", "MLPVAE", "build_model", "count_parameters"), "vae.models"),
    **dict.fromkeys(("Projection", "dims_projection", "lerp", "pca_projection", "plane_projection", "slerp"),
                    "vae.projection"),
    **dict.fromkeys(("History", "TrainEvent", "fit", "train_model"), "vae.training"),
}
_SUBMODULES = ("catalog", "checkpoints", "codes", "config", "data", "errors", "files", "images", "jobs", "latent",
               "listing", "losses", "metrics", "models", "plots", "projection", "schema", "training")

__all__ = sorted([*_EXPORTS, "runtime_loaded"])


def runtime_loaded() -> bool:
    """Whether torch is imported in this process yet; the first model load imports it (about 2 s of CPU)."""
    return "torch" in sys.modules


def __getattr__(name: str) -> object:
    """Import the module behind ``vae.<name>`` on first use (PEP 562)."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"vae.{name}")
    else:
        raise AttributeError(f"module 'vae' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})
