"""Compare page: two models side by side on linked maps with their numbers, then several models of one dataset."""
from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

import vae
from pages.common import compare_set, datasets, latent_map, live, model_access, pictures, planes, shell
from pages.common.errors import friendly_errors, guarded, show_callback_error
from pages.common.metrics import evaluate_model
from pages.common.text import plain

shell.open_in_app()  # run on its own by Streamlit's pages-folder mode: run the whole app

SIDES = ("a", "b")
MODEL_KEYS = {"a": "compare_model_a", "b": "compare_model_b"}  # the two selectboxes
MAP_KEYS = {"a": "compare_map_a", "b": "compare_map_b"}  # the two maps (pages/common/latent_map.py)
POINT_KEY = "compare_point"  # {"models": [a, b], "a": [floats], "b": [floats], "picked": int | None}
METRICS_KEY = "compare_metrics"  # the table of numbers
LINK_CHANNEL = "compare"  # the maps' shared channel in the page (pages/common/map_link.js)
# Defaults, first pair present wins: the same digits at two sizes of code, or two kinds of network.
PREFERRED_PAIRS = (("mnist5k-mlp-2d", "mnist5k-mlp-16d"), ("mnist5k-mlp-2d", "mnist5k-conv-2d"))
MAP_HEIGHT = 460  # most pixels of each map's plot
RECONSTRUCTION_WIDTH = 150  # most on-screen pixels of a test image beside its reconstruction
METRICS = (  # (key in vae.evaluate's result, row title, decimals)
    ("test_elbo", "Test ELBO (higher is better)", 2),
    ("nll", "NLL estimate (lower is better)", 2),
    ("knn_accuracy", "kNN accuracy (k = 5)", 3),
    ("active_units", "Active units", 0),
)
STORED_SOURCE, MEASURED_SOURCE = "stored in the file", "measured now"
METRICS_HELP = ("ELBO and NLL in nats per image, on the first 500 test images. kNN accuracy: the share of test "
                "images whose 5 nearest codes among the training images name their class. Active units: the code "
                "numbers the model really uses. \"Stored in the file\": measured when the model was trained. "
                "\"Measured now\": measured here once (vae.evaluate, NLL with 100 samples per image) and kept "
                "until the file changes.")
USES = ("Try the same images at latent sizes 2 and 16, or a model trained with β = 1 against one with β = 4: "
        "the same test image and the same point, seen by both.")


def show_page() -> None:
    """Title, the two models side by side, then several models at once."""
    st.title("Compare models")
    st.caption(USES)
    names = model_access.model_names()
    if not names:
        model_access.show_no_model_yet()
        return
    with friendly_errors():
        pair = choose_models(names)
        show_pair(*pair)
    st.divider()
    with friendly_errors():
        compare_set.show_several(names, model_access.model_info(pair[0]))


def default_pair(names: list[str]) -> tuple[str, str]:
    """Two different models to start with: a preferred pair, else the model in use and the next one."""
    for first, second in PREFERRED_PAIRS:
        if first in names and second in names:
            return first, second
    active = model_access.active_model_name() or names[0]
    others = [name for name in names if name != active]
    return active, others[0] if others else active


def choose_models(names: list[str]) -> tuple[str, str]:
    """The two selectboxes, side by side; a name that has gone is replaced by the default."""
    defaults = dict(zip(SIDES, default_pair(names)))
    columns = st.columns(2)
    for side, column in zip(SIDES, columns):
        if st.session_state.get(MODEL_KEYS[side]) not in names:
            st.session_state[MODEL_KEYS[side]] = defaults[side]
        column.selectbox(f"Model {side.upper()}", names, key=MODEL_KEYS[side])
    return st.session_state[MODEL_KEYS["a"]], st.session_state[MODEL_KEYS["b"]]


@st.fragment
def show_pair(name_a: str, name_b: str) -> None:
    """The two maps, the reconstructions of the image clicked last, and the numbers; a click reruns only this part."""
    with friendly_errors(already_shown=show_callback_error()):
        names = {"a": name_a, "b": name_b}
        plane = {side: planes.latent_plane(names[side], "pca") for side in SIDES}
        by_image, same_code = linking(names, plane)
        describe_linking(names, by_image, same_code)
        state = current_points(names, plane)
        ready = model_access.models_ready()
        for side, column in zip(SIDES, st.columns(2, gap="medium")):
            with column:
                draw_side(side, names, plane, state, by_image, same_code)
                if ready and state["picked"] is not None and (by_image or state.get("side") == side):
                    with friendly_errors():
                        show_reconstruction(names[side], plane[side], state["picked"])
        if not ready:
            model_access.wait_for_models(name_a)
            return
        show_metrics(names)


