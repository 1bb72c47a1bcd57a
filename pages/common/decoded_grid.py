"""The Generate page's decoded grid: pictures over a range or at the prior's quantiles, labelled with their codes."""
from __future__ import annotations

import numpy as np
import streamlit as st

import vae
from pages.common import model_access, pictures, planes
from pages.common.text import plain

RANGE, QUANTILES = "range", "quantiles"  # vae.analysis.grids' spacings
SPACINGS = {QUANTILES: "Even steps of the prior (Kingma's layout)", RANGE: "Even steps over a range (Keras tutorial)"}
SPACING_WORDS = {
    QUANTILES: "Rows and columns sit at even steps of the prior, the bell curve codes are drawn from: each holds the "
               "same share of the codes the model expects, so pictures crowd near the centre where codes are common.",
    RANGE: "Rows and columns sit at even steps from minus the range to plus the range.",
}
GRID_WORDS = ("Each picture is what the model draws from the code at its place on the grid; the numbers on the "
              "axes are those codes.")
PLANE_METHODS = {"pca": "The two main directions of the test images' codes (PCA)", "dims": "Two chosen code numbers"}
CENTRE, IMAGE = "centre", "image"
HOLD_CHOICES = {CENTRE: "The centre of the slice", IMAGE: "A test picture's code"}
DEFAULT_SIDE, MIN_SIDE, MAX_SIDE = 20, 5, 30  # pictures per side: Kingma's figures have 20, the Keras tutorial 30
MAX_GRID_PX = 4096  # pixels per side of the grid at most: big images get fewer pictures per side (256 px: 15)
# Session-state keys of the widgets. The range, plane and download keep the keys of the map this grid replaced.
SPACING_KEY, SIDE_KEY, RANGE_KEY = "gen_map_spacing", "gen_map_side", "gen_map_range"
PLANE_KEY, DIM_X_KEY, DIM_Y_KEY = "gen_plane", "gen_plane_x", "gen_plane_y"
HOLD_KEY, HOLD_IMAGE_KEY = "gen_plane_hold", "gen_plane_image"
CHART_KEY, DOWNLOAD_KEY = "gen_map_chart", "gen_map_download"
# The Latent space page's plane choice (pages/explore.py PLANE_KEY, DIM_X_KEY, DIM_Y_KEY): the grid starts on it.
EXPLORE_PLANE_KEYS = {PLANE_KEY: "explore_plane", DIM_X_KEY: "explore_dim_x", DIM_Y_KEY: "explore_dim_y"}
CHART_CONFIG = {"displayModeBar": False, "staticPlot": True}  # a picture with labelled axes: nothing to zoom or click


