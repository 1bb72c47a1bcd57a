"""The presenter tour's steps (pages/tour.py): each a live view of the model in use, never a screenshot."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
import streamlit as st

import vae
from pages.common import datasets, latent_map, links, live, model_access, pictures, planes
from pages.common.errors import guarded

POINT_KEY = "tour_point"  # {"model": name, "z": [floats]}: the point chosen on the tour's map, if any
SEED_KEY = "tour_seed"  # the random codes of the last step
MAP_KEY = "tour_map"  # the map of steps 2 and 3 (one component: the step changes only its data)
PATH_MAP_KEY = "tour_path_map"  # the map with the interpolation's path
SCRUBBER_KEY = "tour_scrubber"
NEW_SAMPLES_KEY = "tour_new_samples"
MAP_HEIGHT = 560  # most pixels of a map's plot
LIVE_PICTURE_PIXELS = 280  # the live picture beside the map: twice the usual, for the back of the room
EXAMPLE_PIXELS = 168  # a test picture and its redrawing in the first step
EXAMPLES = 3  # test pictures turned into codes in the first step (one per class)
INTERPOLATION_STEPS = 10  # as the Interpolate page's default, so leaving the tour shows the same strip
STRIP_WIDTH = 1200  # most on-screen pixels of the strip
SAMPLE_ROWS, SAMPLE_COLUMNS = 3, 8
SAMPLES_WIDTH = 1000  # most on-screen pixels of the grid of new pictures
SHOWN_NUMBERS = 4  # the first numbers of a longer code shown in words


@dataclass(frozen=True)
class Step:
    """One step: its title, what it shows (given the model's name), and the page that continues it."""

    title: str
    show: Callable[[str], None]
    page: str  # the page "Leave the tour" opens
    params: Callable[[str], dict[str, str]]  # that page's link parameters for the same view, besides the model


def no_params(name: str) -> dict[str, str]:
    """A step whose page needs nothing but the model."""
    return {}


# ------------------------------------------------------------------ 1: what a latent space is


def show_codes(name: str) -> None:
    """A few test pictures, the code the model gives each (encoded now), and the picture drawn back from it."""
    st.markdown("A VAE squeezes each picture into a short list of numbers, its **code**, and draws the picture "
                "again from the code alone. All the codes it can read together are its **latent space**.")
    model = model_access.load_model(name)
    dataset = datasets.model_dataset(model)
    images = dataset.test_images[vae.comparison.shared_images(dataset.test_labels, EXAMPLES)]
    codes, _ = model.encode(images)
    redrawn = model.decode(codes)
    for number, (image, code, again) in enumerate(zip(images, codes, redrawn)):
        left, middle, right = st.columns([1, 2, 1], vertical_alignment="center")
        pictures.show(image, EXAMPLE_PIXELS, None if number else "A test picture", left)
        middle.markdown(f"→ **{code_text(code)}** →")
        pictures.show(again, EXAMPLE_PIXELS, None if number else "Drawn again from its code", right)


def code_text(code: np.ndarray) -> str:
    """A code in words: all of a short one, the first few numbers of a long one."""
    numbers = [f"{value:.2f}".replace("-", "−") for value in np.asarray(code, np.float64)]
    if len(numbers) <= SHOWN_NUMBERS:
        return "(" + ", ".join(numbers) + ")"
    return "(" + ", ".join(numbers[:SHOWN_NUMBERS]) + f", … {len(numbers)} numbers)"


# ------------------------------------------------------------------ 2 and 3: the map, then hover


def show_map(name: str) -> None:
    """Every test picture as a dot at its code, coloured by class (no picture yet: that is the next step)."""
    st.markdown("Every test picture is a dot, placed at its code and coloured by what it shows. The model was "
                "never told the classes, yet similar pictures gather in the same places.")
    draw_tour_map(name, decode=False)


def show_hover(name: str) -> None:
    """The same map with the model's decoder in the page: the picture follows the mouse."""
    st.markdown("**Move the mouse** over the map: the model draws what belongs at every spot, even between the "
                "pictures it has seen. Click to keep a point.")
    draw_tour_map(name, decode=True)


def draw_tour_map(name: str, decode: bool) -> None:
    """The map of steps 2 and 3; with ``decode`` the picture beside it follows the mouse."""
    plane = planes.latent_plane(name, "pca")
    if len(plane.dim_ranges) > 2:
        st.caption(f"The codes have {len(plane.dim_ranges)} numbers; the map shows the two directions in which "
                   "they vary most.")
    z = chosen_point(name)
    codes = planes.encode_test_set(name).means if len(plane.dim_ranges) > 2 and len(plane.labels) else None
    marker = None if z is None else tuple(plane.projection.to_2d(z[None])[0])
    data = latent_map.map_data(plane.points2d, plane.labels, plane.class_names, plane.x_range, plane.y_range,
                                marker=marker, axis_titles=plane.axis_titles, height=MAP_HEIGHT, codes=codes)
    data.update(legend_local=True, picture_pixels=LIVE_PICTURE_PIXELS)
    if decode:
        point = z if z is not None else np.zeros(len(plane.dim_ranges))
        data["live"] = live.live_section(name, plane.projection, point, base=point, ranges=plane.dim_ranges,
                                         caption="The chosen point" if z is not None else "The centre of the map")
    live.draw_map(MAP_KEY, data, on_click=partial(on_map_click, name), on_legend=ignore_event)
    if decode:
        live.show_note(name)


def chosen_point(name: str) -> np.ndarray | None:
    """The point clicked on the tour's map for this model, or None."""
    state = st.session_state.get(POINT_KEY)
    if isinstance(state, dict) and state.get("model") == name:
        return np.asarray(state["z"], np.float64)
    return None


def ignore_event() -> None:
    """The legend hides classes in the browser alone in the tour (legend_local); the path's map takes no clicks."""


@guarded
def on_map_click(name: str) -> None:
    """A click keeps a point: a dot's code, or the plane point (clipped to the map's ranges, as on Latent space)."""
    click = latent_map.event(MAP_KEY, "click")
    if not isinstance(click, dict):
        return
    plane = planes.latent_plane(name, "pca")
    index = click.get("index")
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(plane.labels):
        z = planes.encode_test_set(name).means[index].astype(np.float64)
    else:
        spot = np.array([click.get("x"), click.get("y")], dtype=object)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spot):
            return
        spot = spot.astype(np.float64)
        if not np.isfinite(spot).all():
            return
        base = chosen_point(name)
        z = plane.projection.from_2d(spot[None], base=base)[0].astype(np.float64)
    low, high = np.asarray(plane.dim_ranges, np.float64).T
    st.session_state[POINT_KEY] = {"model": name, "z": [float(v) for v in np.clip(z, low, high)]}