def linking(names: dict[str, str], plane: dict[str, planes.Plane]) -> tuple[bool, bool]:
    """(by image, same code): whether dot i is the same test image in both maps, and whether one code fits both."""
    infos = {side: model_access.model_info(names[side]) for side in SIDES}
    if any(info is None for info in infos.values()):
        return False, False
    same_images = (infos["a"].dataset == infos["b"].dataset and infos["a"].dataset != "unknown"
                   and len(plane["a"].labels) == len(plane["b"].labels) > 0)
    return same_images, infos["a"].latent_dim == infos["b"].latent_dim


def describe_linking(names: dict[str, str], by_image: bool, same_code: bool) -> None:
    """One line on what the two maps share."""
    if names["a"] == names["b"]:
        st.info("Both sides show the same model: pick another one for A or B to compare.")
    if same_code:
        st.caption("**Linked cursor:** both models have codes of the same size, so the mouse over either map "
                   "decodes the very same code in both pictures (a **+** marks it on the other map). "
                   "A click chooses it in both.")
    elif by_image:
        st.caption("The codes have different sizes, so a point of one map means nothing in the other. The test "
                   "images are the same: hovering one rings it in both maps, and **clicking a dot** marks that "
                   "image in both and shows how each model redraws it.")
    if not by_image:
        st.warning("These two models did not learn the same images, so a dot of one map is no picture of the other"
                   + (": only the cursor is linked." if same_code else ", and their maps are not linked."))


def current_points(names: dict[str, str], plane: dict[str, planes.Plane]) -> dict:
    """The chosen point of each side (the centre at first) and the test image clicked last, if any."""
    state = st.session_state.get(POINT_KEY)
    models = [names["a"], names["b"]]
    if not (isinstance(state, dict) and state.get("models") == models):
        state = {"models": models, "picked": None, "side": None,
                 **{side: [0.0] * len(plane[side].dim_ranges) for side in SIDES}}
        st.session_state[POINT_KEY] = state
    return state


def clip_to_plane(z: np.ndarray, plane: planes.Plane) -> list[float]:
    """The code with every number kept inside the map's slider ranges (as the browser keeps a hovered code)."""
    low, high = np.asarray(plane.dim_ranges, np.float64).T
    return [float(v) for v in np.clip(np.asarray(z, np.float64), low, high)]


def draw_side(side: str, names: dict[str, str], plane: dict[str, planes.Plane], state: dict, by_image: bool,
              same_code: bool) -> None:
    """One model's heading and map: its chosen point as the cross, the linked channel, the decoder in the page."""
    name, shown = names[side], plane[side]
    st.markdown(f"**{side.upper()}: {plain(name)}** ({len(shown.dim_ranges)} numbers per code)")
    if shown.note:
        st.info(plain(shown.note))
    z = np.asarray(state[side], np.float64)
    codes = planes.encode_test_set(name).means if len(z) > 2 and len(shown.labels) else None
    data = latent_map.map_data(shown.points2d, shown.labels, shown.class_names, shown.x_range, shown.y_range,
                                marker=tuple(shown.projection.to_2d(z[None])[0]), axis_titles=shown.axis_titles,
                                height=MAP_HEIGHT, codes=codes)
    picked = state["picked"] if by_image or state.get("side") == side else None
    linked = {"channel": LINK_CHANNEL, "same_code": same_code, "same_images": by_image, "picked": picked}
    data.update(legend_local=True, linked=linked if by_image or same_code else None)
    data["live"] = live.live_section(name, shown.projection, z, base=z, ranges=shown.dim_ranges,
                                     caption=f"Model {side.upper()}: the chosen point")
    live.draw_map(MAP_KEYS[side], data, on_click=partial(on_map_click, side, names["a"], names["b"]),
                  on_legend=ignore_legend)
    live.show_note(name)


