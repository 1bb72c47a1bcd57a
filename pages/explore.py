"""Latent space page: the test images' codes on a plane; click anywhere or move sliders to decode a point."""
from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

import vae
from pages.common import datasets, latent_map, links, live, model_access, pictures, planes, share_page, shell
from pages.common.errors import friendly_errors, guarded, show_callback_error
from pages.common.text import plain

shell.open_in_app()  # run on its own by Streamlit's pages-folder mode: run the whole app

POINT_KEY = "explore_point"  # {"model": name, "z": [floats], "chosen": bool}: the decoded point
PICKED_KEY = "explore_picked"  # {"model": name, "index": int}: the test image clicked last, if any
CHART_KEY = "explore_scatter"  # the map (pages/common/latent_map.py)
PLANE_KEY = "explore_plane"  # "pca" or "dims" (latent above 2-D only)
DIM_X_KEY, DIM_Y_KEY = "explore_dim_x", "explore_dim_y"
BACKGROUND_KEY = "explore_background"
CLASSES_KEY = "explore_classes"  # class indices shown on the map
LINK_READ_KEY = "explore_link_read"  # the model whose link this session has read (once per model)
DOWNLOAD_KEY = "explore_download"
WEB_PAGE_KEY = "explore_web_page"  # the map as one web page (pages/common/share_page.py)
PLANE_CHOICES = {"pca": "Main directions (PCA)", "dims": "Two chosen dimensions"}
IMAGE_WIDTH = 320  # most pixels on screen for the decoded image (whole-pixel scaling may take fewer)
ORIGINAL_WIDTH = 150  # most pixels on screen for the clicked test image and its reconstruction


def slider_key(dim: int) -> str:
    """Session-state key of latent dim ``dim``'s slider."""
    return f"explore_z_{dim}"


def show_page() -> None:
    """Title, the active model, then the interactive explorer."""
    st.title("Latent space")
    name = model_access.active_model_name()
    if name is None:  # a broken model's message comes from the explorer below, which needs no model to start
        model_access.show_no_model_yet()
        return
    st.caption("Each dot is a test image, placed where the model files its code. **Move the mouse** over the map "
               "to see what the model draws there, and **click** to choose that point (or drag the cross, use the "
               "arrow keys, or move the sliders). Click a class in the legend to hide or show it.")
    show_explorer(name)


@st.fragment
def show_explorer(name: str) -> None:
    """Everything that changes on a click; a click reruns only this part of the page."""
    with friendly_errors(already_shown=show_callback_error()):
        ready = model_access.models_ready()
        latent_dim = model_access.latent_size(name)
        from_link = st.session_state.get(LINK_READ_KEY) != name
        if from_link:  # before the widgets below, which then show what the link asks for
            read_plane_link(latent_dim)
        method, dims = choose_plane(latent_dim)
        plane = planes.latent_plane(name, method, dims)
        if from_link:
            read_view_link(name, plane)
            st.session_state[LINK_READ_KEY] = name
        if plane.note:
            st.info(f"{plain(plane.note)} Clicking the plane still shows what the model draws.")
        z = current_point(name, plane)
        sync_sliders(plane, z)
        left, right = st.columns([2, 1], gap="medium")  # the map holds its own live picture
        if ready:  # sent first, so the picture shows at once while the browser redraws the map
            with right:
                show_decoded(name, plane, z, method, dims)
        with left:  # from saved codes, the map needs no model: a first view draws it before torch loads
            draw_plane(name, plane, z, method, dims)
        if not ready:
            with right:
                model_access.wait_for_models(name)
        update_link(name, plane, method, dims)


def choose_plane(latent_dim: int) -> tuple[str, tuple[int, int]]:
    """Above 2-D: PCA plane (default) or two chosen dims. Returns (method, dims)."""
    if latent_dim <= 2:
        return "dims", (0, 1)
    for key, default in ((DIM_X_KEY, 0), (DIM_Y_KEY, 1)):
        if st.session_state.get(key) not in range(latent_dim):
            st.session_state[key] = default
    columns = st.columns([2, 1, 1])
    method = columns[0].radio("Map", list(PLANE_CHOICES), format_func=PLANE_CHOICES.get, key=PLANE_KEY,
                              horizontal=True, help="The codes have more than two numbers, so the map shows a flat "
                              "slice: the two directions in which the codes vary most (PCA), or two numbers you pick.")
    if method != "dims":
        return "pca", (0, 1)
    label = lambda dim: f"z{dim + 1}"  # noqa: E731
    dim_x = columns[1].selectbox("Across", range(latent_dim), format_func=label, key=DIM_X_KEY)
    dim_y = columns[2].selectbox("Up", range(latent_dim), format_func=label, key=DIM_Y_KEY)
    if dim_x == dim_y:
        st.warning("Pick two different numbers for the two axes; showing the next one upwards for now.")
        dim_y = (dim_x + 1) % latent_dim
    return "dims", (dim_x, dim_y)


