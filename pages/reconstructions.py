"""Reconstructions page: test pictures beside the model's redrawn versions, and the model's quality numbers."""
from __future__ import annotations

import numpy as np
import streamlit as st

import vae
from pages.common import datasets, metrics, model_access, pictures, shell
from pages.common.errors import friendly_errors

shell.open_in_app()  # run on its own by Streamlit's pages-folder mode: run the whole app

PAIRS_PER_ROW = 4
PAIR_WIDTH = 140  # most on-screen pixels of one picture-and-redrawn pair (whole-pixel scaling may take fewer)
ALL_CLASSES = -1
ORDER_KEY = "recon_order"
COUNT_KEY, SEED_KEY, CLASS_KEY = "recon_count", "recon_seed", "recon_class"
DOWNLOAD_KEY = "recon_download"
METRICS_BUTTON_KEY = "recon_metrics_button"
METRICS_KEY = "recon_metrics_for"  # (model file, its mtime) whose metrics were asked for
ORDER_PARAM = "order"  # the link's parameter: ?order=hardest opens the page with the hardest pictures first
RANDOM, HARDEST = "random", "hardest"
ORDERS = {RANDOM: "A random pick", HARDEST: "Hardest first"}
ERROR_WORDS = ("Error = how different the two are: the average, over all pixels, of the squared difference in "
               "grey level, or of each colour for colour pictures (0 is a perfect copy, 1 the worst possible).")
ORDER_HELP = ("Hardest first shows the test pictures the model redraws worst: the largest error first, over every "
              "test picture (of the chosen class). A random pick uses the seed.")
NLL_SAMPLES = 100
METRIC_IMAGES = 500
METRIC_HELP = {
    "test_elbo": "How well the model explains test pictures it never saw, in nats per picture. "
                 "Higher (closer to 0) is better.",
    "nll": "An estimate of how surprised the model is by a test picture (importance sampling, "
           f"{NLL_SAMPLES} codes per picture), in nats. Lower is better; it is always at most minus the ELBO.",
    "knn_accuracy": "Share of test pictures whose 5 nearest training codes mostly have the same class. "
                    "High means the map groups pictures by class without ever being told the classes.",
    "active_units": "How many code numbers actually carry information. Unused numbers stay at the prior.",
}


def choose_images(name: str, model: vae.LatentModel, dataset: vae.data.Dataset) -> np.ndarray:
    """Controls for how many pictures, which order, which seed and which class; the chosen test image indices."""
    order = choose_order()
    left, middle, right = st.columns(3)
    count = left.slider("Number of pictures", 4, 32, 12, 4, key=COUNT_KEY)
    seed = middle.number_input("Seed", 0, 2**31 - 1, 0, step=1, key=SEED_KEY, disabled=order == HARDEST,
                               help="The same seed picks the same test pictures again.")
    labels, names = vae.plots.plot_classes(dataset.test_labels, model.class_names or dataset.class_names)
    wanted = right.selectbox("Class", [ALL_CLASSES, *range(len(names))], key=CLASS_KEY,
                             format_func=lambda index: "All classes" if index == ALL_CLASSES else str(names[index]),
                             help="Show only test pictures of one class.")
    candidates = np.arange(len(dataset.test_images))
    if wanted != ALL_CLASSES:
        candidates = candidates[labels == wanted]
    if len(candidates) == 0:
        st.info("There are no test pictures of that class.")
        return candidates
    if order == HARDEST:
        return hardest_first(candidates, errors_of_test_images(name, dataset))[: int(count)]
    rng = np.random.default_rng(int(seed))
    return np.sort(rng.choice(candidates, size=min(int(count), len(candidates)), replace=False))


def choose_order() -> str:
    """A random pick or hardest first; a link with ``?order=hardest`` (the Start page has one) opens hardest first."""
    if st.session_state.get(ORDER_KEY) not in ORDERS:  # first run on this page: the link decides
        st.session_state[ORDER_KEY] = HARDEST if st.query_params.get(ORDER_PARAM) == HARDEST else RANDOM
    return st.radio("Which pictures", list(ORDERS), format_func=ORDERS.get, key=ORDER_KEY, horizontal=True,
                    on_change=link_order, help=ORDER_HELP)


def link_order() -> None:
    """Keep the link in step with the order chosen: ``?order=hardest``, or nothing for a random pick."""
    if st.session_state.get(ORDER_KEY) == HARDEST:
        st.query_params[ORDER_PARAM] = HARDEST
    else:
        st.query_params.pop(ORDER_PARAM, None)


