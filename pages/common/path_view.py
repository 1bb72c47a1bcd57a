"""Interpolate's checks along the path: each step's likelihood, its distance to the nearest test code, and holes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import vae
from pages.common import model_access, posteriors
from pages.common.text import plain

CHECKS_KEY, CHART_KEY, TABLE_KEY = "interp_checks", "interp_checks_chart", "interp_checks_table"
PATH_SAMPLES = 100  # importance samples per step (vae.analysis.scores.PATH_NLL_SAMPLES): 32 steps decode 3,200 codes
STEP_DIGITS = 6  # a step's code is cached rounded to this many decimals (float32 holds about 7)
CHECKS_WORDS = (
    "For each step: how unlikely the model finds the picture it draws there (−log p in nats, estimated with "
    f"{PATH_SAMPLES} codes; lower is more typical), how far the step is from the nearest test picture's code "
    "(counting every code number), and whether it lies in a hole: a place the model expects codes, but where no "
    "test picture's code is. A picture drawn in a hole comes from somewhere no picture taught the model about.")


def show_path_checks(name: str, path: np.ndarray) -> None:
    """A toggle, then the chart and table of the checks at every step (each step cached, with progress)."""
    if not st.toggle("Check each step of the path", value=True, key=CHECKS_KEY,
                     help=f"Runs the model {PATH_SAMPLES} times per step; each step is remembered once measured."):
        return
    try:
        posteriors.test_posteriors(name)
    except vae.VAEError as error:
        st.info(f"Checking the steps needs the test pictures: {plain(error)}")
        return
    st.caption(CHECKS_WORDS)
    checks = measure_steps(name, np.asarray(path, np.float32))
    nll, floor, distance, nearest, hole = (np.array([step[field] for step in checks]) for field in range(5))
    st.plotly_chart(vae.lens_plots.path_chart(nll, floor, distance, hole), key=CHART_KEY,
                    config=vae.lens_plots.CHART_CONFIG)
    st.markdown(hole_summary(hole))
    st.dataframe(steps_table(nll, floor, distance, nearest, hole), hide_index=True, key=TABLE_KEY)


def measure_steps(name: str, path: np.ndarray) -> list[tuple[float, float, float, int, bool]]:
    """(nll, floor, distance, nearest test picture, in a hole) per step, with a progress bar while measuring."""
    stamp = model_access.model_stamp(name)
    version = posteriors.dataset_version_at(*stamp)
    bar = st.progress(0.0, text="Checking the steps…")
    checks = []
    for number, code in enumerate(path, start=1):
        checks.append(_step_cached(*stamp, version, tuple(round(float(v), STEP_DIGITS) for v in code)))
        bar.progress(number / len(path), text=f"Checked step {number} of {len(path)}")
    bar.empty()
    return checks


@st.cache_data(show_spinner=False, max_entries=1024)
def _step_cached(path: str, mtime_ns: int, dataset_version: str,
                 code: tuple[float, ...]) -> tuple[float, float, float, int, bool]:
    model = model_access.load_model_at(path, mtime_ns)
    means, logvars = posteriors.test_posteriors_at(path, mtime_ns)
    result = vae.path_diagnostics(model, np.asarray(code, np.float32)[None], means, logvars, samples=PATH_SAMPLES)
    return (float(result.nll[0]), float(result.floor[0]), float(result.nearest_distance[0]),
            int(result.nearest_index[0]), bool(result.in_hole[0]))


def hole_summary(hole: np.ndarray) -> str:
    """"No step lies in a hole." or "Steps 4, 5 and 6 (3 of 10) lie in a hole: ..."."""
    steps = [str(step) for step in np.flatnonzero(hole) + 1]
    if not steps:
        return "No step lies in a hole: every picture on this path is drawn where test pictures' codes are."
    named = steps[0] if len(steps) == 1 else ", ".join(steps[:-1]) + f" and {steps[-1]}"
    return (f"{'Step' if len(steps) == 1 else 'Steps'} {named} ({len(steps)} of {len(hole)}) "
            f"{'lies' if len(steps) == 1 else 'lie'} in a hole: off the data.")


def steps_table(nll: np.ndarray, floor: np.ndarray, distance: np.ndarray, nearest: np.ndarray,
                hole: np.ndarray) -> pd.DataFrame:
    """One row per step, in words a presenter can read out."""
    table = {"Step": np.arange(1, len(nll) + 1), "−log p of the picture (nats)": np.round(nll, 1)}
    if np.isfinite(floor).all():
        table["Above the floor (nats)"] = np.round(nll - floor, 1)
    table.update({"Nearest test picture": nearest, "Distance to its code": np.round(distance, 3),
                  "In a hole": np.where(hole, "yes", "no")})
    return pd.DataFrame(table)


def clear_caches() -> None:
    """Forget the measured steps (after a checkpoint was saved, replaced or deleted)."""
    _step_cached.clear()
