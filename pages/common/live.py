"""The live latent space: the map's points and the model's decoder go to the browser once, and the page decodes there.

The decoder is exported by vae (vae.io.web, a plain layer list and float32 weights; no torch here)
and run by pages/decoder.js inside the map component (pages/common/map_live.js). Big things are
sent once per session, named by a content hash: the points by their token, the decoder by its
sha256. The browser keeps them for the tab; a click then sends only the marker. When the browser
lacks what the data names (a reload, a new tab on an old session), it sends the map's "need"
event and the next run sends it again. A model whose decoder the browser cannot run keeps server
decoding, with a one-line note under the map.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Callable, Sequence

import numpy as np
import streamlit as st

import vae
from pages.common import latent_map, model_access
from pages.common.errors import guarded

MAX_SLIDER_DIMS = 64  # the largest latent size the map shows sliders for
SENT_KEY = "live_sent"  # tokens and decoder hashes this session has sent to the browser (which keeps them)
FALLBACK_NOTE = ("This model has a layer the browser cannot run, so the picture is drawn by the server when you "
                 "click (it does not follow the mouse).")
SLIDER_LABELS_2D = ("Across (z1)", "Up (z2)")
SCRUBBER_PICTURE_PIXELS = 112  # most CSS pixels of the scrubber's picture, as a step of the strip
LOGGER = logging.getLogger("vae_explorer")


@dataclass(frozen=True)
class LiveDecoder:
    """A model's decoder for the page: ``payload`` (vae.io.web WebDecoder.payload()), or None and the ``problem``."""

    payload: dict | None
    problem: str


@st.cache_resource(show_spinner=False, max_entries=8)
def _export_cached(path: str, mtime_ns: int, _name: str) -> LiveDecoder:
    """The export, once per checkpoint file version (the key is the path and its modification time)."""
    model = model_access.load_model(_name)
    try:
        decoder = vae.export_decoder(model)
    except vae.UnsupportedLayer as error:
        LOGGER.info("No in-page decoder for %s: %s", path, error)
        return LiveDecoder(None, str(error))
    return LiveDecoder(decoder.payload(), "")


def live_decoder(name: str) -> LiveDecoder | None:
    """The model's decoder for the page, or None while models are not loaded yet (or this one cannot load)."""
    if not model_access.models_ready():
        return None  # the first view draws the map before torch loads; the decoder comes with the next run
    try:
        return _export_cached(*model_access.model_stamp(name), name)
    except vae.VAEError:
        return None  # the page shows why the model cannot load where it decodes


def show_note(name: str) -> None:
    """The one-line note under the map when the browser cannot run this model's decoder."""
    decoder = live_decoder(name)
    if decoder is not None and decoder.payload is None:
        st.caption(FALLBACK_NOTE)


def live_section(name: str, projection: vae.Projection, point: np.ndarray | None, base: np.ndarray | None,
                 ranges: Sequence[tuple[float, float]] | None = None, sliders: dict | None = None,
                 caption: str | None = None) -> dict:
    """What the map needs to decode in the page (its "live" data).

    The browser lifts a plane point to a code exactly as ``projection.from_2d(point, base)`` does, then
    keeps every number inside ``ranges`` (as the page clips a clicked point), so hover and click decode
    the same code. ``point`` is the chosen code the picture shows when the mouse is elsewhere.
    """
    decoder = live_decoder(name)
    return {
        "decoder": decoder.payload if decoder is not None else None,
        "lift": vae.lift_payload(projection, base),
        "ranges": None if ranges is None else [[float(low), float(high)] for low, high in ranges],
        "point": None if point is None else [float(v) for v in np.asarray(point, np.float64).ravel()],
        "sliders": sliders, "caption": caption,
    }


def slider_spec(latent_dim: int) -> dict:
    """The latent sliders drawn in the map: both dims of a 2-D model, all of a larger one (in a fold-out)."""
    if latent_dim <= 2:
        return {"labels": list(SLIDER_LABELS_2D[:latent_dim]), "title": None}
    shown = min(latent_dim, MAX_SLIDER_DIMS)
    return {"labels": [f"z{dim + 1}" for dim in range(shown)],
            "title": f"Fine-tune all {latent_dim} numbers of the point"}


def slider_code(value: object, latent_dim: int) -> np.ndarray | None:
    """The code a "slider" event carries ({"z": [D numbers]}), or None when it is not one (float64, finite)."""
    numbers = value.get("z") if isinstance(value, dict) else None
    if not isinstance(numbers, list) or len(numbers) != latent_dim:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
        return None
    code = np.asarray(numbers, np.float64)
    return code if np.isfinite(code).all() else None


# ---------------------------------------------------------------- sent once


def _sent() -> set[str]:
    return st.session_state.setdefault(SENT_KEY, set())


def once(token: str, full: dict, short: dict) -> dict:
    """``full`` the first time this session sends ``token``, then ``short`` (the browser keeps the rest)."""
    sent = _sent()
    if token in sent:
        return short
    sent.add(token)
    return full


def compact(data: dict) -> dict:
    """The map's data with the points and the decoder replaced by their names when the browser has them."""
    points = data["points"]
    shown = {**data, "points": once(points["token"], points, {"token": points["token"], "count": points["count"]})}
    payload = (data.get("live") or {}).get("decoder")
    if payload:
        sha = payload["header"]["sha256"]
        shown["live"] = {**data["live"], "decoder": once(sha, payload, {"sha256": sha})}
    return shown


@guarded
def on_need(key: str) -> None:
    """The browser lacks what its data names ({"points": token} or {"decoder": sha256}): send it again."""
    what = latent_map.event(key, "need")
    if not isinstance(what, dict):
        return
    for field in ("points", "decoder"):
        if isinstance(what.get(field), str):
            _sent().discard(what[field])


def draw_map(key: str, data: dict, on_click: Callable[[], None], on_legend: Callable[[], None],
             **on_events: Callable[[], None]) -> None:
    """Draw the map (pages/common/latent_map.py) with what the browser already has sent by name only."""
    latent_map.latent_map(key, compact(data), on_click, on_legend, on_need=partial(on_need, key), **on_events)


def draw_scrubber(key: str, group: str, name: str, projection: vae.Projection, z_a: np.ndarray, z_b: np.ndarray,
                  method: str) -> None:
    """Interpolate's scrubber: a slider from A to B decoded in the page, its spot shown on the map ``group``."""
    decoder = live_decoder(name)
    payload = decoder.payload if decoder is not None else None
    if payload:
        sha = payload["header"]["sha256"]
        payload = once(sha, payload, {"sha256": sha})
    lift = vae.lift_payload(projection)
    data = {"group": group, "decoder": payload, "method": method, "label": "From A to B",
            "a": [float(v) for v in np.asarray(z_a, np.float64)], "b": [float(v) for v in np.asarray(z_b, np.float64)],
            "projection": {"mean": lift["mean"], "axes": lift["axes"]}, "picture_pixels": SCRUBBER_PICTURE_PIXELS}
    latent_map.scrubber(key, data, on_need=partial(on_need, key))
