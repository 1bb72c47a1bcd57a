"""Reconstructions page: test pictures beside the model's redrawn versions (or error maps, or several redrawings),
and the model's quality numbers read honestly."""
from __future__ import annotations

import numpy as np
import streamlit as st

import vae
from pages.common import datasets, honest, metrics, model_access, pictures, recon_views, shell
from pages.common.errors import friendly_errors

shell.open_in_app()  # run on its own by Streamlit's pages-folder mode: run the whole app

PAIRS_PER_ROW = 4
PAIR_WIDTH = 140  # most on-screen pixels of one picture-and-redrawn pair (whole-pixel scaling may take fewer)
ALL_CLASSES = -1
ORDER_KEY = "recon_order"
COUNT_KEY, SEED_KEY, CLASS_KEY = "recon_count", "recon_seed", "recon_class"
DOWNLOAD_KEY = "recon_download"
METRICS_BUTTON_KEY = "recon_metrics_button"
METRICS_KEY = "recon_metrics_for"  # (model file, its mtime, importance samples) whose metrics were asked for
NLL_SAMPLES_KEY = "recon_nll_samples"
ORDER_PARAM = "order"  # the link's parameter: ?order=hardest opens the page with the hardest pictures first
RANDOM, HARDEST = "random", "hardest"
ORDERS = {RANDOM: "A random pick", HARDEST: "Hardest first"}
ERROR_WORDS = ("Error = how different the two are: the average, over all pixels, of the squared difference in "
               "grey level, or of each colour for colour pictures (0 is a perfect copy, 1 the worst possible).")
ORDER_HELP = ("Hardest first shows the test pictures the model redraws worst: the largest error first (by the error "
              "measure chosen), over every test picture (of the chosen class). A random pick uses the seed.")
NLL_SAMPLE_CHOICES = (100, 1000, 5000)  # 5,000 is the papers' k (Burda et al.)
SLOW_WORDS = {1000: "1,000 codes per picture take about ten times as long as 100: up to a minute.",
              5000: "5,000 codes per picture, as the papers use, take about fifty times as long as 100: several "
                    "minutes. The page waits until it is done."}
METRIC_IMAGES = 500
METRIC_HELP = {
    "test_elbo": "How well the model explains test pictures it never saw, in nats per picture. "
                 "Higher (closer to 0) is better.",
    "nll": "An estimate of how surprised the model is by a test picture (importance sampling with the number of "
           "codes per picture chosen above), in nats. Lower is better. On average over many pictures it is at "
           "most minus the ELBO; for a single picture it can land on either side.",
    "gap": "Minus the ELBO minus the NLL: what the encoder's approximate codes cost the ELBO, in nats per picture. "
           "At least 0 on average (not for every picture).",
    "floor": "The least a Bernoulli model's −log p(x|z) can be on these grey pictures: their pixels' entropy, "
             "in nats per picture. Every Bernoulli ELBO and NLL contains it.",
    "above": "Minus the ELBO minus the floor: what the model could still improve, in nats per picture.",
    "knn_accuracy": "Share of test pictures whose 5 nearest training codes mostly have the same class. "
                    "High means the map groups pictures by class without ever being told the classes.",
    "active_units": "How many code numbers actually carry information. Unused numbers stay at the prior.",
}


def choose_images(name: str, model: vae.LatentModel, dataset: vae.data.Dataset) -> np.ndarray:
    """Controls for how many pictures, which order, which seed and which class; the chosen test image indices."""
    order = choose_order()
    measure = recon_views.choose_measure()
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
        errors = (recon_views.test_likelihoods(name, dataset) if measure == recon_views.LIKELIHOOD
                  else errors_of_test_images(name, dataset))
        return hardest_first(candidates, errors)[: int(count)]
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
    """Each picture beside its reconstruction (or an error map) with its errors, and one downloadable picture."""
    view = recon_views.choose_view()
    originals = dataset.test_images[indices]
    if view == recon_views.SAMPLES:
        recon_views.show_samples(name, model, originals, indices)
        return
    recon, errors = model.reconstruction_errors(originals)
    nll = vae.score_images(model, originals).reconstruction_nll
    right = recon if view == recon_views.REDRAWN else None
    words = "Right: the model's redrawn version."
    if right is None:
        right, words = recon_views.heat_maps(view, model, originals, recon)
    measure = st.session_state.get(recon_views.MEASURE_KEY, recon_views.PIXELS)
    st.caption(f"Left of each pair: the test picture. {words} {ERROR_WORDS} Average error here: {errors.mean():.4f}; "
               f"average −log p(x|z): {nll.mean():.1f} nats.")
    for start in range(0, len(indices), PAIRS_PER_ROW):
        columns = st.columns(PAIRS_PER_ROW)
        for column, position in zip(columns, range(start, min(start + PAIRS_PER_ROW, len(indices)))):
            pair = vae.images.tile(np.stack([originals[position], right[position]]), columns=2)
            caption = recon_views.pair_caption(int(indices[position]), errors[position], nll[position], measure)
            pictures.show(pair, PAIR_WIDTH, caption, column)
    everything = vae.images.tile(np.stack([originals, right]))
    pictures.download_png("Download all as PNG", everything, f"{name}-reconstructions-{view}.png", DOWNLOAD_KEY,
                           help_text="Top row: test pictures. Bottom row: what the right of each pair shows. "
                                     "At least 1024 pixels wide, each pixel a sharp square.")


