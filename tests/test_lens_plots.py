"""The research views' charts (vae.lens_plots) and the pages' small helpers: order of the rows, the words said."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae import lens_plots
from vae.analysis.diagnostics import kl_per_dimension

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_the_kl_chart_has_one_bar_per_dim_coloured_by_use():
    figure = lens_plots.kl_bar_chart(np.array([0.5, 0.0, 2.0]), np.array([True, False, True]))
    used, unused = figure.data
    assert list(used.x) == ["z1", "z3"] and np.allclose(used.y, [0.5, 2.0])
    assert list(unused.x) == ["z2"] and "unused" in unused.name
    assert list(figure.layout.xaxis.categoryarray) == ["z1", "z2", "z3"]  # bars stay in the dims' order


def test_the_path_chart_marks_the_steps_in_a_hole_and_skips_a_missing_floor():
    nll, distance = np.array([90.0, 95.0, 120.0]), np.array([0.1, 0.4, 1.2])
    holes = np.array([False, False, True])
    figure = lens_plots.path_chart(nll, np.full(3, np.nan), distance, holes)
    names = [trace.name for trace in figure.data]
    assert "Floor no model can go below" not in names and "Step in a hole (off the data)" in names
    shaded = [(shape.x0, shape.x1, shape.xref) for shape in figure.layout.shapes]
    assert shaded == [(2.6, 3.4, "x"), (2.6, 3.4, "x2")]  # step 3 only, on both panels
    with_floor = lens_plots.path_chart(nll, np.array([40.0, 41.0, 42.0]), distance, np.zeros(3, bool))
    assert "Floor no model can go below" in [trace.name for trace in with_floor.data]
    assert not with_floor.layout.shapes


def test_a_chart_downloads_at_least_1024_pixels_wide():
    options = lens_plots.CHART_CONFIG["toImageButtonOptions"]
    assert options["format"] == "png" and max(options["width"], options["height"]) * options["scale"] >= 1024


def test_traversal_rows_go_by_kl_with_the_unused_dims_last():
    from pages.common import kl_view

    means = np.array([[0.0, 2.0, 0.001, 0.5], [0.0, -2.0, 0.0, -0.5], [0.0, 1.0, 0.001, 0.2]])
    logvars = np.zeros_like(means)
    logvars[:, 0] = -5.0  # dim 0: no spread of means (unused) but a large KL from its tiny variance
    kl = kl_per_dimension(means, logvars)
    assert kl.kl[0] > kl.kl[1]  # the unused dim carries the largest KL, yet goes last
    assert kl_view.ordered_dims(4, kl) == [1, 3, 0, 2] or kl_view.ordered_dims(4, kl) == [1, 3, 2, 0]
    assert kl_view.ordered_dims(4, kl)[-2:] == [int(d) for d in kl.order if not kl.active[d]]
    assert kl_view.ordered_dims(3, None) == [0, 1, 2]
    assert kl_view.row_label(0, kl) == "z1: unused" and kl_view.row_label(1, kl) == f"z2: {kl.kl[1]:.2f} nats"


def test_the_hole_summary_names_the_steps():
    from pages.common import path_view

    assert path_view.hole_summary(np.array([False, False])).startswith("No step lies in a hole")
    assert path_view.hole_summary(np.array([False, True, False])) == "Step 2 (1 of 3) lies in a hole: off the data."
    assert path_view.hole_summary(np.array([True, True, False, True])) == \
        "Steps 1, 2 and 4 (3 of 4) lie in a hole: off the data."


@pytest.mark.parametrize("likelihood, elbo, floor, words", [
    ("bernoulli", -100.0, 46.4, "contains 46.4 nats per picture that no model can remove (their entropy). This "
                                "model is 53.6 nats per picture above that floor."),
    ("bernoulli", -100.0, 0.0, "black and white"),
    ("bernoulli", -100.0, None, "about 46 nats per picture on mnist-5k"),
    ("gaussian", -500.0, 46.4, "not comparable with Bernoulli models"),
    ("continuous-bernoulli", 900.0, None, "can be positive"),
])
def test_the_honest_words_follow_the_likelihood(likelihood, elbo, floor, words):
    from pages.common import honest

    assert words in honest.likelihood_words(likelihood, elbo, floor)


def test_the_sidebar_fact_is_the_distance_above_the_floor_of_bernoulli_models_only():
    from pages.common import honest

    assert honest.short_fact("bernoulli", -161.4, 46.4) == " (115.0 above the floor of 46.4)"
    assert honest.short_fact("gaussian", -161.4, 46.4) == honest.short_fact("bernoulli", -161.4, None) == ""


@pytest.mark.slow
def test_the_charts_load_without_torch():
    code = ("import sys, numpy as np\nfrom vae import lens_plots\n"
            "lens_plots.kl_bar_chart(np.ones(3), np.ones(3, bool)); lens_plots.path_chart(*np.ones((3, 2)), np.ones(2, bool))\n"
            "print('torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
