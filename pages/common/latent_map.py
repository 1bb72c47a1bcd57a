"""The Latent space page's map: a small canvas component (pages/common/latent_map.js) instead of a plotly chart.

Plotly cost about 2 s of the browser's first view on a 2-core machine; this draws the same dots
on a <canvas> in a few milliseconds. It reports each click's exact plane position (no invisible
click grid) and the test image under the mouse, and its legend hides classes for good.
"""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import streamlit as st

import vae

HERE = Path(__file__).resolve().parent
COMPONENT_NAME = "vae_explorer.latent_map"
MAX_LABEL = np.iinfo(np.uint16).max  # labels travel as uint16

_mount = st.components.v2.component(
    COMPONENT_NAME, js=(HERE / "latent_map.js").read_text(), css=(HERE / "latent_map.css").read_text(),
    isolate_styles=False,
)


def encode_floats(values: np.ndarray) -> str:
    """A 1-D array as base64 of little-endian float32 (what the browser reads into a Float32Array)."""
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f4").tobytes()).decode("ascii")


def encode_labels(labels: np.ndarray) -> str:
    """Class numbers as base64 of little-endian uint16."""
    array = np.clip(np.asarray(labels).astype(np.int64).ravel(), 0, MAX_LABEL)
    return base64.b64encode(array.astype("<u2").tobytes()).decode("ascii")


def map_data(
    points2d: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    marker: tuple[float, float] | None = None,
    background_png: bytes | str | None = None,
    axis_titles: tuple[str, str] = ("z1", "z2"),
    hidden_classes: Sequence[int] = (),
    height: int = vae.plots.PLOT_HEIGHT,
) -> dict:
    """What the map component draws, as plain JSON values.

    Args:
        points2d: (N, 2) plane positions of the test images; dot i is test image i.
        labels: (N,) class number of each image.
        class_names: legend names; classes beyond the names are called "class k".
        x_range, y_range: the fixed plane shown.
        marker: the chosen point, drawn as a cross.
        background_png: a picture (PNG bytes or data URI) stretched over the plane, under the dots.
        axis_titles: names of the horizontal and vertical axes.
        hidden_classes: class numbers not drawn (shown struck out in the legend).
        height: pixels.
    """
    points = np.asarray(points2d, np.float32).reshape(-1, 2)
    labels, names = vae.plots.plot_classes(labels, class_names)  # at most MAX_CLASSES, one name each
    count = len(names)
    return {
        "x": encode_floats(points[:, 0]), "y": encode_floats(points[:, 1]), "labels": encode_labels(labels),
        "count": int(len(points)), "class_names": list(names),
        "colors": [vae.plots.class_color(c) for c in range(count)],
        "symbols": [vae.plots.class_symbol(c) for c in range(count)],
        "hidden": sorted({int(c) for c in hidden_classes}),
        "x_range": [float(v) for v in x_range], "y_range": [float(v) for v in y_range],
        "marker": None if marker is None else [float(marker[0]), float(marker[1])],
        "background": None if background_png is None else vae.plots.png_data_uri(background_png),
        "axis_titles": [str(title) for title in axis_titles], "height": int(height),
    }


def latent_map(key: str, data: dict, on_click: Callable[[], None], on_legend: Callable[[], None]) -> None:
    """Draw the map; ``on_click`` / ``on_legend`` run (before the rerun) when the user clicks the plane / a class."""
    _mount(key=key, data=data, on_click_change=on_click, on_legend_change=on_legend, height=data["height"])


def event(key: str, name: str) -> object | None:
    """The value of the map's event ``name`` ("click" or "legend") in this run, or None (call it in a callback)."""
    state = st.session_state.get(key)
    return state.get(name) if state is not None else None