def hardest_first(candidates: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """The candidate indices from the largest error to the smallest (equal errors: lower index first)."""
    return candidates[np.argsort(-errors[candidates], kind="stable")]


def errors_of_test_images(name: str, dataset: vae.data.Dataset) -> np.ndarray:
    """Every test picture's reconstruction error (N,), cached per version of the model file and of its images."""
    return _test_errors_cached(name, *model_access.model_stamp(name), vae.data.dataset_version(dataset.name))


@st.cache_data(show_spinner="Measuring how well the model redraws every test picture…", max_entries=8)
def _test_errors_cached(name: str, path: str, mtime_ns: int, dataset_version: str) -> np.ndarray:
    model = model_access.load_model(name)
    return model.errors_per_image(datasets.model_dataset(model).test_images)


def show_pairs(name: str, model: vae.LatentModel, dataset: vae.data.Dataset, indices: np.ndarray) -> None:
    """Each picture beside its reconstruction with its error, and one downloadable picture of all of them."""
    originals = dataset.test_images[indices]
    recon, errors = model.reconstruction_errors(originals)
    st.caption(f"Left of each pair: the test picture. Right: the model's redrawn version. {ERROR_WORDS} "
               f"Average error here: {errors.mean():.4f}.")
    for start in range(0, len(indices), PAIRS_PER_ROW):
        columns = st.columns(PAIRS_PER_ROW)
        for column, position in zip(columns, range(start, min(start + PAIRS_PER_ROW, len(indices)))):
            pair = vae.images.tile(np.stack([originals[position], recon[position]]), columns=2)
            pictures.show(pair, PAIR_WIDTH, f"Picture {indices[position]}: error {errors[position]:.4f}", column)
    everything = vae.images.tile(np.stack([originals, recon]))
    pictures.download_png("Download all as PNG", everything, f"{name}-reconstructions.png", DOWNLOAD_KEY,
                           help_text="Top row: test pictures. Bottom row: the redrawn versions. "
                                     "At least 1024 pixels wide, each pixel a sharp square.")


def show_metrics(name: str, model: vae.LatentModel) -> None:
    """The saved test ELBO at once; the full set of numbers after the button (cached per model file)."""
    st.subheader("How good is this model?")
    saved = model.metrics.get("test_elbo")
    if saved is not None:
        st.markdown(f"Test ELBO when it was trained: **{saved:.2f}** nats per picture (higher is better).")
    stamp = list(model_access.model_stamp(name))
    if st.button("Compute metrics", key=METRICS_BUTTON_KEY,
                 help=f"Measures the model on up to {METRIC_IMAGES} test pictures; takes a few seconds."):
        st.session_state[METRICS_KEY] = stamp
    if st.session_state.get(METRICS_KEY) != stamp:
        return
    with st.spinner("Measuring the model on the test pictures..."):
        result = metrics.evaluate_model(name, NLL_SAMPLES, METRIC_IMAGES)
    columns = st.columns(4)
    columns[0].metric("Test ELBO", f"{result['test_elbo']:.2f}", help=METRIC_HELP["test_elbo"])
    columns[1].metric("NLL estimate", f"{result['nll']:.2f}", help=METRIC_HELP["nll"])
    columns[2].metric("kNN accuracy", f"{result['knn_accuracy']:.1%}", help=METRIC_HELP["knn_accuracy"])
    columns[3].metric("Active units", f"{result['active_units']:.0f} of {result['latent_dim']:.0f}",
                      help=METRIC_HELP["active_units"])
    st.markdown("\n".join(f"- **{label}**: {METRIC_HELP[key]}" for key, label in (
        ("test_elbo", "Test ELBO"), ("nll", "NLL estimate"), ("knn_accuracy", "kNN accuracy"),
        ("active_units", "Active units"))))
    st.caption(f"ELBO and NLL use the first {result['images']:.0f} test pictures.")


def main() -> None:
    st.title("Reconstructions")
    st.markdown("How well does the model redraw pictures it has never seen? Each test picture is squeezed into "
                "its code and drawn again from that code.")
    model = model_access.active_model()
    name = model_access.active_model_name()
    if model is None or name is None:
        return
    with friendly_errors():
        datasets.draw_if_needed(model.dataset)  # the colour shapes are drawn once: show how far
        dataset = datasets.model_dataset(model)
        indices = choose_images(name, model, dataset)
        if len(indices):
            show_pairs(name, model, dataset, indices)
    st.divider()
    with friendly_errors():
        show_metrics(name, model)


main()
