"""Helpers for the Train, Generate and Reconstructions pages: settings parsing, pictures, metric cache."""
from __future__ import annotations

import numpy as np
import streamlit as st

import vae
from pages import _shared
from vae import images as vae_images
from vae import metrics as vae_metrics
from vae.data import DATASETS, OFFLINE_DATASETS

# Session-state keys (UI state only).
JOB_KEY = "train_job_id"  # id of this browser session's training job in vae.jobs
CLEARED_KEY = "train_cleared_job"  # job whose finished checkpoint already cleared the model caches
RENAMED_KEY = "train_renamed_job"  # job after which the name box already moved on to a free name
METRICS_KEY = "recon_metrics_for"  # (model name, file mtime) whose metrics were asked for

CUSTOM_MODEL = "Custom"
MODEL_KINDS = {"mlp": "Fully connected (MLP)", "conv": "Convolutional"}
LIKELIHOODS = {
    "bernoulli": "Ink on paper (binary cross-entropy): sharp, best for digits",
    "gaussian": "Grey levels (squared error): smoother, for photos",
}
PICTURE_WIDTH = 560  # pixels a shown or downloaded picture aims for
MAX_PICTURE_SCALE = 12


def dataset_options() -> list[str]:
    """Dataset names, the ones that work offline first."""
    return [*OFFLINE_DATASETS, *(name for name in DATASETS if name not in OFFLINE_DATASETS)]


def describe_dataset(name: str) -> str:
    """'name: description' for a selectbox."""
    return f"{name}: {DATASETS.get(name, '')}"


def describe_model(name: str) -> str:
    """'preset: description' for a selectbox."""
    if name == CUSTOM_MODEL:
        return "Custom: choose the network yourself"
    return f"{name}: {vae.PRESET_DESCRIPTIONS.get(name, '')}"


def free_name(base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... whichever names no model in the checkpoint folder yet."""
    folder = _shared.checkpoint_dir()
    for number in range(1, 1000):
        name = base if number == 1 else f"{base}-{number}"
        if not vae.checkpoint_path(folder, name).exists():
            return name
    return base


def parse_sizes(text: str, what: str) -> tuple[int, ...]:
    """Read layer sizes like "400" or "256, 128"; ValueError with a plain reason otherwise."""
    parts = [part.strip() for part in str(text).replace(";", ",").split(",") if part.strip()]
    if not parts:
        raise ValueError(f"Enter the {what} as whole numbers separated by commas, for example 256,128.")
    try:
        sizes = tuple(int(part) for part in parts)
    except ValueError:
        raise ValueError(f"The {what} {text!r} are not whole numbers separated by commas "
                         f"(for example 256,128).") from None
    if len(sizes) > 8 or min(sizes) < 1 or max(sizes) > 4096:
        raise ValueError(f"The {what} must be 1 to 8 numbers, each between 1 and 4096.")
    return sizes


def picture_scale(picture: np.ndarray) -> int:
    """How much to enlarge a (H, W) picture so it shows at about PICTURE_WIDTH pixels."""
    return int(np.clip(PICTURE_WIDTH // max(picture.shape[1], 1), 1, MAX_PICTURE_SCALE))


def show_picture(picture: np.ndarray, caption: str, file_name: str, key: str) -> None:
    """Show a (H, W) picture enlarged with crisp pixels, with a PNG download button below."""
    png = vae_images.png_bytes(picture, scale=picture_scale(picture))
    st.image(png, caption=caption)
    st.download_button("Download PNG", data=png, file_name=file_name, mime="image/png", key=key,
                       on_click="ignore", help="Save this picture as a PNG file.")


@st.cache_data(show_spinner=False, max_entries=16)
def _evaluate_cached(name: str, path: str, mtime_ns: int, samples: int, max_images: int) -> dict[str, float]:
    model = _shared.load_model(name)
    return vae_metrics.evaluate(model, _shared.model_dataset(model), nll_samples=samples, max_images=max_images)


def evaluate_model(name: str, samples: int = 100, max_images: int = 500) -> dict[str, float]:
    """Test ELBO, NLL, kNN accuracy and active units of a model, cached per checkpoint file version."""
    path, mtime_ns = _shared.model_stamp(name)
    return _evaluate_cached(name, path, mtime_ns, samples, max_images)
