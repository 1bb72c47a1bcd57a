"""The test pictures' posteriors, means and log-variances, encoded by the model itself (cached per file version)."""
from __future__ import annotations

import numpy as np
import streamlit as st

import vae
from pages.common.datasets import model_dataset
from pages.common.model_access import load_model_at, model_stamp


@st.cache_data(show_spinner="Encoding the test pictures with their uncertainty…", max_entries=8)
def _posteriors_cached(path: str, mtime_ns: int, dataset_version: str) -> tuple[np.ndarray, np.ndarray]:
    model = load_model_at(path, mtime_ns)
    return model.encode(model_dataset(model).test_images)


def test_posteriors(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Means (N, D) and log-variances (N, D) of q(z|x) for the model's test pictures.

    The map's saved codes keep the means only; the per-dim KL and the holes need the spreads too.

    Raises:
        DataError: the model names no dataset, or its images cannot be loaded or do not fit.
    """
    return test_posteriors_at(*model_stamp(name))


def test_posteriors_at(path: str, mtime_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`test_posteriors` of the model in the file ``path`` as it was at ``mtime_ns``."""
    return _posteriors_cached(path, mtime_ns, dataset_version_at(path, mtime_ns))


def dataset_version_at(path: str, mtime_ns: int) -> str:
    """The version of the images the model in ``path`` names (vae.data.dataset_version), "" for none."""
    dataset = load_model_at(path, mtime_ns).dataset
    return vae.data.dataset_version(dataset) if dataset else ""


def clear_caches() -> None:
    """Forget the encoded posteriors (after a checkpoint was saved, replaced or deleted)."""
    _posteriors_cached.clear()
