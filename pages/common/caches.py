"""Forget every cached model, listing, code set and picture after a checkpoint was saved, replaced or deleted."""
from __future__ import annotations

from pages.common import honest, model_access, path_view, planes, posteriors


def clear_model_caches() -> None:
    """Forget cached models and latents after a checkpoint was saved, replaced or deleted."""
    model_access.clear_caches()
    planes.clear_caches()
    posteriors.clear_caches()
    path_view.clear_caches()
    honest.clear_caches()
