"""The view in the shareable link: read a page's query parameters back, and write them in one update.

Reading: each ``parse_*`` raises ValueError with a plain reason; the page then ignores the value with
:func:`warn_bad_link`. Writing: :func:`write_link` sets or drops several parameters at once;
a point with NaN or inf is never written (:func:`latent_text` gives None for it).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import streamlit as st

from pages.common.text import plain

PCA = "pca"  # the value of ``plane=`` for the main-directions plane
TSNE = "tsne"  # ... and for the t-SNE map (pages/common/planes.py TSNE)
# Query parameters that belong to one model's view; dropped when the model changes.
VIEW_PARAMS = ("z", "img", "plane", "hide", "bg", "a", "b", "za", "zb", "steps", "path")


def write_link(values: dict[str, str | None]) -> None:
    """Set the parameters given a text and drop those given None, in one update of the address."""
    current = st.query_params.to_dict()
    wanted = {key: value for key, value in current.items() if values.get(key, value) is not None}
    wanted.update({key: value for key, value in values.items() if value is not None})
    if wanted != current:
        st.query_params.from_dict(wanted)


def latent_text(z: Sequence[float] | np.ndarray) -> str | None:
    """A latent point for the link, or None when a number is NaN or infinite (never written)."""
    values = np.asarray(z, np.float64).ravel()
    if not values.size or not np.isfinite(values).all():
        return None
    return format_latent(values)


def plane_text(method: str, dims: tuple[int, int]) -> str:
    """``plane=``: "pca", "tsne", or the two chosen dims as the page names them ("z3,z5")."""
    return method if method in (PCA, TSNE) else f"z{dims[0] + 1},z{dims[1] + 1}"


def parse_plane(text: str, latent_dim: int) -> tuple[str, tuple[int, int]]:
    """Read ``plane=``: ("pca", (0, 1)), ("tsne", (0, 1)) or ("dims", (x, y)) with two different dims (0-based)."""
    text = str(text).strip().lower()
    if text in (PCA, TSNE):
        return text, (0, 1)
    parts = [part.strip().removeprefix("z") for part in text.split(",")]
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise ValueError('it is neither "pca", "tsne" nor two numbers such as "z1,z2"')
    dims = (int(parts[0]) - 1, int(parts[1]) - 1)
    if not all(0 <= dim < latent_dim for dim in dims):
        raise ValueError(f"this model's codes have the numbers z1 to z{latent_dim}")
    if dims[0] == dims[1]:
        raise ValueError("the two numbers must differ")
    return "dims", dims


def classes_text(classes: Sequence[int]) -> str | None:
    """``hide=``: class numbers separated by commas, or None for none."""
    return ",".join(str(int(c)) for c in sorted(classes)) or None


def parse_classes(text: str, count: int) -> list[int]:
    """Read ``hide=``: distinct class numbers 0..count-1, sorted."""
    try:
        classes = {int(part) for part in str(text).split(",")}
    except ValueError:
        raise ValueError("it is not a list of class numbers separated by commas") from None
    if not classes <= set(range(count)):
        raise ValueError(f"this model's classes are numbered 0 to {count - 1}")
    return sorted(classes)


def parse_switch(text: str) -> bool:
    """Read an on/off parameter: "1" or "0"."""
    if str(text).strip() not in ("0", "1"):
        raise ValueError('it is neither "1" (on) nor "0" (off)')
    return str(text).strip() == "1"


def parse_whole(text: str, low: int, high: int) -> int:
    """Read a whole number from ``low`` to ``high``."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise ValueError("it is not a whole number") from None
    if not math.isfinite(value) or value != int(value) or not low <= value <= high:
        raise ValueError(f"it is not a whole number from {low} to {high}")
    return int(value)


def parse_choice(text: str, choices: Sequence[str]) -> str:
    """Read one of a few named choices."""
    if str(text).strip() not in choices:
        raise ValueError("it is none of " + ", ".join(f'"{choice}"' for choice in choices))
    return str(text).strip()


def format_latent(z: np.ndarray) -> str:
    """A latent point for a link: comma-separated, 4 decimals."""
    return ",".join(f"{float(v):.4f}" for v in np.asarray(z).ravel())


def parse_latent(text: str, latent_dim: int) -> np.ndarray:
    """Read a comma-separated latent point; ValueError with a plain reason when it is not one."""
    parts = [part.strip() for part in str(text).split(",")]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise ValueError("it is not a list of numbers separated by commas") from None
    if len(values) != latent_dim:
        raise ValueError(f"it has {len(values)} numbers but this model's latent size is {latent_dim}")
    if not all(math.isfinite(v) and abs(v) < 1e4 for v in values):
        raise ValueError("it contains a number that is too large or not a number")
    return np.asarray(values, np.float32)


def parse_index(text: str, count: int) -> int:
    """Read an image number 0..count-1; ValueError with a plain reason otherwise."""
    try:
        index = int(str(text).strip())
    except ValueError:
        raise ValueError("it is not a whole number") from None
    if not 0 <= index < count:
        raise ValueError(f"there are only {count} test images (numbers 0 to {count - 1})")
    return index


def warn_bad_link(param: str, reason: str) -> None:
    """A gentle note that part of the link was ignored; the bad parameter is removed from the link."""
    value = str(st.query_params.get(param, ""))
    shown = value if len(value) <= 40 else value[:37] + "..."
    st.warning(f"Part of the link was ignored ({param}={plain(shown)}): {plain(reason)}.")
    st.query_params.pop(param, None)