def ignore_legend() -> None:
    """The legend hides classes in the browser alone on this page (legend_local)."""


@guarded
def on_map_click(side: str, name_a: str, name_b: str) -> None:
    """A click on one map: a dot picks that test image (in both maps when they share images); empty space a point.

    With codes of one size the other map gets the same code; otherwise it keeps its own point,
    except that a clicked test image moves it to that model's code of the same image.
    """
    click = latent_map.event(MAP_KEYS[side], "click")
    state = st.session_state.get(POINT_KEY)
    names = {"a": name_a, "b": name_b}
    if not isinstance(click, dict) or not isinstance(state, dict) or state.get("models") != [name_a, name_b]:
        return
    plane = {key: planes.latent_plane(names[key], "pca") for key in SIDES}
    by_image, same_code = linking(names, plane)
    other = "b" if side == "a" else "a"
    index = clicked_image(click, len(plane[side].labels))
    if index is not None:
        state[side] = clip_to_plane(planes.encode_test_set(names[side]).means[index], plane[side])
        if by_image and not same_code:
            state[other] = clip_to_plane(planes.encode_test_set(names[other]).means[index], plane[other])
    else:
        spot = clicked_spot(click)
        if spot is None:
            return
        base = np.asarray(state[side], np.float32)
        state[side] = clip_to_plane(plane[side].projection.from_2d(spot[None], base=base)[0], plane[side])
    if same_code:
        state[other] = clip_to_plane(state[side], plane[other])
    st.session_state[POINT_KEY] = {**state, "picked": index, "side": side}


def clicked_image(click: dict, count: int) -> int | None:
    """The test image number the map reported under the mouse, or None (empty space, or not a valid number)."""
    index = click.get("index")
    if isinstance(index, bool) or not isinstance(index, (int, float)) or not 0 <= index < count:
        return None
    return int(index)


def clicked_spot(click: dict) -> np.ndarray | None:
    """The clicked plane point (2,) float64, or None when x or y is not a finite number."""
    values = [click.get("x"), click.get("y")]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    spot = np.asarray(values, np.float64)
    return spot if np.isfinite(spot).all() else None


def show_reconstruction(name: str, plane: planes.Plane, index: int) -> None:
    """The clicked test image beside this model's reconstruction of it."""
    model = model_access.load_model(name)
    original = datasets.test_image(name, index)
    redrawn = model.reconstruct(original[None])[0]
    label = vae.plots.class_name(plane.class_names, int(plane.labels[index])) if index < len(plane.labels) else "?"
    st.markdown(f"**Test image #{index}** (class {plain(label)})")
    pair = vae.images.tile(np.stack([original, redrawn]), columns=2, padding=1)
    pictures.show(pair, 2 * RECONSTRUCTION_WIDTH, "The test image (left) and how this model redraws it (right)")


def model_numbers(name: str) -> tuple[dict[str, float], str]:
    """The model's four numbers and where they come from: stored in its file, or measured now (cached)."""
    stored = model_access.load_model(name).metrics
    if all(key in stored for key, _, _ in METRICS):
        return stored, STORED_SOURCE
    with st.spinner("Measuring the model on its test images (once per model)…"):
        measured = evaluate_model(name)
    return measured, f"{MEASURED_SOURCE} ({int(measured.get('images', 0))} test images)"


def show_metrics(names: dict[str, str]) -> None:
    """The four numbers of both models in one table, with where each column's numbers come from."""
    st.subheader("The numbers side by side")
    columns: dict[str, list[str]] = {"": [title for _, title, _ in METRICS] + ["Latent size", "Where these come from"]}
    for side in SIDES:
        try:
            numbers, source = model_numbers(names[side])
        except vae.VAEError as error:
            numbers, source = {}, f"not available: {error}"  # a table cell is plain text
        cells = [format_number(numbers.get(key), digits) for key, _, digits in METRICS]
        size = model_access.latent_size(names[side])
        columns[f"{side.upper()}: {names[side]}"] = [*cells, str(size), source]
    st.dataframe(columns, hide_index=True, key=METRICS_KEY, width="stretch")
    st.caption(METRICS_HELP)


def format_number(value: float | None, digits: int) -> str:
    """A number with ``digits`` decimals, or a dash when it is missing or not finite."""
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


with friendly_errors():
    show_page()