def current_point(name: str, plane: planes.Plane) -> np.ndarray:
    """The chosen point (D,): from session state, else the centre."""
    latent_dim = len(plane.dim_ranges)
    state = st.session_state.get(POINT_KEY)
    if state and state.get("model") == name and len(state.get("z", ())) == latent_dim \
            and np.isfinite(state["z"]).all():
        return np.asarray(state["z"], np.float32)
    z = np.zeros(latent_dim, np.float32)
    store_point(name, z, chosen=False)
    return z


def read_plane_link(latent_dim: int) -> None:
    """The link's plane (``plane=pca`` or ``plane=z3,z5``) and background switch (``bg=1``), into the widgets."""
    text = st.query_params.get("plane")
    if text is not None:
        try:
            if latent_dim <= 2:
                raise ValueError("this model's codes have two numbers, and the map always shows both")
            method, dims = links.parse_plane(text, latent_dim)
        except ValueError as error:
            links.warn_bad_link("plane", str(error))
        else:
            st.session_state[PLANE_KEY] = method
            if method == "dims":
                st.session_state[DIM_X_KEY], st.session_state[DIM_Y_KEY] = dims
    text = st.query_params.get("bg")
    if text is not None:
        try:
            st.session_state[BACKGROUND_KEY] = links.parse_switch(text)
        except ValueError as error:
            links.warn_bad_link("bg", str(error))


def read_view_link(name: str, plane: planes.Plane) -> None:
    """The link's hidden classes (``hide=``), clicked test image (``img=``) and point (``z=``)."""
    classes = list(range(vae.plots.class_count(plane.labels, plane.class_names)))
    text = st.query_params.get("hide")
    if text is not None:
        try:
            hidden = links.parse_classes(text, len(classes))
        except ValueError as error:
            links.warn_bad_link("hide", str(error))
        else:
            st.session_state[CLASSES_KEY] = [c for c in classes if c not in hidden]
    state = st.session_state.get(POINT_KEY)
    if not (state and state.get("model") == name):  # this session's own point wins
        read_point_link(name, plane)


def read_point_link(name: str, plane: planes.Plane) -> None:
    """The point from ``z=`` and the clicked test image from ``img=`` (its code when there is no ``z=``)."""
    picked, z = None, None
    text = st.query_params.get("img")
    if text is not None:
        try:
            if not len(plane.labels):
                raise ValueError("this model's test images are not available")
            picked = links.parse_index(text, len(plane.labels))
        except ValueError as error:
            links.warn_bad_link("img", str(error))
    text = st.query_params.get("z")
    if text:
        try:
            z = clip_to_sliders(links.parse_latent(text, len(plane.dim_ranges)), plane)
        except ValueError as error:
            links.warn_bad_link("z", str(error))
    if z is None and picked is not None:
        z = clip_to_sliders(planes.encode_test_set(name).means[picked], plane)
    if z is not None:
        store_point(name, z, picked=picked)


def clip_to_sliders(z: np.ndarray, plane: planes.Plane) -> np.ndarray:
    """Keep every dim inside its slider's range, so the sliders can always show the point."""
    low, high = np.asarray(plane.dim_ranges, np.float64).T  # float64: float32(-3.72) < -3.72 breaks a slider
    return np.clip(np.asarray(z, np.float64), low, high)


def store_point(name: str, z: np.ndarray, chosen: bool = True, picked: int | None = None) -> None:
    """Remember the point (and the clicked test image, if any) in session state."""
    st.session_state[POINT_KEY] = {"model": name, "z": [float(v) for v in z], "chosen": chosen}
    st.session_state[PICKED_KEY] = None if picked is None else {"model": name, "index": int(picked)}


