"""The Compare page's "Several models at once": models of one dataset, their loss curves in one chart, and
how each redraws the same test images (one row per model), e.g. latent sizes 2, 5, 10, 20 and 40."""
from __future__ import annotations

import re

import numpy as np
import streamlit as st

import vae
from pages.common import datasets, model_access, pictures
from pages.common.text import plain

DATASET_KEY = "compare_set_dataset"
MODELS_KEY = "compare_set_models"
QUANTITY_KEY = "compare_set_quantity"
CURVES_KEY = "compare_set_curves"
DEFAULT_MODELS = 5  # models chosen at first: the sizes 2, 5, 10, 20 and 40
SHOWN_IMAGES = 10  # test images redrawn by every model: the first of each class (digits: one of each)
ROW_WIDTH = 640  # most on-screen pixels of one row of pictures
QUANTITIES = ("test_loss", "loss", "recon", "kl")  # vae.plots.CURVE_STYLES keys, in the order offered
BUILD_COMMAND = "bash benchmarks/latent_sizes.sh"  # trains the set of sizes 2, 5, 10, 20 and 40 on mnist-5k


def show_several(names: list[str], first: vae.CheckpointInfo | None) -> None:
    """Pick a dataset and several of its models; then their curves and their reconstructions."""
    st.header("Several models at once")
    st.caption("Pick models that learned the same images, for example with codes of 2, 5, 10, 20 and 40 numbers: "
               "their training curves share one chart, and each redraws the same test images in its own row.")
    infos = [info for info in (model_access.model_info(name) for name in names) if info is not None]
    chosen = choose_models(infos, first.dataset if first is not None else None)
    st.page_link("pages/train.py", label="Train more models on the Train page (choose the latent size there)",
                 icon=":material/model_training:")
    st.caption(f"To train the whole set of sizes 2, 5, 10, 20 and 40 on mnist-5k from a terminal: `{BUILD_COMMAND}`")
    if not chosen:
        st.info("Choose at least one model above.")
        return
    if not model_access.models_ready():
        st.caption("The curves and pictures appear once the models are loaded.")
        return
    show_curves(chosen)
    show_rows(chosen)


def choose_models(infos: list[vae.CheckpointInfo], preferred: str | None) -> list[vae.CheckpointInfo]:
    """The dataset, then its models (smallest code first); returns the chosen ones in that order."""
    found = sorted({info.dataset for info in infos})
    if not found:
        return []
    if st.session_state.get(DATASET_KEY) not in found:
        st.session_state[DATASET_KEY] = preferred if preferred in found else found[0]
    dataset = st.selectbox("Images the models learned", found, key=DATASET_KEY)
    members = sorted((info for info in infos if info.dataset == dataset), key=lambda info: (info.latent_dim, info.name))
    by_name = {info.name: info for info in members}
    kept = [name for name in st.session_state.get(MODELS_KEY) or [] if name in by_name]
    if MODELS_KEY not in st.session_state or kept != st.session_state[MODELS_KEY]:
        st.session_state[MODELS_KEY] = kept or default_models(members)
    picked = st.multiselect("Models to compare", list(by_name), key=MODELS_KEY,
                            format_func=lambda name: label(by_name[name]))
    return sorted((by_name[name] for name in picked), key=lambda info: (info.latent_dim, info.name))


def default_models(members: list[vae.CheckpointInfo]) -> list[str]:
    """Up to DEFAULT_MODELS names to start with (``members`` sorted by code size), smallest code first.

    A family of names that differ only in their numbers (mnist5k-sizes-z2 ... -z40, as
    benchmarks/latent_sizes.sh names them) is what one wants to compare: the family with the most
    code sizes wins. Without one, one model per code size.
    """
    families: dict[str, list[vae.CheckpointInfo]] = {}
    for info in members:
        families.setdefault(re.sub(r"\d+", "#", info.name), []).append(info)
    best = max(families.values(), key=lambda family: len({info.latent_dim for info in family}), default=[])
    if len({info.latent_dim for info in best}) < 2:
        best = list({info.latent_dim: info for info in reversed(members)}.values())[::-1]  # the first of each size
    return [info.name for info in best][:DEFAULT_MODELS]


def label(info: vae.CheckpointInfo) -> str:
    """A model as the chart and the rows name it: its file name and code size (plain text)."""
    return f"{info.name} (z = {info.latent_dim})"


def show_curves(chosen: list[vae.CheckpointInfo]) -> None:
    """One chart: the chosen quantity per epoch, one line per model, in that quantity's colour."""
    names = {quantity: vae.plots.CURVE_STYLES[quantity][0] for quantity in QUANTITIES}
    st.session_state.setdefault(QUANTITY_KEY, QUANTITIES[0])
    quantity = st.radio("Curve", QUANTITIES, format_func=names.get, key=QUANTITY_KEY, horizontal=True,
                        help="Each line is one model, read from the training history in its file.")
    histories = [(label(info), model_access.load_model(info.name).history) for info in chosen]
    figure = vae.comparison.curves_by_model(histories, quantity)
    st.plotly_chart(figure, key=CURVES_KEY, config={"displayModeBar": False})


def show_rows(chosen: list[vae.CheckpointInfo]) -> None:
    """The same test images, then one row per model with its reconstructions of them."""
    model = model_access.load_model(chosen[0].name)
    dataset = datasets.model_dataset(model)
    indices = vae.comparison.shared_images(dataset.test_labels, SHOWN_IMAGES)
    images = dataset.test_images[indices]
    st.subheader("The same test images, redrawn by each model")
    rows = [("Test images", images)]
    rows += [(label(info), model_access.load_model(info.name).reconstruct(images)) for info in chosen]
    for title, row in rows:
        left, right = st.columns([1, 4], vertical_alignment="center")
        left.markdown(plain(title))
        pictures.show(vae.images.tile(np.asarray(row), columns=len(row), padding=1), ROW_WIDTH, place=right)
