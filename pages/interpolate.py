"""Interpolate page: pick two ends, A and B, and watch one picture morph into the other."""
from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

import vae
from pages.common import latent_map, links, live, model_access, pictures, planes, shell
from pages.common.errors import friendly_errors, guarded, show_callback_error
from pages.common.text import plain

shell.open_in_app()  # run on its own by Streamlit's pages-folder mode: run the whole app

ENDS_KEY = "interp_ends"  # {"model": name, "a": end, "b": end, "next": "a"|"b"}; end = {"index": i} or {"z": [...]}
MODE_KEY = "interp_mode"
INDEX_KEYS = {"a": "interp_index_a", "b": "interp_index_b"}
CLASS_KEYS = {"a": "interp_class_a", "b": "interp_class_b"}
SEED_KEY = "interp_seed"
RANDOM_KEY = "interp_random"
STEPS_KEY = "interp_steps"
DEFAULT_STEPS, MIN_STEPS, MAX_STEPS = 10, 2, 32
LINK_READ_KEY = "interp_link_read"  # the model whose link this session has read (once per model)
METHOD_KEY = "interp_method"
CHART_KEY = "interp_scatter"  # the map (pages/common/latent_map.py)
SCRUBBER_KEY = "interp_scrubber"  # the scrubber under the strip, decoded in the page
SWAP_KEY = "interp_swap"
PNG_KEY, GIF_KEY = "interp_download_png", "interp_download_gif"
MODES = {"click": "Click two points on the map", "index": "Image numbers", "classes": "Random images of two classes"}
METHODS = {"linear": "Straight line", "spherical": "Along a sphere (spherical)"}
DEFAULT_METHOD = "linear"  # the radio's first choice
MAP_HEIGHT = 520  # most pixels of the map's plot
STRIP_HEIGHT = 112  # most on-screen pixels of one image in the strip
STRIP_WIDTH = 880  # most on-screen pixels of the whole strip (whole-pixel scaling may take fewer)
GIF_FRAME_MS = 120  # how long the animation shows each step
CLICK_SLACK = 1e-3  # share of the map's width or height a click may lie outside it (float32 rounding)


def show_page() -> None:
    """Title, then the interpolation for the active model."""
    st.title("Interpolate")
    name = model_access.active_model_name()
    if model_access.active_model() is None:
        return
    st.caption("Pick two ends, **A** and **B**. The model walks through its latent space from A to B and "
               "draws a picture at every step.")
    show_interpolation(name)


@st.fragment
def show_interpolation(name: str) -> None:
    """Controls, the map with the path, and the strip; a click reruns only this part."""
    with friendly_errors(already_shown=show_callback_error()):
        model = model_access.load_model(name)
        plane = planes.latent_plane(name, "pca")
        if plane.note:
            st.info(f"{plain(plane.note)} You can still click two points on the map.")
        if st.session_state.get(LINK_READ_KEY) != name:  # before the widgets, which then show the link's choice
            read_path_link()
            st.session_state[LINK_READ_KEY] = name
        ends = current_ends(name, plane)
        choose_ends(name, plane, ends)
        steps, method = choose_path()
        ends = st.session_state[ENDS_KEY]
        z_a, z_b = end_latent(name, ends["a"]), end_latent(name, ends["b"])
        path, images = model.interpolate(z_a, z_b, steps, method)
        left, right = st.columns([3, 2], gap="medium")
        with left:
            draw_plane(name, plane, path)
        with right:
            describe_ends(plane, ends)
        show_strip(images, method)
        live.draw_scrubber(SCRUBBER_KEY, CHART_KEY, name, plane.projection, z_a, z_b, method)
        show_downloads(name, images)
        update_link(ends, steps, method)


def default_ends(plane: planes.Plane) -> dict:
    """A = test image 0 and B = the first image of another class; without images, two points left and right."""
    if len(plane.labels) >= 2:
        others = np.flatnonzero(plane.labels != plane.labels[0])
        return {"a": {"index": 0}, "b": {"index": int(others[0]) if len(others) else 1}}
    latent_dim = len(plane.dim_ranges)
    left, right = np.zeros(latent_dim), np.zeros(latent_dim)
    left[0], right[0] = -2.0, 2.0
    return {"a": {"z": left.tolist()}, "b": {"z": right.tolist()}}


