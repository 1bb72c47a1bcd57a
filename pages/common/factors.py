"""The Generate page's part for models of images with known factors (the colour shapes): MIG, one strip per factor."""
from __future__ import annotations

import numpy as np
import streamlit as st

import vae
from pages.common import datasets, model_access, pictures, planes

STRIP_STEPS = 9  # pictures per factor's strip
STRIP_PERCENTILES = (2.0, 98.0)  # a strip runs over the middle 96 % of the test codes along its dimension
STRIP_WIDTH = 560  # most pixels on screen for one strip
DOWNLOAD_KEY = "gen_factors_download"
MIG_HELP = ("Mutual information gap: for each factor, how much more one code number tells about it than the next "
            "best number does, as a share of all there is to know about it; averaged over the factors. 1: each "
            "factor lives in one number of its own (disentangled). 0: every factor is spread over several numbers.")


def has_factors(model: vae.LatentModel) -> bool:
    """Whether the model's images come with known factors (a shapes set, in colour or grey)."""
    return vae.data.base_name(model.dataset or "")[0].lower() in vae.data.SHAPES_SETS


@st.cache_data(show_spinner="Measuring what each code number learned…", max_entries=8)
def _report_cached(name: str, path: str, mtime_ns: int) -> tuple[vae.FactorReport, np.ndarray, np.ndarray]:
    """The factor report, the codes' centre (D,) and each dimension's strip range (D, 2), from the test codes."""
    dataset = datasets.model_dataset(model_access.load_model(name))
    means = planes.encode_test_set(name).means
    if dataset.test_factors is None or len(dataset.test_factors) != len(means):
        raise vae.DataError("The saved codes do not match this model's test pictures; open the Latent space page "
                            "once to make them again.")
    report = vae.factor_report(means, dataset.test_factors, dataset.factor_names)
    ranges = np.percentile(means, STRIP_PERCENTILES, axis=0).T  # (D, 2)
    return report, np.median(means, axis=0).astype(np.float32), ranges.astype(np.float32)


def show_factors(name: str, model: vae.LatentModel) -> None:
    """For a model of the shapes: its MIG, and for each factor a strip along the code number that carries it best."""
    if not has_factors(model):
        return
    st.subheader("One strip per factor")
    st.caption("These pictures were drawn from known ingredients: shape, colour, size, rotation and position. "
               "For each one, the strip moves the single code number that tells most about it (from low to high, "
               "over the range the test pictures use) while the others stay at their middle value. In a "
               "disentangled model each strip changes that ingredient only.")
    datasets.draw_if_needed(model.dataset)
    report, centre, ranges = _report_cached(name, *model_access.model_stamp(name))
    st.metric("Disentanglement (MIG)", f"{report.mig:.2f}", help=MIG_HELP)
    rows = []
    for traversal, gap in zip(report.traversals, report.mig_per_factor):
        low, high = ranges[traversal.dim]
        strip = model.traverse(traversal.dim, base=centre, values=np.linspace(low, high, STRIP_STEPS))
        rows.append(strip)
        pictures.show(vae.images.tile(strip), STRIP_WIDTH,
                      f"{traversal.factor_name}: along z{traversal.dim + 1} (gap {gap:.2f})")  # names: the set's own
    pictures.download_png("Download all strips (PNG)", vae.images.tile(np.stack(rows)), f"{name}-factors.png",
                          DOWNLOAD_KEY, help_text="One row per factor, in the order shown. At least 1024 pixels wide.")
