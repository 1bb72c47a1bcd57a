"""vae.comparison: several models' curves in one figure, and the test images every model redraws (no torch)."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae import comparison, plots

ROOT = Path(__file__).resolve().parent.parent


def history(start: float, epochs: int) -> dict:
    return {"train_loss": [start - e for e in range(epochs)], "test_elbo": [-(start + 2) + e for e in range(epochs)],
            "recon": [start - 5 - e for e in range(epochs)], "kl": [3.0 + e for e in range(epochs)]}


def test_one_line_per_model_in_the_quantitys_colour_told_apart_by_dash_and_label():
    histories = [("small (z = 2)", history(100.0, 3)), ("large (z = 40)", history(90.0, 5))]
    figure = comparison.curves_by_model(histories, "test_loss")
    assert [trace.name for trace in figure.data] == ["small (z = 2)", "large (z = 40)"]
    assert list(figure.data[0].y) == [102.0, 101.0, 100.0]  # the test loss is minus the test ELBO
    assert list(figure.data[1].x) == [1, 2, 3, 4, 5]
    assert {trace.line.color for trace in figure.data} == {plots.CURVE_STYLES["test_loss"][1]}
    assert figure.data[0].line.dash != figure.data[1].line.dash
    assert list(figure.data[1].text) == ["", "", "", "", "large (z = 40)"]  # the name at the line's end
    kl = comparison.curves_by_model(histories, "kl")
    assert list(kl.data[0].y) == [3.0, 4.0, 5.0] and kl.data[0].line.color == plots.CURVE_STYLES["kl"][1]


def test_gaps_missing_curves_and_names_that_look_like_markup():
    gappy = {"train_loss": [5.0, math.nan, math.inf, 2.0, None]}
    figure = comparison.curves_by_model([("<b>x</b> %{y}", gappy), ("none", {}), ("none either", None)], "loss")
    assert len(figure.data) == 1 and list(figure.data[0].y) == [5.0, None, None, 2.0, None]
    assert list(figure.data[0].text) == ["", "", "", "&lt;b&gt;x&lt;/b&gt; %{y}", ""]  # shown as typed
    assert figure.data[0].name == "&lt;b&gt;x&lt;/b&gt; %{y}"
    assert "%{fullData.name}" in figure.data[0].hovertemplate and "<b>" not in figure.data[0].hovertemplate
    empty = comparison.curves_by_model([("none", {})], "kl")
    assert not empty.data and "None of these models" in empty.layout.annotations[0].text


def test_the_shared_images_are_the_first_of_each_class_then_the_next_ones():
    labels = np.array([3, 3, 1, 0, 1, 2, 0, 3])
    assert comparison.shared_images(labels, 4).tolist() == [3, 2, 5, 0]  # classes 0, 1, 2, 3 in order
    assert comparison.shared_images(labels, 6).tolist() == [3, 2, 5, 0, 1, 4]
    assert comparison.shared_images(labels, 2).tolist() == [3, 2]
    assert comparison.shared_images(labels, 100).tolist() == [3, 2, 5, 0, 1, 4, 6, 7]
    assert comparison.shared_images(np.zeros(5, int), 3).tolist() == [0, 1, 2]  # one class: the first ones
    assert comparison.shared_images(np.array([]), 3).tolist() == []


@pytest.mark.slow
def test_comparison_needs_no_torch():
    code = "import sys, vae; vae.comparison.curves_by_model([('a', {'kl': [1.0]})], 'kl'); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
