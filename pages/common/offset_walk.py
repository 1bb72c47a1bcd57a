"""The Generate page's offset walk: from a test picture's code, the same step again and again in one direction."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

import vae
from pages.common import pictures, planes
from pages.common.text import plain

WALK_WORDS = ("Start from one test picture's code and push it further and further in one direction, the same step "
              "each time (\"generate with offset\"): the pictures show how the drawing changes as the code moves "
              "away. The number under each picture is how far its code is from the start.")
NUMBER, CLASS, CLICKED, CENTRE = "number", "class", "clicked", "centre"
START_CHOICES = {NUMBER: "A test picture by number", CLASS: "The first test picture of a class",
                 CLICKED: "The picture clicked on the Latent space page"}
DIM, RANDOM, CLASSES = "dim", "random", "classes"
DIRECTION_CHOICES = {DIM: "One code number", RANDOM: "A random direction", CLASSES: "From one class toward another"}
DEFAULT_STEP, DEFAULT_STEPS = 0.5, 8
# Session-state keys of the widgets.
START_KEY, IMAGE_KEY, START_CLASS_KEY = "gen_walk_start", "gen_walk_image", "gen_walk_class"
DIRECTION_KEY, DIM_KEY, SEED_KEY = "gen_walk_direction", "gen_walk_dim", "gen_walk_seed"
FROM_KEY, TO_KEY = "gen_walk_from", "gen_walk_to"
STEP_KEY, STEPS_KEY = "gen_walk_step", "gen_walk_steps"
CHART_KEY, DOWNLOAD_KEY = "gen_walk_chart", "gen_walk_download"
EXPLORE_PICKED_KEY = "explore_picked"  # pages/explore.py PICKED_KEY: {"model": name, "index": n}, the last click
CHART_CONFIG = {"displayModeBar": False, "staticPlot": True}


@dataclass(frozen=True)
class Codes:
    """The test pictures' codes as the walk needs them (empty when the model has no test images here)."""

    means: np.ndarray  # (N, D)
    labels: np.ndarray  # (N,)
    class_names: tuple[str, ...]


def show_offset_walk(name: str, model: vae.LatentModel) -> None:
    """The walk's controls, its strip labelled with the offsets, and its download."""
    st.subheader("Walk away from a picture")
    st.caption(WALK_WORDS)
    codes = walk_codes(name, model.latent_dim)
    start, start_words = choose_start(name, codes, model.latent_dim)
    direction, direction_words = choose_direction(codes, model.latent_dim)
    left, right = st.columns(2)
    step = left.slider("Step", 0.1, 2.0, DEFAULT_STEP, 0.1, key=STEP_KEY,
                       help="How far each picture's code moves beyond the one before it.")
    steps = right.slider("Steps", 2, 16, DEFAULT_STEPS, key=STEPS_KEY, help="How many steps the walk takes.")
    walk = vae.offset_codes(start, direction, float(step), int(steps))
    strip = vae.images.tile(model.decode(walk))
    labels = [vae.grid_pictures.value_label(k * float(step)) for k in range(int(steps) + 1)]
    title = "How far from the start"
    st.plotly_chart(vae.grid_pictures.grid_figure(strip, model.image_shape, labels, x_title=title), key=CHART_KEY,
                    config=CHART_CONFIG, alt="A row of pictures drawn from codes further and further from the start")
    st.markdown(f"From {start_words}, along {direction_words}.")
    labelled = vae.grid_pictures.labelled_picture(strip, model.image_shape, labels, x_title=title)
    pictures.download_png("Download PNG", labelled, f"{name}-offset-walk.png", DOWNLOAD_KEY,
                          help_text="The walk with the offsets under the pictures, at least 1024 pixels wide.")


def walk_codes(name: str, latent_dim: int) -> Codes:
    """The test pictures' codes; none (with a note) when the model's images are not here."""
    try:
        found = planes.encode_test_set(name)
    except vae.VAEError as error:
        st.info(f"{plain(error)} The walk starts from the centre of the codes instead.")
        return Codes(np.zeros((0, latent_dim), np.float32), np.zeros(0, np.int64), ())
    labels, names = vae.plots.plot_classes(found.labels, found.class_names)
    return Codes(found.means, labels, names)


