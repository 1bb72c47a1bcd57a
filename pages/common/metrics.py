"""A model's quality numbers (test ELBO, NLL, kNN accuracy, active units), cached per checkpoint file version."""
from __future__ import annotations

import streamlit as st

import vae
from pages.common.datasets import model_dataset
from pages.common.model_access import load_model, model_stamp


@st.cache_data(show_spinner=False, max_entries=16)
def _evaluate_cached(name: str, path: str, mtime_ns: int, samples: int, max_images: int) -> dict[str, float]:
    model = load_model(name)  # imports torch: only when metrics are asked for
    return vae.evaluate(model, model_dataset(model), nll_samples=samples, max_images=max_images)


def evaluate_model(name: str, samples: int = 100, max_images: int = 500) -> dict[str, float]:
    """Test ELBO, NLL, kNN accuracy and active units of a model, cached per checkpoint file version."""
    path, mtime_ns = model_stamp(name)
    return _evaluate_cached(name, path, mtime_ns, samples, max_images)
