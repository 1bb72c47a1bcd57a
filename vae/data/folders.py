"""Where datasets live on disk: the data root ($VAE_DATA_ROOT, else <repo>/data) and its uploads/ folder."""
from __future__ import annotations

import os
from pathlib import Path

UPLOADS_FOLDER = "uploads"  # below the data root; the only place uploads are written


def default_data_root() -> Path:
    """Folder where torchvision datasets live: $VAE_DATA_ROOT, else <repo>/data."""
    env_root = os.environ.get("VAE_DATA_ROOT")
    if env_root:
        return Path(env_root).expanduser()
    return Path(__file__).resolve().parents[2] / "data"  # this file is <repo>/vae/data/folders.py


def uploads_folder(root: str | Path | None = None) -> Path:
    """Folder of the stored uploads: ``<root>/uploads``, root defaulting to :func:`default_data_root`."""
    return (Path(root) if root is not None else default_data_root()) / UPLOADS_FOLDER