def show_grid(name: str, model: vae.LatentModel) -> None:
    """The decoded grid with its controls, how many of its pictures lie near real codes, and its download."""
    st.subheader("Decoded grid")
    st.caption(GRID_WORDS)
    left, middle, right = st.columns(3)
    spacing = left.radio("Spacing", list(SPACINGS), format_func=SPACINGS.get, key=SPACING_KEY,
                         help="Even steps of the prior follow where the model expects codes (Kingma and Welling's "
                              "figures); even steps over a range cover a square (the Keras tutorial uses 5).")
    most = max(MIN_SIDE, min(MAX_SIDE, MAX_GRID_PX // (max(model.image_shape) + 1)))
    side = middle.slider("Pictures per side", MIN_SIDE, most, min(DEFAULT_SIDE, most), key=SIDE_KEY)
    limit = right.slider("Range", 0.5, 10.0, 3.0, 0.5, key=RANGE_KEY, disabled=spacing != RANGE,
                         help="With even steps over a range, the grid covers codes from minus this value to plus "
                              "this value on both axes. Most training codes lie within 3.")
    st.caption(SPACING_WORDS[spacing])
    projection, base = choose_plane(name, model)
    grid = grid_codes(model.latent_dim, int(side), spacing, float(limit), projection, base)
    rows, columns = grid.shape
    tiles = model.decode(grid.codes).reshape(rows, columns, *model.image_dims)  # (H, W) or (H, W, 3)
    titles = projection.labels if projection is not None else ("z1", "z2")
    x_labels = [vae.grid_pictures.value_label(value) for value in grid.xs]
    y_labels = [vae.grid_pictures.value_label(value) for value in grid.ys] if model.latent_dim > 1 else []
    picture = vae.images.tile(tiles)
    y_title = titles[1] if y_labels else ""
    figure = vae.grid_pictures.grid_figure(picture, model.image_shape, x_labels, y_labels, titles[0], y_title)
    st.plotly_chart(figure, key=CHART_KEY, config=CHART_CONFIG, alt="A grid of decoded pictures")
    show_near_share(name, grid)
    labelled = vae.grid_pictures.labelled_picture(picture, model.image_shape, x_labels, y_labels, titles[0], y_title)
    pictures.download_png("Download PNG", labelled, f"{name}-grid-{spacing}.png", DOWNLOAD_KEY,
                          help_text="The grid with its code values on both axes, at least 1024 pixels on its long "
                                    "side, ready for slides.")


def grid_codes(latent_dim: int, side: int, spacing: str, limit: float, projection: vae.Projection | None,
               base: np.ndarray | None) -> vae.LatentGrid:
    """The grid's codes; at the prior's quantiles the grid is centred where the prior's centre lies on the plane."""
    values = vae.grid_values(side, spacing, limit)
    centre = vae.prior_centre(projection) if spacing == QUANTILES and projection is not None else np.zeros(2)
    ys = values + centre[1] if latent_dim > 1 else np.zeros(1)  # one code number: the grid is one row
    return vae.latent_grid(values + centre[0], ys, latent_dim, projection, base)


def choose_plane(name: str, model: vae.LatentModel) -> tuple[vae.Projection | None, np.ndarray | None]:
    """The plane the grid covers and where the other code numbers stay: the model's own plane up to 2-D."""
    if model.latent_dim == 1:
        st.caption("This model's codes have a single number, so the grid is one row from low to high values.")
    if model.latent_dim <= 2:
        return None, None
    start_on_explore_plane(model.latent_dim)
    columns = st.columns([2, 1, 1])
    method = columns[0].radio("Which flat slice to show", list(PLANE_METHODS), key=PLANE_KEY,
                              format_func=PLANE_METHODS.get,
                              help="The codes have more than two numbers, so the grid shows one flat slice through "
                                   "them, as the Latent space page's map does.")
    dims = (0, 1)
    if method == "dims":
        label = lambda dim: f"z{dim + 1}"  # noqa: E731
        dims = (columns[1].selectbox("Across", range(model.latent_dim), format_func=label, key=DIM_X_KEY),
                columns[2].selectbox("Up", range(model.latent_dim), format_func=label, key=DIM_Y_KEY))
        if dims[0] == dims[1]:
            st.warning("Pick two different numbers for the two axes; showing the next one upwards for now.")
            dims = (dims[0], (dims[0] + 1) % model.latent_dim)
    plane = planes.latent_plane(name, method, dims)
    st.caption(f"This model's codes have {model.latent_dim} numbers, but a grid is flat. It shows the slice along "
               f"{' and '.join(plane.axis_titles)}.")
    if plane.note:
        st.info(f"{plain(plane.note)} The grid uses the first two code numbers instead.")
    return plane.projection, held_code(name, plane)


def start_on_explore_plane(latent_dim: int) -> None:
    """Before the grid's plane is first chosen in this session, take the Latent space page's choice."""
    for key, explore_key in EXPLORE_PLANE_KEYS.items():
        value = st.session_state.get(explore_key)
        valid = value in PLANE_METHODS if key == PLANE_KEY else value in range(latent_dim)
        if key not in st.session_state and valid:
            st.session_state[key] = value


def held_code(name: str, plane: planes.Plane) -> np.ndarray | None:
    """Where the code numbers off the slice stay: the slice's centre, or a chosen test picture's code."""
    if not len(plane.points2d):
        return None
    left, right = st.columns(2)
    hold = left.radio("The other code numbers stay at", list(HOLD_CHOICES), format_func=HOLD_CHOICES.get,
                      key=HOLD_KEY, horizontal=True,
                      help="The slice shows two directions; every other number of the code stays where you say.")
    if hold != IMAGE:
        return None
    means = planes.encode_test_set(name).means
    index = right.number_input("Test picture number", 0, len(means) - 1, 0, step=1, key=HOLD_IMAGE_KEY)
    return np.asarray(means[int(index)], np.float32)


def show_near_share(name: str, grid: vae.LatentGrid) -> None:
    """One sentence: how many of the grid's pictures lie near real codes (or why that cannot be said)."""
    try:
        means = planes.encode_test_set(name).means
        threshold = near_threshold(name)
    except vae.VAEError:
        st.caption("This model has no test images here, so how many pictures lie near real codes is not measured.")
        return
    near = int(vae.near_codes(grid.codes, means, threshold).sum())
    total = len(grid.codes)
    st.markdown(f"**{near} of these {total} pictures ({near / total:.0%}) lie near the codes of real test "
                f"pictures;** the others show places where no test picture's code lies.")
    st.caption(f"Near means: the closest test picture's code is at most {threshold:.3g} away, no farther than "
               f"{vae.NEAR_SHARE:.0%} of the {len(means)} test pictures are from their own closest neighbour "
               f"(distances count every number of the code).")


def near_threshold(name: str) -> float:
    """The distance within which a code counts as near the test codes (cached per version of the model file)."""
    return _near_threshold_cached(name, *model_access.model_stamp(name))


@st.cache_data(show_spinner=False, max_entries=16)
def _near_threshold_cached(name: str, path: str, mtime_ns: int) -> float:
    return vae.near_code_threshold(planes.encode_test_set(name).means)
