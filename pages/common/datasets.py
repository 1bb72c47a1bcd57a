"""The images of a model: its dataset (cached, shared read-only; downloads only where the user asks) and test images."""
from __future__ import annotations

import numpy as np
import streamlit as st

import vae
from pages.common.model_access import load_model

# Datasets torchvision downloads; only the Train page may start that (see load_dataset).
DOWNLOADABLE_DATASETS = tuple(name for name in vae.data.DATASETS if name not in vae.data.OFFLINE_DATASETS)


@st.cache_resource(show_spinner="Loading the images…", max_entries=4)
def load_dataset(name: str, _allow_download: bool = False) -> vae.data.Dataset:
    """A dataset by name, shared read-only (not copied per call: full MNIST is 220 MB).

    Nothing is downloaded unless ``_allow_download`` is set: only the Train page does that, when
    the user picks the dataset. A model that names mnist must not make the app fetch 50 MB when
    a page shows it. (The leading underscore keeps the flag out of the cache key: once the images
    are here, every page shares them.)
    """
    base, grey = vae.data.base_name(name)
    if grey:  # the colour images are loaded (and kept) once; the grey ones are made from them
        return vae.data.as_grayscale(load_dataset(base, _allow_download))
    try:
        return vae.data.load_dataset(name, download=_allow_download)
    except vae.DataError:
        if _allow_download or name.strip().lower() not in DOWNLOADABLE_DATASETS:
            raise
        raise vae.DataError(f"The {name} images are not on this machine yet, so they are not shown. To get them, "
                            f"choose {name} under 'Images to learn from' on the Train page (it downloads them "
                            f"once, which needs the internet), or copy their files into the app's data folder "
                            f"as the README explains.") from None


def draw_if_needed(name: str) -> None:
    """Draw a shapes set the first time it is asked for (about 10 s), with a progress bar; else nothing.

    Called by pages before they load such a set, never inside a cached function (those only show a spinner).
    """
    base, _ = vae.data.base_name(name)
    if base.lower() not in vae.data.SHAPES_SETS or vae.data.shapes_ready(base.lower()):
        return
    bar = st.progress(0.0, text=f"Drawing the {base} pictures, once (about 10 seconds)…")
    vae.data.load_dataset(base.lower(), progress=lambda done: bar.progress(done, text=f"Drawing the {base} pictures, "
                                                                                       f"once: {done:.0%}"))
    bar.empty()


def model_dataset(model: vae.LatentModel) -> vae.data.Dataset:
    """The dataset the model was trained on; a DataError when it cannot be loaded or does not fit."""
    if not model.dataset:
        raise vae.DataError("This model does not say which images it was trained on, so no test images are shown.")
    dataset = load_dataset(model.dataset)
    if tuple(dataset.image_dims) != tuple(model.image_dims):
        raise vae.DataError(f"The {model.dataset} images are {vae.data.describe_size(dataset.image_dims)}, but the "
                            f"model reads {vae.data.describe_size(model.image_dims)} images; no test images are shown.")
    return dataset


def test_image(name: str, index: int) -> np.ndarray:
    """Test image number ``index`` of the model's dataset: (H, W) grey or (H, W, 3) colour, in [0, 1]."""
    model = load_model(name)
    draw_if_needed(model.dataset)
    dataset = model_dataset(model)
    if not 0 <= int(index) < len(dataset.test_images):  # saved codes of other pictures than this dataset's test set
        raise vae.DataError(f"The map's saved codes are not of this model's {len(dataset.test_images):,} test "
                            f"pictures, so test picture #{int(index)} cannot be shown. Run `python -m vae codes` on "
                            "the model to make them again.")
    return dataset.test_images[int(index)]