def point_params(name: str) -> dict[str, str]:
    """Latent space's link to the point chosen in the tour (none: the page starts at the centre)."""
    z = chosen_point(name)
    text = None if z is None else links.latent_text(z)
    return {"z": text} if text else {}


# ------------------------------------------------------------------ 4: interpolate


def interpolation_ends(plane: planes.Plane) -> tuple[int, int] | None:
    """A = test image 0, B = the first test image of another class (as the Interpolate page starts); None without."""
    if len(plane.labels) < 2:
        return None
    others = np.flatnonzero(plane.labels != plane.labels[0])
    return 0, int(others[0]) if len(others) else 1


def show_interpolation(name: str) -> None:
    """A straight path from one test picture's code to another's: the map with the path, the strip, the scrubber."""
    st.markdown("Walk in a straight line from one picture's code to another's: every step on the way is a code, "
                "and the model draws each one. **Drag the slider** under the strip to walk slowly.")
    model = model_access.load_model(name)
    plane = planes.latent_plane(name, "pca")
    ends = interpolation_ends(plane)
    if ends is None:
        st.info("This model's test pictures are not available, so the tour walks from left to right instead.")
        z_a, z_b = np.zeros(model.latent_dim, np.float32), np.zeros(model.latent_dim, np.float32)
        z_a[0], z_b[0] = -2.0, 2.0
    else:
        means = planes.encode_test_set(name).means
        z_a, z_b = means[ends[0]], means[ends[1]]
    path, images = model.interpolate(z_a, z_b, INTERPOLATION_STEPS, "linear")
    codes = planes.encode_test_set(name).means if model.latent_dim > 2 and len(plane.labels) else None
    data = latent_map.map_data(plane.points2d, plane.labels, plane.class_names, plane.x_range, plane.y_range,
                                axis_titles=plane.axis_titles, height=MAP_HEIGHT, codes=codes)
    data.update(path=plane.projection.to_2d(path).tolist(), group=PATH_MAP_KEY, legend_local=True,
                picture_pixels=LIVE_PICTURE_PIXELS)
    data["live"] = live.live_section(name, plane.projection, path[0], base=None, caption="End A")
    live.draw_map(PATH_MAP_KEY, data, on_click=ignore_event, on_legend=ignore_event)
    strip = vae.images.tile(images, columns=len(images), padding=1)
    pictures.show(strip, STRIP_WIDTH, "From A (left) to B (right)")
    live.draw_scrubber(SCRUBBER_KEY, PATH_MAP_KEY, name, plane.projection, z_a, z_b, "linear")


def interpolation_params(name: str) -> dict[str, str]:
    """The Interpolate page's link to the same two test pictures."""
    ends = interpolation_ends(planes.latent_plane(name, "pca"))
    return {} if ends is None else {"a": str(ends[0]), "b": str(ends[1])}


# ------------------------------------------------------------------ 5: generate


def show_samples(name: str) -> None:
    """New pictures from random codes, drawn now; a button draws others."""
    st.markdown("Pick codes **at random** and let the model draw: new pictures that were never in the data.")
    st.session_state.setdefault(SEED_KEY, 0)
    model = model_access.load_model(name)
    _, images = model.sample_prior(SAMPLE_ROWS * SAMPLE_COLUMNS, seed=int(st.session_state[SEED_KEY]))
    grid = vae.images.tile(images.reshape(SAMPLE_ROWS, SAMPLE_COLUMNS, *images.shape[1:]))
    pictures.show(grid, SAMPLES_WIDTH, f"{len(images)} pictures from random codes")
    st.button("Draw new pictures", key=NEW_SAMPLES_KEY, on_click=next_seed)


@guarded
def next_seed() -> None:
    """Other random codes."""
    st.session_state[SEED_KEY] = int(st.session_state.get(SEED_KEY, 0)) + 1


STEPS: tuple[Step, ...] = (
    Step("What a latent space is", show_codes, "pages/reconstructions.py", no_params),
    Step("The map", show_map, "pages/explore.py", no_params),
    Step("Hover: the model draws as you move", show_hover, "pages/explore.py", point_params),
    Step("Interpolate: from one picture to another", show_interpolation, "pages/interpolate.py", interpolation_params),
    Step("Generate: new pictures from random codes", show_samples, "pages/generate.py", no_params),
)
