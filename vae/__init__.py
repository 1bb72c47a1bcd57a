"""VAE Latent Explorer's model side: models, data, training, checkpoints and latent tools (no UI)."""
from vae.checkpoints import (
    CheckpointInfo,
    checkpoint_path,
    delete_checkpoint,
    list_checkpoints,
    load_model,
    read_checkpoint,
    sanitize_name,
    save_checkpoint,
)
from vae.config import PRESET_DESCRIPTIONS, PRESETS, ModelConfig, TrainConfig, model_config_for
from vae.data import (
    DATASETS,
    OFFLINE_DATASETS,
    Dataset,
    list_datasets,
    list_user_datasets,
    load_dataset,
    load_user_dataset,
    save_user_dataset,
)
from vae.errors import CheckpointError, DataError, TrainingError, VAEError
from vae.latent import LatentModel, Projection, dims_projection, lerp, pca_projection, slerp
from vae.models import ConvVAE, MLPVAE, build_model, count_parameters
from vae.training import History, TrainEvent, fit, train_model

__all__ = [
    "CheckpointError", "CheckpointInfo", "ConvVAE", "DATASETS", "DataError", "Dataset", "History",
    "LatentModel", "MLPVAE", "ModelConfig", "OFFLINE_DATASETS", "PRESETS", "PRESET_DESCRIPTIONS", "Projection",
    "TrainConfig", "TrainEvent", "TrainingError", "VAEError", "build_model", "checkpoint_path",
    "count_parameters", "delete_checkpoint", "dims_projection", "fit", "lerp", "list_checkpoints",
    "list_datasets", "list_user_datasets", "load_dataset", "load_model", "load_user_dataset", "model_config_for",
    "pca_projection", "read_checkpoint", "sanitize_name", "save_checkpoint", "save_user_dataset", "slerp",
    "train_model",
]
