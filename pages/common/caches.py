"""Forget every cached model, listing, code set and picture after a checkpoint was saved, replaced or deleted."""
from __future__ import annotations

from pages.common import model_access, planes


def clear_model_caches() -> None:
    """Forget cached models and latents after a checkpoint was saved, replaced or deleted."""
    model_access.clear_caches()
    planes.clear_caches()
