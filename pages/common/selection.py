"""Test pictures selected on the Latent space map (a box or a lasso, pages/common/map_select.js): their grid, their
scores, a CSV export, and the direction from a selection A to a selection B with a strip along it."""
from __future__ import annotations

import base64
from functools import partial

import numpy as np
import streamlit as st

import vae
from pages.common import datasets, latent_map, model_access, pictures, planes
from pages.common.errors import guarded
from pages.common.text import plain

SELECTION_KEY = "explore_selection"  # {"model": name, "indices": [ints]}: the pictures selected on the map
KEPT_KEYS = {"A": "explore_selection_a", "B": "explore_selection_b"}  # selections kept as A and B, same shape
CSV_KEY, GRID_DOWNLOAD_KEY, STRIP_DOWNLOAD_KEY = "explore_selection_csv", "explore_selection_png", "explore_ab_png"
GRID_COLUMNS = 10  # pictures per row of the selection's grid
MAX_GRID = 100  # pictures shown in the grid (the first ones by number); the table and the CSV hold them all
STRIP_WIDTH = 700  # most on-screen pixels of the A-to-B strip
SCORE_COLUMNS = ("ELBO (nats)", "Redrawing error, -log p(x|z) (nats)", "Pixel error (mean squared)")


def event_indices(value: object, count: int) -> list[int] | None:
    """The picture numbers of a "select" event ({"indices": [ints]}), sorted and each once; None when malformed.

    Malformed: not a dict with a list, a number that is not an int (bools, floats and text are refused)
    or not a picture of the map (0..count-1), or more numbers than the map has pictures.
    """
    numbers = value.get("indices") if isinstance(value, dict) else None
    if not isinstance(numbers, list) or len(numbers) > count:
        return None
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < count for n in numbers):
        return None
    return sorted(set(numbers))


@guarded
def on_select(name: str, key: str, count: int) -> None:
    """The map's "select" event: remember the selected pictures (an empty list clears the selection)."""
    indices = event_indices(latent_map.event(key, "select"), count)
    if indices is not None:
        st.session_state[SELECTION_KEY] = {"model": name, "indices": indices}


def selected(name: str, key: str = SELECTION_KEY) -> list[int]:
    """The pictures of this model selected on the map (or kept as A or B under ``key``)."""
    state = st.session_state.get(key)
    return list(state["indices"]) if state and state.get("model") == name else []


def map_fields(name: str) -> dict:
    """What the map needs to offer selection: the toolbar, and the selected dots to ring (base64 uint32)."""
    indices = np.asarray(selected(name), "<u4")
    return {"selectable": True, "selection": {"indices": base64.b64encode(indices.tobytes()).decode("ascii")}}


def keep(name: str, which: str) -> None:
    """Keep the current selection as A or B."""
    st.session_state[KEPT_KEYS[which]] = {"model": name, "indices": selected(name)}


@st.cache_data(show_spinner="Scoring every test picture (once per model)…", max_entries=4)
def _scores_cached(path: str, mtime_ns: int) -> vae.ImageScores:
    model = model_access.load_model_at(path, mtime_ns)
    return vae.score_images(model, datasets.model_dataset(model).test_images)


def scores(name: str) -> vae.ImageScores:
    """ELBO, -log p(x|z) and pixel error of every test picture of the model (vae.score_images, cached)."""
    return _scores_cached(*model_access.model_stamp(name))


def show_selection(name: str) -> None:
    """Below the map: the selected pictures, their scores, the CSV, and A to B."""
    indices = selected(name)
    if not indices and not any(selected(name, key) for key in KEPT_KEYS.values()):
        st.caption("To pick pictures, press **Select** above the map and drag a box round them (hold Shift and drag "
                   "for a lasso).")
        return
    if indices:
        show_pictures(name, indices)
    show_a_to_b(name, indices)


def show_pictures(name: str, indices: list[int]) -> None:
    """The grid (with a download), each picture's scores with their averages, and the CSV export."""
    st.subheader(f"{len(indices):,} selected pictures")
    model = model_access.load_model(name)
    images = datasets.model_dataset(model).test_images[np.asarray(indices)]
    grid = vae.images.tile(images[:MAX_GRID], columns=min(GRID_COLUMNS, len(indices)))
    pictures.show(grid, pictures.PICTURE_WIDTH, None if len(indices) <= MAX_GRID else f"The first {MAX_GRID}.")
    pictures.download_png("Download these pictures (PNG)", grid, f"{name}-selection.png", GRID_DOWNLOAD_KEY)
    found = scores(name)
    table = {"Picture": indices, "Class": [vae.plots.class_name(planes.encode_test_set(name).class_names, label)
                                           for label in planes.encode_test_set(name).labels[indices]]}
    values = (found.elbo, found.reconstruction_nll, found.squared_error)
    table.update({column: value[indices] for column, value in zip(SCORE_COLUMNS, values)})
    st.markdown(f"On average: ELBO **{values[0][indices].mean():.1f}** nats (higher is better), redrawing error "
                f"**{values[1][indices].mean():.1f}** nats and pixel error **{values[2][indices].mean():.4f}** "
                "(lower is better).")
    st.dataframe(table, hide_index=True, key="explore_selection_table")
    codes = planes.encode_test_set(name)
    st.download_button("Export selection (CSV)", data=partial(vae.selection_csv, np.asarray(indices), codes.labels,
                                                              codes.class_names, codes.means),
                       file_name=f"{name}-selection.csv", mime="text/csv", key=CSV_KEY, on_click="ignore",
                       help="One row per picture: its number, class number, class name and every code number.")


def show_a_to_b(name: str, indices: list[int]) -> None:
    """Keep the selection as A or B; with both, the direction from A to B and a strip of pictures along it."""
    st.markdown("**From selection A to selection B**: keep one selection as A and another as B to see what changes "
                "between them.")
    columns = st.columns(2)
    for column, which in zip(columns, KEPT_KEYS):
        column.button(f"Keep this selection as {which}", key=f"explore_keep_{which.lower()}", disabled=not indices,
                      on_click=keep, args=(name, which))
        column.caption(f"{which}: {len(selected(name, KEPT_KEYS[which])):,} pictures")
    first, second = (selected(name, key) for key in KEPT_KEYS.values())
    if not first or not second:
        return
    means = planes.encode_test_set(name).means
    direction = vae.attribute_vector(means, first, second)
    amounts, codes = vae.attribute_strip(means, first, second)
    strip = vae.images.tile(model_access.load_model(name).decode(codes), padding=1)
    pictures.show(strip, STRIP_WIDTH, plain(f"Steps {', '.join(f'{a:g}' for a in amounts)}: 0 is A's average code, "
                                            f"1 is B's (the direction is {np.linalg.norm(direction):.2f} long)"))
    pictures.download_png("Download the strip (PNG)", strip, f"{name}-a-to-b.png", STRIP_DOWNLOAD_KEY)