def show_metrics(name: str, model: vae.LatentModel) -> None:
    """The saved test ELBO at once; the full set of numbers after the button (cached per model file and samples)."""
    st.subheader("How good is this model?")
    saved = model.metrics.get("test_elbo")
    if saved is not None:
        st.markdown(f"Test ELBO when it was trained: **{saved:.2f}** nats per picture (higher is better).")
    samples = st.selectbox("Codes per picture for the NLL", NLL_SAMPLE_CHOICES, key=NLL_SAMPLES_KEY,
                           format_func=lambda count: f"{count:,}" + (" (the papers' number)" if count == 5000 else ""),
                           help="More codes give a truer (lower) NLL. The default of 100 can still be almost 1 nat "
                                "above the figure with 1,000.")
    if samples in SLOW_WORDS:
        st.warning(SLOW_WORDS[samples])
    stamp = [*model_access.model_stamp(name), int(samples)]
    if st.button("Compute metrics", key=METRICS_BUTTON_KEY,
                 help=f"Measures the model on up to {METRIC_IMAGES} test pictures; takes a few seconds with 100 codes."):
        st.session_state[METRICS_KEY] = stamp
    if st.session_state.get(METRICS_KEY) != stamp:
        return
    with st.spinner(f"Measuring the model on the test pictures with {int(samples):,} codes per picture..."):
        result = metrics.evaluate_model(name, int(samples), METRIC_IMAGES)
    show_numbers(model, result)


def show_numbers(model: vae.LatentModel, result: dict[str, float]) -> None:
    """The metrics in two rows, what each means, and what the ELBO contains."""
    columns = st.columns(4)
    columns[0].metric("Test ELBO", f"{result['test_elbo']:.2f}", help=METRIC_HELP["test_elbo"])
    columns[1].metric("NLL estimate", f"{result['nll']:.2f}", help=METRIC_HELP["nll"])
    columns[2].metric("kNN accuracy", f"{result['knn_accuracy']:.1%}", help=METRIC_HELP["knn_accuracy"])
    columns[3].metric("Active units", f"{result['active_units']:.0f} of {result['latent_dim']:.0f}",
                      help=METRIC_HELP["active_units"])
    bernoulli = model.config.likelihood == "bernoulli"
    second = st.columns(4)
    second[0].metric("ELBO − NLL gap", f"{result['elbo_nll_gap']:.2f}", help=METRIC_HELP["gap"])
    if bernoulli:
        second[1].metric("Entropy floor", f"{result['entropy_floor']:.2f}", help=METRIC_HELP["floor"])
        second[2].metric("Above the floor", f"{honest.above_floor(result['test_elbo'], result['entropy_floor']):.2f}",
                         help=METRIC_HELP["above"])
    labels = {"test_elbo": "Test ELBO", "nll": "NLL estimate", "gap": "ELBO − NLL gap", "floor": "Entropy floor",
              "above": "Above the floor", "knn_accuracy": "kNN accuracy", "active_units": "Active units"}
    shown = [key for key in labels if bernoulli or key not in ("floor", "above")]
    st.markdown("\n".join(f"- **{labels[key]}**: {METRIC_HELP[key]}" for key in shown))
    st.caption(honest.likelihood_words(model.config.likelihood, result["test_elbo"], result["entropy_floor"]))
    st.caption(f"ELBO and NLL use the first {result['images']:.0f} test pictures; the NLL with "
               f"{result['nll_samples']:,.0f} codes per picture.")


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