def choose_start(name: str, codes: Codes, latent_dim: int) -> tuple[np.ndarray, str]:
    """The starting code and its description in words (Markdown-safe)."""
    if not len(codes.means):
        return np.zeros(latent_dim, np.float32), "the centre of the codes (all numbers 0)"
    clicked = clicked_image(name, len(codes.means))
    choices = [choice for choice in START_CHOICES if choice != CLICKED or clicked is not None]
    if st.session_state.get(START_KEY) not in choices:  # a first visit, or the click is gone: start from the click
        st.session_state[START_KEY] = CLICKED if clicked is not None else NUMBER
    left, right = st.columns(2)
    start = left.radio("Start from", choices, format_func=START_CHOICES.get, key=START_KEY)
    if start == CLICKED:
        index = int(clicked)
    elif start == CLASS:
        present = [label for label in range(len(codes.class_names)) if np.any(codes.labels == label)]
        label = right.selectbox("Class", present, key=START_CLASS_KEY,
                                format_func=lambda c: vae.plots.class_name(codes.class_names, c))
        index = int(np.flatnonzero(codes.labels == label)[0])
    else:
        index = int(right.number_input("Test picture number", 0, len(codes.means) - 1, 0, step=1, key=IMAGE_KEY))
    return np.asarray(codes.means[index], np.float32), f"test picture {index}{class_words(codes, index)}"


def clicked_image(name: str, count: int) -> int | None:
    """The test picture last clicked on the Latent space page for this model, if any."""
    picked = st.session_state.get(EXPLORE_PICKED_KEY)
    if not isinstance(picked, dict) or picked.get("model") != name:
        return None
    index = picked.get("index")
    return int(index) if isinstance(index, int) and 0 <= index < count else None


def class_words(codes: Codes, index: int) -> str:
    """" (a 7)" for a picture of class 7, as plain text; "" without classes."""
    if not codes.class_names:
        return ""
    return f" (class {plain(vae.plots.class_name(codes.class_names, int(codes.labels[index])))})"


def choose_direction(codes: Codes, latent_dim: int) -> tuple[np.ndarray, str]:
    """The unit direction of the walk and its description in words (Markdown-safe)."""
    present = [label for label in range(len(codes.class_names)) if np.any(codes.labels == label)]
    choices = [choice for choice in DIRECTION_CHOICES if choice != CLASSES or len(present) >= 2]
    if st.session_state.get(DIRECTION_KEY) not in choices:
        st.session_state[DIRECTION_KEY] = DIM
    left, right = st.columns(2)
    kind = left.radio("Direction", choices, format_func=DIRECTION_CHOICES.get, key=DIRECTION_KEY,
                      help="Which way the code moves: along one of its numbers, a random way (the seed picks it), "
                           "or from the average code of one class toward the average code of another.")
    if kind == RANDOM:
        seed = int(right.number_input("Seed", 0, 2**31 - 1, 0, step=1, key=SEED_KEY,
                                      help="The same seed picks the same direction again."))
        return vae.random_direction(latent_dim, seed), f"a random direction (seed {seed})"
    if kind == CLASSES:
        return class_direction(codes, present, right)
    dim = int(right.selectbox("Code number", range(latent_dim), format_func=lambda d: f"z{d + 1}", key=DIM_KEY))
    return vae.dim_direction(latent_dim, dim), f"code number z{dim + 1} (growing)"


def class_direction(codes: Codes, present: list[int], place) -> tuple[np.ndarray, str]:
    """From one class's average code toward another's; the two pickers sit side by side in ``place``."""
    name_of = lambda c: vae.plots.class_name(codes.class_names, c)  # noqa: E731
    first, second = place.columns(2)
    source = first.selectbox("From class", present, key=FROM_KEY, format_func=name_of)
    targets = [label for label in present if label != source]
    if st.session_state.get(TO_KEY) not in targets:  # a first visit, or it is now the start
        st.session_state[TO_KEY] = targets[min(present.index(source), len(targets) - 1)]  # the class after it
    target = second.selectbox("Toward class", targets, key=TO_KEY, format_func=name_of)
    direction, distance = vae.class_direction(codes.means, codes.labels, int(source), int(target))
    return direction, (f"the direction from the average code of class {plain(name_of(source))} toward that of "
                       f"class {plain(name_of(target))} (they are {distance:.2f} apart)")
