"""Honest likelihoods: what a test ELBO or NLL contains (the grey images' entropy floor), in plain words, cached."""
from __future__ import annotations

import math

import streamlit as st

import vae
from pages.common.datasets import load_dataset

BINARY_FLOOR = 0.005  # nats per image: a floor below this is black-and-white data (0 up to rounding)
# Floors this server has measured, by (dataset, version): the sidebar shows one only once a page has measured
# it, so opening the app never loads a dataset just for the sidebar.
_KNOWN_FLOORS: dict[tuple[str, str], float] = {}
DENSITY_WORDS = {
    "gaussian": "This model compares pixels with a Gaussian of fixed spread: its ELBO is a density of grey levels, "
                "not comparable with Bernoulli models or the papers' figures on binarized MNIST.",
    "continuous-bernoulli": "This model scores grey levels as grey levels (the continuous Bernoulli): its ELBO is a "
                            "density, which can be positive, and compares with the continuous Bernoulli papers, not "
                            "with binarized MNIST.",
}
FLOOR_HELP = ("The built-in images are grey levels, not black and white. A Bernoulli model (binary cross-entropy) "
              "cannot predict a grey pixel exactly, so every ELBO or NLL it gets contains the pixels' entropy, an "
              "amount no model can remove: about 46 nats per picture on mnist-5k. \"Above the floor\" is minus the "
              "ELBO minus that amount: what the model could still improve.")


@st.cache_data(show_spinner="Measuring the images' entropy floor…", max_entries=16)
def _floor_cached(dataset_name: str, version: str) -> float:
    test = load_dataset(dataset_name).test_images
    floor = float(vae.bernoulli_entropy_floor(test).mean()) if len(test) else 0.0
    _KNOWN_FLOORS[(dataset_name, version)] = floor
    return floor


def dataset_floor(dataset_name: str) -> float:
    """The mean Bernoulli entropy floor of a dataset's test images, nats per picture (cached per version).

    Raises:
        DataError: the images cannot be loaded.
    """
    return _floor_cached(dataset_name, vae.data.dataset_version(dataset_name))


def known_floor(dataset_name: str) -> float | None:
    """The floor if this server has measured it already, else None (nothing is loaded)."""
    return _KNOWN_FLOORS.get((dataset_name, vae.data.dataset_version(dataset_name)))


def above_floor(elbo: float, floor: float) -> float:
    """Nats per picture a Bernoulli model is above its images' floor: -ELBO - floor (ELBO + floor, negated)."""
    return -elbo - floor


def likelihood_words(likelihood: str, elbo: float | None, floor: float | None) -> str:
    """One or two plain sentences on what the model's ELBO contains; Markdown-safe (no user text)."""
    if likelihood != "bernoulli":
        return DENSITY_WORDS.get(likelihood, "")
    if floor is None:
        return ("These pictures' grey levels put a floor under a Bernoulli model's ELBO: part of it no model can "
                "remove (about 46 nats per picture on mnist-5k).")
    if floor < BINARY_FLOOR:
        return "The pictures are black and white, so this ELBO has no floor: it compares with the papers' figures."
    said = (f"The pictures are grey levels, not black and white, so a Bernoulli model's ELBO always contains "
            f"{floor:.1f} nats per picture that no model can remove (their entropy).")
    if elbo is None or not math.isfinite(elbo):
        return said
    return f"{said} This model is {above_floor(elbo, floor):.1f} nats per picture above that floor."


def short_fact(likelihood: str, elbo: float, floor: float | None) -> str:
    """The sidebar's few words after the ELBO: "(81.3 above the floor of 46.4)", or "" when it does not apply."""
    if likelihood != "bernoulli" or floor is None or floor < BINARY_FLOOR or not math.isfinite(elbo):
        return ""
    return f" ({above_floor(elbo, floor):.1f} above the floor of {floor:.1f})"


def clear_caches() -> None:
    """Forget the measured floors (after the user's images changed)."""
    _floor_cached.clear()
    _KNOWN_FLOORS.clear()