def current_ends(name: str, plane: planes.Plane) -> dict:
    """The two ends: session state, else the link, else defaults.

    Links carry ``a=``/``b=`` (test image numbers) or ``za=``/``zb=`` (latent points).
    """
    ends = st.session_state.get(ENDS_KEY)
    if ends and ends.get("model") == name:
        return ends
    ends = {"model": name, "next": "a", **default_ends(plane)}
    for end in ("a", "b"):
        from_link = read_link_end(end, plane)
        if from_link is not None:
            ends[end] = from_link
    st.session_state[ENDS_KEY] = ends
    return ends


def read_link_end(end: str, plane: planes.Plane) -> dict | None:
    """One end from the link, or None (with a gentle warning when the value is unusable)."""
    index_text, z_text = st.query_params.get(end), st.query_params.get(f"z{end}")
    try:
        if index_text is not None:
            if not len(plane.labels):
                raise ValueError("this model's test images are not available")
            return {"index": links.parse_index(index_text, len(plane.labels))}
        if z_text is not None:
            return {"z": links.parse_latent(z_text, len(plane.dim_ranges)).tolist()}
    except ValueError as error:
        links.warn_bad_link(end if index_text is not None else f"z{end}", str(error))
    return None


def end_latent(name: str, end: dict) -> np.ndarray:
    """The latent point (D,) of an end: a test image's code, or the stored point."""
    if "index" in end:
        return planes.encode_test_set(name).means[int(end["index"])]
    return np.asarray(end["z"], np.float32)


def set_end(end_name: str, end: dict) -> None:
    """Change end "a" or "b"."""
    st.session_state[ENDS_KEY] = {**st.session_state[ENDS_KEY], end_name: end}


def choose_ends(name: str, plane: planes.Plane, ends: dict) -> None:
    """The three ways to pick the ends; clicking the map always works too."""
    mode = st.radio("Choose the ends by", list(MODES), format_func=MODES.get, key=MODE_KEY, horizontal=True)
    if mode == "index":
        choose_by_index(plane, ends)
    elif mode == "classes":
        choose_by_classes(plane)
    else:
        st.markdown(f"Click the map: the next click sets **{ends['next'].upper()}**, then they take turns. "
                    "Click a dot to use that test image, or empty space for any point.")


def choose_by_index(plane: planes.Plane, ends: dict) -> None:
    """Two number inputs, one per end, 0..N-1."""
    count = len(plane.labels)
    if not count:
        st.info("This model's test images are not available; click the map instead.")
        return
    columns = st.columns(2)
    for column, end in zip(columns, ("a", "b")):
        key = INDEX_KEYS[end]
        if "index" in ends[end] and st.session_state.get(key) != ends[end]["index"]:
            st.session_state[key] = int(ends[end]["index"])
        column.number_input(f"Image number for {end.upper()} (0 to {count - 1})", min_value=0, max_value=count - 1,
                            step=1, key=key, on_change=on_index, args=(end,))


@guarded
def on_index(end: str) -> None:
    """A number input changed: that end becomes the test image with that number."""
    value = st.session_state.get(INDEX_KEYS[end])
    if value is not None:
        set_end(end, {"index": int(value)})


def choose_by_classes(plane: planes.Plane) -> None:
    """Two class pickers and a seed; the button draws one random test image of each class."""
    if not len(plane.labels):
        st.info("This model's test images are not available; click the map instead.")
        return
    classes = list(range(vae.plots.class_count(plane.labels, plane.class_names)))
    label = partial(vae.plots.class_name, plane.class_names)
    for key, default in ((CLASS_KEYS["a"], 0), (CLASS_KEYS["b"], min(1, len(classes) - 1))):
        if st.session_state.get(key) not in classes:
            st.session_state[key] = default
    columns = st.columns([2, 2, 1, 2], vertical_alignment="bottom")
    columns[0].selectbox("Class for A", classes, format_func=label, key=CLASS_KEYS["a"])
    columns[1].selectbox("Class for B", classes, format_func=label, key=CLASS_KEYS["b"])
    columns[2].number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key=SEED_KEY,
                            help="The same seed picks the same images again.")
    columns[3].button("Pick random images", key=RANDOM_KEY, type="primary", on_click=pick_random, args=(plane.labels,))


