"""The Latent space page's training time-lapse: a player that animates the test codes epoch by epoch in the browser
(pages/common/timelapse_player.js, no rerun per frame), and the same film as GIF and MP4 downloads
(vae.timelapse_video).
"""
from __future__ import annotations

import base64
from functools import partial

import numpy as np
import streamlit as st

import vae
from pages.common import latent_map, model_access
from pages.common.latent_map import component_js, encode_labels

COMPONENT_NAME = "vae_explorer.timelapse"
PLAYER_KEY = "explore_timelapse"  # the player (its state lives in the browser only)
GIF_KEY, MP4_KEY = "explore_timelapse_gif", "explore_timelapse_mp4"
LEVELS = np.iinfo(np.uint16).max  # positions travel as uint16 steps across the fixed frame (1/65,535 of its width)
PLAYER_HEIGHT = 420  # most pixels of the player's plot
NO_TIMELAPSE = ("This model has no training time-lapse: it was trained before the app recorded one, or it was "
                "imported from another program. Models trained now on the Train page or with `python -m vae train` "
                "have one.")
UNUSABLE_TIMELAPSE = ("This model's training time-lapse cannot be shown: its file is damaged, or the model file "
                      "changed after training, so the recorded epochs no longer belong to it.")

_mount = st.components.v2.component(
    COMPONENT_NAME, js=component_js(latent_map.HERE / "timelapse_player.js"),
    css=(latent_map.HERE / "timelapse_player.css").read_text(), isolate_styles=False,
)


@st.cache_data(max_entries=8, show_spinner=False)
def _read_cached(path: str, mtime_ns: int, sidecar_mtime_ns: int) -> vae.Timelapse | None:
    return vae.read_timelapse(path)


def read_timelapse(name: str) -> tuple[vae.Timelapse | None, bool]:
    """(the model's time-lapse or None, whether a time-lapse file exists at all): read once per file version."""
    path, mtime_ns = model_access.model_stamp(name)
    sidecar = vae.files.timelapse_path(path)
    try:
        sidecar_mtime = sidecar.stat().st_mtime_ns
    except OSError:
        return None, False
    return _read_cached(path, mtime_ns, sidecar_mtime), True


def show_timelapse(name: str) -> None:
    """The player and the downloads, or one line saying why this model has no time-lapse."""
    st.subheader("How this map formed during training")
    timelapse, exists = read_timelapse(name)
    if timelapse is None:
        st.caption(UNUSABLE_TIMELAPSE if exists else NO_TIMELAPSE)
        return
    plane = "the codes themselves" if timelapse.latent_dim <= 2 else "the final codes' two main directions (PCA)"
    st.caption(f"Each dot is a test image's code after the epoch shown, on {plane}: press play or drag the slider "
               f"to watch the classes pull apart as the model learns (the frame stays the same, so only the dots "
               f"move).")
    _mount(key=PLAYER_KEY, data=player_data(timelapse))
    show_downloads(name)


def player_data(timelapse: vae.Timelapse) -> dict:
    """What the player draws, as plain JSON values: every epoch's positions quantised in the fixed frame."""
    labels, names = vae.plots.plot_classes(timelapse.labels, timelapse.class_names)
    count = len(names)
    x_min, x_max, y_min, y_max = timelapse.frame
    return {
        "epochs": [int(epoch) for epoch in timelapse.epochs], "count": int(timelapse.points.shape[1]),
        "points": encode_positions(timelapse.points, timelapse.frame), "labels": encode_labels(labels),
        "class_names": list(names), "colors": [vae.plots.class_color(c) for c in range(count)],
        "symbols": [vae.plots.class_symbol(c) for c in range(count)],
        "x_range": [x_min, x_max], "y_range": [y_min, y_max],
        "axis_titles": [str(title) for title in timelapse.projection.labels], "height": PLAYER_HEIGHT,
        "frame_ms": int(1000 / vae.timelapse_video.frames_per_second(len(timelapse.epochs))),
    }


def encode_positions(points: np.ndarray, frame: tuple[float, float, float, float]) -> str:
    """(F, N, 2) plane positions -> base64 of little-endian uint16 steps across the frame (outliers on its edge)."""
    x_min, x_max, y_min, y_max = frame
    share = (np.asarray(points, np.float64) - [x_min, y_min]) / [x_max - x_min, y_max - y_min]
    steps = np.rint(np.nan_to_num(share, nan=0.5).clip(0.0, 1.0) * LEVELS).astype("<u2")
    return base64.b64encode(steps.tobytes()).decode("ascii")


@st.cache_data(max_entries=4, show_spinner=False)
def _film_cached(path: str, mtime_ns: int, kind: str, name: str) -> bytes:
    timelapse = vae.read_timelapse(path)
    if timelapse is None:
        raise vae.CheckpointError("The training time-lapse changed or went away; reload the page.")
    make = vae.timelapse_video.timelapse_mp4 if kind == "mp4" else vae.timelapse_video.timelapse_gif
    return make(timelapse, name)


def film(name: str, kind: str) -> bytes:
    """The time-lapse of model ``name`` as "gif" or "mp4" bytes (made on the click, kept for the next one)."""
    return _film_cached(*model_access.model_stamp(name), kind, name)


def show_downloads(name: str) -> None:
    """Download buttons for the film: an animated GIF (slides, chat) and an MP4 (slides, video players)."""
    columns = st.columns(2)
    columns[0].download_button("Download the time-lapse (GIF)", data=partial(film, name, "gif"),
                               file_name=f"{name}-timelapse.gif", mime="image/gif", key=GIF_KEY, on_click="ignore",
                               help="An animated picture that loops, 1280 x 720, with the epoch written on it.")
    columns[1].download_button("Download the time-lapse (MP4 video)", data=partial(film, name, "mp4"),
                               file_name=f"{name}-timelapse.mp4", mime="video/mp4", key=MP4_KEY, on_click="ignore",
                               help="A video (H.264, 1280 x 720) that plays in slides and video players.")
