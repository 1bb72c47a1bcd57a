"""The Reconstructions page's research views: the error as the model's own likelihood, per-pixel error maps, and
several codes drawn per picture (stochastic reconstructions)."""
from __future__ import annotations

import numpy as np
import streamlit as st

import vae
from pages.common import datasets, model_access, pictures

# Session-state keys of the widgets.
MEASURE_KEY, VIEW_KEY = "recon_measure", "recon_view"
SAMPLES_KEY, SAMPLE_SEED_KEY, SAMPLES_DOWNLOAD_KEY = "recon_samples", "recon_sample_seed", "recon_samples_download"
PIXELS, LIKELIHOOD = "pixels", "likelihood"  # the two error measures
MEASURES = {PIXELS: "Pixel difference (mean squared error)", LIKELIHOOD: "The model's own likelihood (−log p(x|z))"}
MEASURE_HELP = ("Pixel difference: the average squared difference in grey level, 0 to 1. The model's own "
                "likelihood: how unlikely the model finds the picture given its code, in nats, the quantity it was "
                "trained on (lower is better). Hardest first sorts by the one chosen here.")
REDRAWN, ERROR_MAP, SURPRISE_MAP, SAMPLES = "redrawn", "error-map", "surprise-map", "samples"
VIEWS = {REDRAWN: "The redrawn picture", ERROR_MAP: "Where the pixels differ",
         SURPRISE_MAP: "Where the model is surprised", SAMPLES: "Several codes per picture"}
VIEW_HELP = ("Right of each pair: the redrawn picture, or a heat map of the error (bright is a large error). "
             "Several codes per picture redraws each one from several codes the model finds plausible for it.")
MAP_WORDS = {
    ERROR_MAP: "Right of each pair: where the redrawn picture differs from the test picture, pixel by pixel "
               "(bright = large squared difference; white is {top:.3f}, the largest shown).",
    SURPRISE_MAP: "Right of each pair: where the model finds the picture unlikely, pixel by pixel: −log p of each "
                  "pixel given the code{floor}, in nats (bright = surprised; white is {top:.2f} nats, the largest "
                  "shown).",
}
SAMPLES_WORDS = ("Each row: a test picture (left), then the model's redrawings from {count} codes drawn from its "
                 "uncertainty about that picture's code. Where the redrawings differ, the code alone does not "
                 "pin the picture down.")
DEFAULT_SAMPLES, MAX_SAMPLES = 6, 12


def choose_measure() -> str:
    """Pixel difference or the model's own likelihood: what the captions lead with and hardest first sorts by."""
    return st.selectbox("Error measure", list(MEASURES), format_func=MEASURES.get, key=MEASURE_KEY, help=MEASURE_HELP)


def choose_view() -> str:
    """What the right-hand pictures show, or several redrawings per picture."""
    return st.radio("Show", list(VIEWS), format_func=VIEWS.get, key=VIEW_KEY, horizontal=True, help=VIEW_HELP)


def test_likelihoods(name: str, dataset: vae.data.Dataset) -> np.ndarray:
    """Every test picture's -log p(x|z = mu) in nats (N,), cached per version of the model file and of its images."""
    return _likelihoods_cached(name, *model_access.model_stamp(name), vae.data.dataset_version(dataset.name))


@st.cache_data(show_spinner="Measuring how likely the model finds every test picture…", max_entries=8)
def _likelihoods_cached(name: str, path: str, mtime_ns: int, dataset_version: str) -> np.ndarray:
    model = model_access.load_model(name)
    return vae.score_images(model, datasets.model_dataset(model).test_images).reconstruction_nll


def pair_caption(index: int, error: float, nll: float, measure: str) -> str:
    """"Picture 12: error 0.0123 · −log p(x|z) 87.3 nats", the chosen measure first after the number."""
    pixels, likelihood = f"error {error:.4f}", f"−log p(x|z) {nll:.1f} nats"
    return f"Picture {index}: " + (f"{likelihood} · {pixels}" if measure == LIKELIHOOD else f"{pixels} · {likelihood}")


def heat_maps(view: str, model: vae.LatentModel, originals: np.ndarray, recon: np.ndarray) -> tuple[np.ndarray, str]:
    """The right-hand pictures of a map view, (N, H, W) in [0, 1] on one shared scale, and the sentence saying it."""
    if view == ERROR_MAP:
        maps = vae.pixel_error_maps(originals, recon)
        floor_words = ""
    else:
        maps = vae.pixel_nll_maps(model, originals)
        floor = vae.pixel_likelihood_floor(originals, model.config.likelihood, model.config.gaussian_std)
        has_floor = bool(np.isfinite(floor).all())
        maps = maps - floor if has_floor else maps  # what the model could still gain, pixel by pixel
        floor_words = " above the least that pixel can cost" if has_floor else ""
    low, top = min(0.0, float(maps.min())), float(maps.max())
    scaled = (maps - low) / (top - low) if top > low else np.zeros_like(maps)
    return scaled.astype(np.float32), MAP_WORDS[view].format(top=top, floor=floor_words)


def show_samples(name: str, model: vae.LatentModel, originals: np.ndarray, indices: np.ndarray) -> None:
    """A row per test picture: the picture, then its redrawings from codes drawn from q(z|x), seeded."""
    left, right = st.columns(2)
    count = left.slider("Codes per picture", 2, MAX_SAMPLES, DEFAULT_SAMPLES, key=SAMPLES_KEY)
    seed = right.number_input("Seed for the codes", 0, 2**31 - 1, 0, step=1, key=SAMPLE_SEED_KEY,
                              help="The same seed draws the same codes again.")
    _, redrawn = vae.stochastic_reconstructions(model, originals, int(count), int(seed))  # (N, S, H, W)
    rows = np.concatenate([originals[:, None], redrawn], axis=1)
    picture = vae.images.tile(rows)
    numbers = ", ".join(str(int(index)) for index in indices[:8]) + (", ..." if len(indices) > 8 else "")
    st.caption(SAMPLES_WORDS.format(count=int(count)))
    pictures.show(picture, pictures.PICTURE_WIDTH, f"Test pictures {numbers}, one per row")
    pictures.download_png("Download PNG", picture, f"{name}-several-codes-seed{int(seed)}.png", SAMPLES_DOWNLOAD_KEY,
                          help_text="One row per test picture: the picture, then its redrawings. At least 1024 "
                                    "pixels on the long side.")