@guarded
def pick_random(labels: np.ndarray) -> None:
    """One random test image of each chosen class (seeded); an empty class leaves its end alone."""
    rng = np.random.default_rng(int(st.session_state.get(SEED_KEY) or 0))
    for end in ("a", "b"):
        members = np.flatnonzero(labels == st.session_state[CLASS_KEYS[end]])
        if len(members):
            set_end(end, {"index": int(rng.choice(members))})


def read_path_link() -> None:
    """The link's number of steps (``steps=``) and path (``path=spherical``), into the widgets."""
    readers = {"steps": (STEPS_KEY, partial(links.parse_whole, low=MIN_STEPS, high=MAX_STEPS)),
               "path": (METHOD_KEY, partial(links.parse_choice, choices=list(METHODS)))}
    for param, (key, parse) in readers.items():
        text = st.query_params.get(param)
        if text is None:
            continue
        try:
            st.session_state[key] = parse(text)
        except ValueError as error:
            links.warn_bad_link(param, str(error))


def choose_path() -> tuple[int, str]:
    """Number of steps (2..32) and straight or spherical path."""
    columns = st.columns([3, 2, 1], vertical_alignment="bottom")
    st.session_state.setdefault(STEPS_KEY, DEFAULT_STEPS)
    steps = columns[0].slider("Steps", min_value=MIN_STEPS, max_value=MAX_STEPS, key=STEPS_KEY)
    method = columns[1].radio("Path", list(METHODS), format_func=METHODS.get, key=METHOD_KEY, horizontal=True,
                              help="Spherical keeps the in-between codes as 'typical' as the ends, "
                              "which often gives crisper middle pictures in large latent spaces.")
    columns[2].button("Swap A and B", key=SWAP_KEY, on_click=swap_ends)
    return int(steps), str(method)


@guarded
def swap_ends() -> None:
    """Exchange A and B."""
    ends = st.session_state[ENDS_KEY]
    st.session_state[ENDS_KEY] = {**ends, "a": ends["b"], "b": ends["a"]}


def draw_plane(name: str, plane: planes.Plane, path: np.ndarray) -> None:
    """The map with the path; hovering decodes in the page, clicks set A and B in turn."""
    codes = planes.encode_test_set(name).means if len(plane.dim_ranges) > 2 and len(plane.labels) else None
    data = latent_map.map_data(plane.points2d, plane.labels, plane.class_names, plane.x_range, plane.y_range,
                                axis_titles=plane.axis_titles, height=MAP_HEIGHT, codes=codes)
    data.update(path=plane.projection.to_2d(path).tolist(), group=CHART_KEY, legend_local=True)
    data["live"] = live.live_section(name, plane.projection, path[0], base=None, caption="End A")
    live.draw_map(CHART_KEY, data, on_click=partial(on_plane_click, name), on_legend=ignore_legend)
    live.show_note(name)


def ignore_legend() -> None:
    """The legend hides classes in the browser alone on this page (legend_local)."""


@guarded
def on_plane_click(name: str) -> None:
    """A click sets the next end: a dot gives that test image, empty space a point on the plane.

    Anything but a click the map can send (a missing or non-numeric value, NaN, infinity, a point
    off the map, an image number that does not exist) is ignored and changes nothing.
    """
    click = latent_map.event(CHART_KEY, "click")
    ends = st.session_state.get(ENDS_KEY)
    if not isinstance(click, dict):
        return
    if not isinstance(ends, dict) or ends.get("model") != name or ends.get("next") not in ("a", "b"):
        return
    end = clicked_end(click, planes.latent_plane(name, "pca"))
    if end is None:
        return
    which = ends["next"]
    st.session_state[ENDS_KEY] = {**ends, which: end, "next": "b" if which == "a" else "a"}