def sync_sliders(plane: planes.Plane, z: np.ndarray) -> None:
    """Keep each slider's session key equal to the point (the sliders in the map show the same numbers)."""
    for dim, value in enumerate(clip_to_sliders(z, plane).tolist()):
        if st.session_state.get(slider_key(dim)) != value:
            st.session_state[slider_key(dim)] = value


@guarded
def on_plane_click(name: str, method: str, dims: tuple[int, int]) -> None:
    """A click on the plane: a test image jumps to its code; empty space decodes through the plane."""
    click = latent_map.event(CHART_KEY, "click")
    if not isinstance(click, dict):
        return
    plane = planes.latent_plane(name, method, dims)
    index = clicked_image(click, len(plane.labels))
    if index is not None:
        store_point(name, clip_to_sliders(planes.encode_test_set(name).means[index], plane), picked=index)
        return
    try:
        spot = np.array([[float(click["x"]), float(click["y"])]], np.float64)
    except (KeyError, TypeError, ValueError):
        return
    if not np.isfinite(spot).all():
        return
    z = plane.projection.from_2d(spot, base=current_point(name, plane))[0]
    store_point(name, clip_to_sliders(z, plane))


def clicked_image(click: dict, count: int) -> int | None:
    """The test image number the map reported under the mouse, or None (empty space, or not a valid number)."""
    index = click.get("index")
    if isinstance(index, bool) or not isinstance(index, (int, float)) or not 0 <= index < count:
        return None
    return int(index)


@guarded
def on_legend(classes: list[int]) -> None:
    """A class clicked in the map's legend: hide it, or show it again (the chips below follow)."""
    label = latent_map.event(CHART_KEY, "legend")
    if isinstance(label, bool) or not isinstance(label, int) or label not in classes:
        return
    shown = st.session_state.get(CLASSES_KEY)
    shown = list(classes if shown is None else shown)  # an empty list: every class is hidden
    shown = [c for c in shown if c != label] if label in shown else sorted([*shown, label])
    st.session_state[CLASSES_KEY] = shown


def draw_plane(name: str, plane: planes.Plane, z: np.ndarray, method: str, dims: tuple[int, int]) -> None:
    """The clickable scatter with the cross at the chosen point, optionally over decoded images."""
    background, hidden, codes = map_layers(name, plane, z, method, dims)
    classes = list(range(vae.plots.class_count(plane.labels, plane.class_names)))
    marker = tuple(plane.projection.to_2d(z[None])[0])
    data = latent_map.map_data(plane.points2d, plane.labels, plane.class_names, plane.x_range, plane.y_range,
                                marker=marker, background_png=background, axis_titles=plane.axis_titles,
                                hidden_classes=hidden, codes=codes)
    data["live"] = live.live_section(name, plane.projection, z, base=z, ranges=plane.dim_ranges,
                                     sliders=live.slider_spec(len(z)))
    live.draw_map(CHART_KEY, data, on_click=partial(on_plane_click, name, method, dims),
                  on_legend=partial(on_legend, classes), on_slider=partial(on_slider, name, method, dims))
    live.show_note(name)
    st.checkbox("Show decoded images behind the points", key=BACKGROUND_KEY,
                help="Draws what the model makes at every spot of a 20 x 20 grid, under the dots.")
    choose_classes(plane, classes)


def map_layers(name: str, plane: planes.Plane, z: np.ndarray, method: str,
               dims: tuple[int, int]) -> tuple[str | None, list[int], np.ndarray | None]:
    """What the map draws besides the dots: the background (or None), the hidden classes, the dots' full codes."""
    background = None
    if st.session_state.get(BACKGROUND_KEY):
        base = None if len(z) <= 2 else z
        background = planes.manifold_png(name, method, dims, base)
    classes = range(vae.plots.class_count(plane.labels, plane.class_names))
    shown = st.session_state.get(CLASSES_KEY)
    hidden = [c for c in classes if shown is not None and c not in shown]
    codes = planes.encode_test_set(name).means if len(z) > 2 and len(plane.labels) else None  # hover = click on a dot
    return background, hidden, codes


def choose_classes(plane: planes.Plane, classes: list[int]) -> None:
    """Chips that choose the classes shown on the map (the map's legend changes the same choice)."""
    if not len(plane.labels):
        return
    if not set(st.session_state.get(CLASSES_KEY) or []) <= set(classes):
        st.session_state[CLASSES_KEY] = classes
    st.session_state.setdefault(CLASSES_KEY, classes)
    st.pills("Classes shown", classes, selection_mode="multi", format_func=partial(pill_name, plane.class_names),
             key=CLASSES_KEY,
             help="Untick a class to hide it on the map (the same as clicking it in the map's legend).")


