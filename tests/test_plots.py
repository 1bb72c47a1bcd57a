"""Figure builders: trace order and types, one trace per class, background picture, fixed ranges."""
import html
import json
import math

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from vae import plots

CLASS_NAMES = [str(digit) for digit in range(10)]


@pytest.fixture
def scatter_data() -> tuple[np.ndarray, np.ndarray]:
    """200 random plane points in 10 classes: (200, 2) float32, (200,) int64."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(200, 2)).astype(np.float32), rng.integers(0, 10, 200)


def test_first_trace_is_invisible_click_grid(scatter_data):
    points, labels = scatter_data
    figure = plots.latent_scatter(points, labels, CLASS_NAMES, (-3, 3), (-4, 4), grid_density=50)
    grid = figure.data[0]
    assert isinstance(grid, go.Scattergl)
    assert grid.name == plots.GRID_TRACE_NAME and grid.showlegend is False
    assert len(grid.x) == 50 * 50
    assert grid.marker.opacity == 0 and grid.selected.marker.opacity == 0 and grid.unselected.marker.opacity == 0
    assert grid.hoverinfo == "none"
    assert min(grid.x) == pytest.approx(-3) and max(grid.x) == pytest.approx(3)
    assert min(grid.y) == pytest.approx(-4) and max(grid.y) == pytest.approx(4)


def test_one_webgl_trace_per_class_with_names_and_indices(scatter_data):
    points, labels = scatter_data
    indices = np.arange(1000, 1200)
    figure = plots.latent_scatter(points, labels, CLASS_NAMES, (-3, 3), (-3, 3), indices=indices)
    classes = figure.data[1:]
    assert [trace.name for trace in classes] == CLASS_NAMES
    assert all(isinstance(trace, go.Scattergl) for trace in classes)
    for label, trace in enumerate(classes):
        members = labels == label
        np.testing.assert_allclose(trace.x, points[members, 0])
        np.testing.assert_array_equal(trace.customdata, indices[members])
        assert "customdata" in trace.hovertemplate
        assert trace.unselected.marker.opacity == trace.marker.opacity  # a click does not dim the others
    assert len({trace.marker.color for trace in classes}) == 10  # ten distinguishable colours


def test_every_class_gets_a_trace_even_when_empty():
    figure = plots.latent_scatter(np.zeros((3, 2)), np.array([0, 0, 2]), ["a", "b", "c"], (-3, 3), (-3, 3))
    assert [trace.name for trace in figure.data[1:]] == ["a", "b", "c"]
    assert len(figure.data[2].x) == 0
    assert plots.class_count(np.array([0, 5]), ["a", "b"]) == 6


def test_hidden_classes_stay_in_the_legend(scatter_data):
    points, labels = scatter_data
    figure = plots.latent_scatter(points, labels, CLASS_NAMES, (-3, 3), (-3, 3), hidden_classes=[2, 7])
    visible = [trace.visible for trace in figure.data[1:]]
    assert visible[2] == "legendonly" and visible[7] == "legendonly"
    assert visible.count(True) == 8


def test_marker_is_last_trace_and_a_cross(scatter_data):
    points, labels = scatter_data
    figure = plots.latent_scatter(points, labels, CLASS_NAMES, (-3, 3), (-3, 3), marker=(0.5, -1.0))
    cross = figure.data[-1]
    assert cross.name == plots.MARKER_TRACE_NAME and cross.marker.symbol == "x"
    assert (cross.x[0], cross.y[0]) == (0.5, -1.0)
    assert len(figure.data) == 1 + 10 + 1


def test_ranges_are_fixed(scatter_data):
    points, labels = scatter_data
    figure = plots.latent_scatter(points, labels, CLASS_NAMES, (-3.5, 3), (-2, 5))
    assert figure.layout.xaxis.fixedrange and figure.layout.yaxis.fixedrange
    assert tuple(figure.layout.xaxis.range) == (-3.5, 3) and tuple(figure.layout.yaxis.range) == (-2, 5)
    assert figure.layout.dragmode is False


def test_background_picture_below_points_and_grid_off(scatter_data):
    points, labels = scatter_data
    plain = plots.latent_scatter(points, labels, CLASS_NAMES, (-3, 3), (-3, 3))
    assert len(plain.layout.images) == 0 and plain.layout.xaxis.showgrid
    figure = plots.latent_scatter(points, labels, CLASS_NAMES, (-3, 3), (-2, 4), background_png=b"\x89PNG fake")
    (image,) = figure.layout.images
    assert image.layer == "below" and image.source.startswith("data:image/png;base64,")
    assert (image.x, image.y, image.sizex, image.sizey) == (-3, 4, 6, 6)
    assert image.xref == "x" and image.yref == "y" and image.sizing == "stretch"
    assert figure.layout.xaxis.showgrid is False and figure.layout.yaxis.showgrid is False


def test_seventy_thousand_points_go_out_as_compact_binary():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(70_000, 2)).astype(np.float32)
    labels = rng.integers(0, 10, 70_000)
    figure = plots.latent_scatter(points, labels, CLASS_NAMES, (-4, 4), (-4, 4))
    text = pio.to_json(figure, validate=False)
    spec = json.loads(text)
    assert "bdata" in spec["data"][1]["x"] and spec["data"][1]["x"]["dtype"] == "f4"
    assert len(text) < 3_000_000  # 70k float32 pairs + 22.5k grid points + indices, base64


def test_axis_range_covers_the_data():
    assert plots.axis_range(np.array([])) == (-plots.PRIOR_EXTENT, plots.PRIOR_EXTENT)  # nothing to frame
    low, high = plots.axis_range(np.linspace(-10, 20, 1001))
    assert low < -9 and high > 19
    low, high = plots.axis_range(np.array([np.nan, np.inf, 1.0]))
    assert math.isfinite(low) and math.isfinite(high) and low <= 0.0 < 1.0 <= high


def test_axis_range_frames_the_codes_not_a_fixed_plus_minus_3():
    codes = np.random.default_rng(0).normal(0.0, 0.5, 2000)  # a model whose codes stay within about 1.5
    p_low, p_high = np.percentile(codes, [1, 99])
    pad = 0.15 * (p_high - p_low)
    assert plots.axis_range(codes) == (round(p_low - pad, 2), round(p_high + pad, 2))
    assert plots.axis_range(codes)[1] < 2.0


def test_axis_range_gives_a_tiny_blob_a_usable_plane():
    blob = 0.3 + 0.02 * np.random.default_rng(1).standard_normal(1000)  # a collapsed model's codes
    low, high = plots.axis_range(blob)
    assert high - low == pytest.approx(plots.MIN_AXIS_SPAN, abs=0.011)  # at least the minimum, and no wider
    assert low <= 0.0 <= high  # the starting point (the prior's centre) stays on the plane
    assert low < blob.min() and blob.max() < high
    assert (blob.max() - blob.min()) / (high - low) > 0.1  # the blob fills a visible part, not 2% of ±3
    assert plots.axis_range(np.zeros(10)) == (-0.5, 0.5)


def test_loss_curves_label_every_series():
    history = {"train_loss": [200.0, 150.0], "recon": [190.0, 140.0], "kl": [10.0, 10.0],
               "test_elbo": [-180.0, float("nan")]}
    figure = plots.loss_curves(history)
    names = [trace.name for trace in figure.data]
    assert len(names) == 4 and any("Test loss" in name for name in names)
    test_loss = next(trace for trace in figure.data if "Test loss" in trace.name)
    assert list(test_loss.y) == [180.0, None]  # -ELBO, NaN as a gap
    assert figure.layout.xaxis.title.text == "Epoch"


def test_loss_curves_without_history_say_so():
    figure = plots.loss_curves({})
    assert len(figure.data) == 0 and "No training history" in figure.layout.annotations[-1].text


def test_both_training_charts_colour_each_quantity_the_same():
    history = {"train_loss": [200.0, 150.0], "recon": [190.0, 140.0], "kl": [10.0, 10.0], "test_elbo": [-180.0, -170.0]}
    batches = {"step": [0.5, 1.0, 1.5, 2.0], "loss": [210.0, 190.0, 160.0, 150.0], "recon": [205.0, 180.0, 150.0, 140.0],
               "kl": [5.0, 10.0, 10.0, 10.0]}
    per_epoch = {trace.name: trace.line.color for trace in plots.loss_curves(history).data}
    per_batch = {trace.name: trace.line.color for trace in plots.batch_loss_curves(batches).data}
    assert len(per_batch) == 3 and set(per_batch) <= set(per_epoch)  # the same three quantities, the same names
    for name, color in per_batch.items():
        assert per_epoch[name] == color, name
    assert len(set(per_epoch.values())) == len(per_epoch)  # and no two quantities share a colour
    assert {name: color for name, color in plots.CURVE_STYLES.values()} == per_epoch


def test_batch_chart_draws_every_batch_point():
    batches = {"step": [0.5, 1.0], "loss": [210.0, float("nan")], "recon": [205.0, 180.0], "kl": [5.0, 10.0]}
    figure = plots.batch_loss_curves(batches)
    loss = next(trace for trace in figure.data if trace.name == plots.CURVE_STYLES["loss"][0])
    assert list(loss.x) == [0.5, 1.0] and list(loss.y) == [210.0, None]
    assert figure.layout.xaxis.title.text == "Epoch"
    assert len(plots.batch_loss_curves({"step": []}).data) == 0
# ------------------------------------------------------------------ labels from a file: few classes, names as text


def legend_names(figure: go.Figure) -> list[str]:
    return [trace.name for trace in figure.data if trace.showlegend is not False]


def test_sparse_labels_give_one_trace_per_class_present():
    # A label of 500 once made 501 traces (70,000 made the Interpolate page send 28 MB).
    labels = np.array([0, 500, 0, 500, 500])
    figure = plots.latent_scatter(np.zeros((5, 2)), labels, [], (-3, 3), (-3, 3))
    assert legend_names(figure) == ["class 0", "class 500"]
    assert figure.data[2].customdata.tolist() == [1, 3, 4]  # the images of class 500 stay together


def test_a_checkpoint_with_thousands_of_names_shows_only_the_classes_its_images_have():
    names = [f"name {index}" for index in range(70_001)]
    labels = np.array([3, 70_000, 3, 12])
    numbered, shown = plots.plot_classes(labels, names)
    assert shown == ("name 3", "name 12", "name 70000")  # sorted by id, each keeps its name
    assert numbered.tolist() == [0, 2, 0, 1]
    figure = plots.latent_scatter(np.zeros((4, 2)), labels, names, (-3, 3), (-3, 3))
    assert legend_names(figure) == list(shown)


def test_up_to_the_limit_every_class_keeps_its_number():
    labels = np.arange(plots.MAX_CLASSES)[::-1]
    numbered, names = plots.plot_classes(labels, [])
    assert numbered.tolist() == labels.tolist() and len(names) == plots.MAX_CLASSES


def test_more_classes_than_the_limit_share_one_last_legend_entry():
    count = plots.MAX_CLASSES + 50
    labels = np.arange(count) * 3
    figure = plots.latent_scatter(np.zeros((count, 2)), labels, [], (-3, 3), (-3, 3))
    names = legend_names(figure)
    assert len(names) == plots.MAX_CLASSES
    assert names[:2] == ["class 0", "class 3"] and names[-1] == plots.OTHER_CLASSES
    assert figure.data[-1].customdata.tolist() == list(range(plots.MAX_CLASSES - 1, count))


HOSTILE = ["<a href='http://x.test'>link</a>", "<b>bold</b> & <br> &amp;", "<img src=x onerror=alert(1)>", "plain"]


def test_class_names_reach_plotly_as_text():
    figure = plots.latent_scatter(np.zeros((4, 2)), np.arange(4), HOSTILE, (-3, 3), (-3, 3))
    names = legend_names(figure)
    assert [html.unescape(name) for name in names] == HOSTILE  # what plotly shows: its entities decoded
    assert not any(mark in name for name in names for mark in "<>")  # no tag left for plotly to read
    assert "<a " not in figure.to_json() and "<img" not in figure.to_json()


@pytest.mark.parametrize("text", HOSTILE + ["&lt;a&gt; is already an entity", "", "<<>>&&"])
def test_plotly_text_round_trips_through_html_entities(text):
    shown = plots.plotly_text(text)
    assert html.unescape(shown) == text and "<" not in shown and ">" not in shown