def clicked_end(click: dict, plane: planes.Plane) -> dict | None:
    """The end a map click names: {"index": i} for a dot, {"z": [...]} for a point of the plane, else None."""
    if click.get("index") is not None:
        index = whole_number(click["index"])
        return {"index": index} if index is not None and 0 <= index < len(plane.labels) else None
    spot = plane_spot(click, plane)
    if spot is None:
        return None
    z = plane.projection.from_2d(spot[None])[0]
    return {"z": [float(v) for v in z]} if np.isfinite(z).all() else None


def plane_spot(point: dict, plane: planes.Plane) -> np.ndarray | None:
    """The clicked (x, y) as float64 (2,) when both are real numbers on the map (a hair of slack), else None."""
    values = [point.get("x"), point.get("y")]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    spot = np.array(values, np.float64)
    for value, (low, high) in zip(spot, (plane.x_range, plane.y_range)):
        slack = CLICK_SLACK * (high - low)  # the browser's float32 positions may round just outside the range
        if not (np.isfinite(value) and low - slack <= value <= high + slack):
            return None
    return spot


def whole_number(value: object) -> int | None:
    """``value`` as an int when it is a whole number (not a bool, not NaN or infinite), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not value.is_integer():  # also False for NaN and infinity
        return None
    return int(value)


def end_text(plane: planes.Plane, end: dict) -> str:
    """"test image #12 (class 3)" or "a point on the map (0.12, -1.30)"."""
    if "index" in end:
        index = int(end["index"])
        label = int(plane.labels[index])
        name = vae.plots.class_name(plane.class_names, label)
        return f"test image #{index} (class {plain(name)})"
    across, up = plane.projection.to_2d(np.asarray(end["z"], np.float32)[None])[0]
    return f"a point on the map ({across:.2f}, {up:.2f})"


def describe_ends(plane: planes.Plane, ends: dict) -> None:
    """Which end is which."""
    st.markdown(f"**A** (orange): {end_text(plane, ends['a'])}  \n**B** (blue): {end_text(plane, ends['b'])}")
    st.caption(f"Next click on the map sets **{ends['next'].upper()}**.")


def show_strip(images: np.ndarray, method: str) -> None:
    """The pictures from A to B in one row (the scrubber under it morphs between them in the page)."""
    strip = vae.images.tile(images, columns=len(images), padding=1)
    widest = max(1, STRIP_HEIGHT // images.shape[1]) * strip.shape[1]  # any wider: a step taller than STRIP_HEIGHT
    pictures.show(strip, min(STRIP_WIDTH, widest), f"From A (left) to B (right): {len(images)} steps, "
                   f"{METHODS[method].lower()}")


def show_downloads(name: str, images: np.ndarray) -> None:
    """PNG and GIF downloads of the strip (both at least 1024 px wide)."""
    strip = vae.images.tile(images, columns=len(images), padding=1)
    columns = st.columns(2)
    pictures.download_png("Download the strip (PNG)", strip, f"{name}-interpolation.png", PNG_KEY, place=columns[0])
    pictures.download_gif("Download the animation (GIF)", images, f"{name}-interpolation.gif", GIF_KEY,
                           frame_ms=GIF_FRAME_MS, place=columns[1])


def update_link(ends: dict, steps: int, method: str) -> None:
    """Put the view in the shareable link: ``a=``/``b=`` for test images, ``za=``/``zb=`` for points, steps, path."""
    values: dict[str, str | None] = {
        "steps": None if steps == DEFAULT_STEPS else str(steps),
        "path": None if method == DEFAULT_METHOD else method,
    }
    for end in ("a", "b"):
        value = ends[end]
        by_index = "index" in value
        values[end] = str(int(value["index"])) if by_index else None
        values[f"z{end}"] = None if by_index else links.latent_text(value["z"])  # never NaN or inf
    links.write_link(values)


with friendly_errors():
    show_page()