def pill_name(class_names: tuple[str, ...], index: int) -> str:
    """A class chip's text: the class name, shown as typed (chips read Markdown)."""
    return plain(vae.plots.class_name(class_names, index))


def show_decoded(name: str, plane: planes.Plane, z: np.ndarray, method: str, dims: tuple[int, int]) -> None:
    """The decoded image, large, with its coordinates, a PNG download and the map as a web page; plus the
    clicked test image."""
    model = model_access.load_model(name)
    image = model.decode(z[None])[0]
    pictures.show(image, IMAGE_WIDTH)
    st.markdown(describe_point(plane, z))
    pictures.download_png("Download this image (PNG)", image, f"{name}-decoded.png", DOWNLOAD_KEY)
    background, hidden, codes = map_layers(name, plane, z, method, dims)
    share_page.download_button(name, plane, z, WEB_PAGE_KEY, hidden, codes, background)
    picked = st.session_state.get(PICKED_KEY)
    if picked and picked.get("model") == name:
        with friendly_errors():  # a missing dataset must not hide the map
            show_original(name, plane, int(picked["index"]))


def describe_point(plane: planes.Plane, z: np.ndarray) -> str:
    """Plain text of where the point is: both numbers for 2-D, the map position and all numbers above."""
    if len(z) <= 2:
        return "**Point:** " + ", ".join(f"z{d + 1} = {v:.3f}" for d, v in enumerate(z))
    across, up = plane.projection.to_2d(z[None])[0]
    labels = plane.axis_titles
    every = ", ".join(f"{v:.2f}" for v in z)
    position = f"{labels[0]} = {across:.3f}, {labels[1]} = {up:.3f}"
    return f"**Point on the map:** {position}  \n**All {len(z)} numbers:** {every}"


def show_original(name: str, plane: planes.Plane, index: int) -> None:
    """The clicked test image beside the model's reconstruction of it."""
    model = model_access.load_model(name)
    original = datasets.test_image(name, index)
    reconstruction = model.reconstruct(original[None])[0]
    label = int(plane.labels[index]) if index < len(plane.labels) else -1
    class_name = plane.class_names[label] if 0 <= label < len(plane.class_names) else "?"
    st.markdown(f"**Test image #{index}** (class {plain(class_name)})")
    columns = st.columns(2)
    pictures.show(original, ORIGINAL_WIDTH, "Original", columns[0])
    pictures.show(reconstruction, ORIGINAL_WIDTH, "Reconstruction", columns[1])


@guarded
def on_slider(name: str, method: str, dims: tuple[int, int]) -> None:
    """The sliders in the map let go: the point becomes their code (the browser showed it while they moved)."""
    plane = planes.latent_plane(name, method, dims)
    z = live.slider_code(latent_map.event(CHART_KEY, "slider"), len(plane.dim_ranges))
    state = st.session_state.get(POINT_KEY) or {}
    if z is None or state.get("model") != name:
        return
    store_point(name, clip_to_sliders(z, plane))  # the clicked test image is forgotten


def update_link(name: str, plane: planes.Plane, method: str, dims: tuple[int, int]) -> None:
    """Put the view in the shareable link: the point (once chosen), clicked image, plane, hidden classes, background."""
    state = st.session_state.get(POINT_KEY) or {}
    picked = st.session_state.get(PICKED_KEY)
    shown = st.session_state.get(CLASSES_KEY)
    classes = range(vae.plots.class_count(plane.labels, plane.class_names))
    hidden = [c for c in classes if shown is not None and c not in shown] if len(plane.labels) else []
    links.write_link({
        "z": links.latent_text(state["z"]) if state.get("model") == name and state.get("chosen") else None,
        "img": str(int(picked["index"])) if picked and picked.get("model") == name else None,
        "plane": links.plane_text(method, dims) if len(plane.dim_ranges) > 2 and method != links.PCA else None,
        "hide": links.classes_text(hidden),
        "bg": "1" if st.session_state.get(BACKGROUND_KEY) else None,
    })


with friendly_errors():
    show_page()
