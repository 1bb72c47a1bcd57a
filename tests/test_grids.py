"""vae.analysis.grids and vae.grid_pictures against independent computations: scipy's norm.ppf, brute-force
distances, plain arithmetic, and the pixels themselves."""
from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import stats

import vae
from vae import grid_pictures
from vae.analysis import grids
from vae.analysis.diagnostics import nearest_codes
from vae.analysis.projection import dims_projection, pca_projection
from vae.errors import VAEError

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_2D = ("mnist5k-conv-2d", "mnist5k-mlp-2d")


# ---------------------------------------------------------------- grid coordinates


@pytest.mark.parametrize("count", [1, 2, 7, 15, 20, 30])
def test_quantile_values_are_scipys_norm_ppf_of_an_even_grid(count):
    expected = stats.norm.ppf(np.linspace(0.05, 0.95, count))
    np.testing.assert_allclose(grids.grid_values(count, grids.QUANTILES), expected, rtol=0, atol=1e-12)
    wider = stats.norm.ppf(np.linspace(0.01, 0.99, count))
    np.testing.assert_allclose(grids.grid_values(count, grids.QUANTILES, edge=0.01), wider, rtol=0, atol=1e-12)


def test_range_values_are_even_steps_over_the_symmetric_range():
    np.testing.assert_array_equal(grids.grid_values(11, grids.RANGE, limit=5.0), np.arange(-5.0, 5.5, 1.0))
    assert grids.grid_values(20, grids.RANGE, limit=3.0)[[0, -1]].tolist() == [-3.0, 3.0]


@pytest.mark.parametrize("arguments", [dict(count=0), dict(count=5, spacing="log"), dict(count=5, spacing="range",
                         limit=0.0), dict(count=5, spacing="range", limit=float("nan")), dict(count=5, edge=0.5),
                         dict(count=5, edge=0.0)])
def test_grid_values_refuse_what_is_no_grid(arguments):
    with pytest.raises(VAEError):
        grids.grid_values(**arguments)


def test_the_grid_is_drawn_row_by_row_from_the_top_left():
    xs, ys = np.array([-1.0, 0.0, 2.0]), np.array([-0.5, 0.5])
    grid = grids.latent_grid(xs, ys, 2)
    assert grid.shape == (2, 3)
    expected = [[x, y] for y in (0.5, -0.5) for x in (-1.0, 0.0, 2.0)]  # top row (high y) first
    np.testing.assert_array_equal(grid.codes, np.array(expected, np.float32))
    np.testing.assert_array_equal(grid.ys, [0.5, -0.5])


def test_two_chosen_dims_move_and_the_others_stay_at_the_held_code():
    base = np.array([0.3, -1.0, 0.7, 2.0, -0.4], np.float32)
    values = grids.grid_values(4, grids.QUANTILES)
    grid = grids.latent_grid(values, values, 5, dims_projection(5, (3, 1)), base)
    for row, y in enumerate(values[::-1]):
        for column, x in enumerate(values):
            expected = base.copy()
            expected[3], expected[1] = x, y
            np.testing.assert_allclose(grid.codes[row * 4 + column], expected, atol=1e-6)


def test_a_prior_quantile_grid_on_the_pca_plane_sits_at_the_prior_quantiles_along_its_axes():
    rng = np.random.default_rng(0)
    means = rng.standard_normal((300, 6)) * np.linspace(2.0, 0.2, 6) + np.linspace(1.0, -1.0, 6)
    projection = pca_projection(means)
    values = grids.grid_values(5, grids.QUANTILES)
    centre = grids.prior_centre(projection)
    grid = grids.latent_grid(values + centre[0], values + centre[1], 6, projection)
    along_axes = grid.codes.astype(np.float64) @ projection.axes.T  # each code measured from the origin of the codes
    expected = np.array([[x, y] for y in values[::-1] for x in values])
    np.testing.assert_allclose(along_axes, expected, atol=1e-5)
    off_plane = grid.codes - along_axes @ projection.axes  # the rest stays at the plane's origin (the codes' mean)
    mean = projection.mean
    np.testing.assert_allclose(off_plane, np.tile(mean - (mean @ projection.axes.T) @ projection.axes, (25, 1)),
                               atol=1e-5)
    np.testing.assert_allclose(grids.prior_centre(dims_projection(6, (2, 4))), [0.0, 0.0])


# ---------------------------------------------------------------- near real codes


def brute_force_near(points: np.ndarray, codes: np.ndarray, share: float = 0.95) -> tuple[np.ndarray, float]:
    """Each point's nearness by every pairwise distance, the threshold by the full distance matrix."""
    pairwise = np.linalg.norm(codes[:, None, :] - codes[None, :, :], axis=2)
    np.fill_diagonal(pairwise, np.inf)
    threshold = float(np.quantile(pairwise.min(axis=1), share))
    nearest = np.array([nearest_codes(point, codes, k=1)[1][0] for point in points])
    return nearest <= threshold, threshold


@pytest.mark.parametrize("dims", [1, 2, 5])
def test_near_real_codes_matches_a_brute_force_count(dims):
    rng = np.random.default_rng(dims)
    codes = np.concatenate([rng.standard_normal((150, dims)) * 0.4 - 1.0, rng.standard_normal((150, dims)) * 0.4 + 1.0])
    points = rng.uniform(-3, 3, (400, dims))
    expected, threshold = brute_force_near(points, codes)
    assert grids.near_code_threshold(codes) == pytest.approx(threshold, abs=1e-12)
    np.testing.assert_array_equal(grids.near_codes(points, codes, grids.near_code_threshold(codes)), expected)
    assert 0 < expected.sum() < len(points)  # the case decides something


def test_a_code_given_twice_is_its_own_nearest_neighbour_at_distance_0():
    codes = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_array_equal(grids.neighbour_distances(codes), [0.0, 0.0, 5.0])


@pytest.mark.parametrize("codes", [np.zeros((1, 2)), np.zeros((0, 2)), np.array([[0.0, np.nan], [1.0, 1.0]])])
def test_near_real_codes_needs_two_finite_codes(codes):
    with pytest.raises(VAEError):
        grids.near_code_threshold(codes)


def quantile_and_range_shares(name: str) -> dict[str, float]:
    """The share of a 20 x 20 grid's tiles near real codes, for a bundled model's saved test codes, by brute force."""
    codes = vae.read_test_codes(REPO_ROOT / "checkpoints" / f"{name}.pt", vae.dataset_version("mnist-5k"))
    means = codes.means.astype(np.float64)
    shares = {}
    for label, values in (("quantiles", stats.norm.ppf(np.linspace(0.05, 0.95, 20))),
                          ("range 3", np.linspace(-3, 3, 20)), ("range 5", np.linspace(-5, 5, 20))):
        tiles = np.array([[x, y] for y in values[::-1] for x in values])
        expected, threshold = brute_force_near(tiles, means)
        found = grids.near_codes(grids.latent_grid(values, values, 2).codes, means, grids.near_code_threshold(means))
        np.testing.assert_array_equal(found, expected)
        shares[label] = float(expected.mean())
    return shares


@pytest.mark.slow
@pytest.mark.parametrize("name", BUNDLED_2D)
def test_on_the_bundled_models_the_quantile_grid_stays_near_real_codes(name):
    shares = quantile_and_range_shares(name)
    assert shares["quantiles"] >= 0.9  # Kingma's layout: almost every picture shows a place real codes reach
    assert shares["quantiles"] > shares["range 3"] > shares["range 5"]  # wider squares reach further past the codes


# ---------------------------------------------------------------- offset walks


def test_the_walks_codes_are_start_plus_k_steps_along_the_direction():
    start = np.array([0.25, -1.5, 3.0], np.float32)
    direction = grids.random_direction(3, seed=4)
    walk = grids.offset_codes(start, direction, 0.3, 6)
    assert walk.shape == (7, 3) and walk.dtype == np.float32
    for k in range(7):
        expected = [float(start[i]) + k * 0.3 * float(direction[i]) for i in range(3)]
        np.testing.assert_allclose(walk[k], np.array(expected, np.float32), rtol=0, atol=1e-6)


@pytest.mark.parametrize("arguments", [dict(count=0), dict(count=grids.MAX_WALK_STEPS + 1), dict(step=float("inf")),
                                       dict(direction=np.ones(2)), dict(start=np.array([np.nan, 0.0, 0.0]))])
def test_a_walk_without_a_way_is_refused(arguments):
    values = dict(start=np.zeros(3), direction=np.ones(3), step=0.5, count=4) | arguments
    with pytest.raises(VAEError):
        grids.offset_codes(**values)


def test_directions_are_unit_length_and_each_is_the_one_asked_for():
    np.testing.assert_array_equal(grids.dim_direction(4, 2), [0.0, 0.0, 1.0, 0.0])
    with pytest.raises(VAEError):
        grids.dim_direction(4, 4)
    draw = np.random.default_rng(11).standard_normal(5)
    np.testing.assert_allclose(grids.random_direction(5, 11), draw / np.sqrt((draw**2).sum()), atol=1e-12)
    assert not np.allclose(grids.random_direction(5, 11), grids.random_direction(5, 12))
    means = np.array([[0.0, 0.0], [2.0, 0.0], [3.0, 4.0], [5.0, 8.0]])
    labels = np.array([0, 0, 1, 1])
    direction, distance = grids.class_direction(means, labels, 0, 1)
    assert distance == pytest.approx(np.hypot(4.0 - 1.0, 6.0 - 0.0))
    np.testing.assert_allclose(direction, np.array([3.0, 6.0]) / np.hypot(3.0, 6.0))


@pytest.mark.parametrize("classes", [(0, 2), (0, 0)])
def test_a_class_direction_needs_two_classes_with_different_centres(classes):
    with pytest.raises(VAEError):
        grids.class_direction(np.ones((4, 2)), np.array([0, 0, 1, 1]), *classes)


# ---------------------------------------------------------------- labels and pictures


@pytest.mark.parametrize("value", [-1.6448536, -0.0001, 0.0, 0.5, 1.0, 2.25, -5.0, 4.4736842, 0.0625])
def test_a_value_label_is_the_value_to_two_decimals_without_trailing_zeros(value):
    label = grid_pictures.value_label(value)
    assert float(label) == round(value, 2) + 0.0
    assert not label.startswith("-0") or label.startswith("-0.")
    assert not (("." in label) and label.endswith("0")) and label != "-0"


def grid_picture(rows: int, columns: int, side: int = 8) -> np.ndarray:
    rng = np.random.default_rng(rows * columns)
    return vae.images.tile(rng.random((rows, columns, side, side), dtype=np.float32))


def test_the_labelled_picture_keeps_the_grid_pixel_for_pixel_and_writes_labels_beside_it():
    picture = grid_picture(5, 5)
    labels = [grid_pictures.value_label(v) for v in grids.grid_values(5)]
    labelled = grid_pictures.labelled_picture(picture, (8, 8), labels, labels[::-1], "z1", "z2")
    scale = grid_pictures.LABEL_CANVAS_PX // max(picture.shape)
    big = vae.images.enlarge(vae.images.to_uint8(picture), scale)
    canvas = np.round(labelled * 255).astype(np.uint8)
    top = grid_pictures.GAP_PX
    lefts = [x for x in range(canvas.shape[1] - big.shape[1] + 1)
             if np.array_equal(canvas[top:top + big.shape[0], x:x + big.shape[1]], big)]
    assert len(lefts) == 1  # the grid is in there once, enlarged by a whole number and untouched
    left, bottom = lefts[0], top + big.shape[0]
    assert canvas[bottom:, left:left + big.shape[1]].min() < 100  # dark text under the grid: the x labels
    assert canvas[top:bottom, :left].min() < 100  # and left of it: the y labels
    centres = left + (grid_pictures.tile_centres(5, 8) + 0.5) * scale
    for centre in centres:  # each column's label sits under its column
        band = canvas[bottom:bottom + 3 * grid_pictures.FONT_PX, int(centre) - 3:int(centre) + 4]
        assert band.min() < 128


def test_on_a_large_grid_the_labels_grow_with_it():
    picture = vae.images.tile(np.zeros((6, 6, 200, 200), np.float32))  # 1205 px: big images, no enlargement
    labelled = grid_pictures.labelled_picture(picture, (200, 200), ["-1.5"] * 6, ["0.25"] * 6, "z1", "z2")
    margin_below = labelled.shape[0] - picture.shape[0]
    text_rows = np.flatnonzero((labelled[picture.shape[0]:] < 0.5).any(axis=1))  # rows of the labels and the title
    assert text_rows.max() - text_rows.min() >= 2 * picture.shape[0] * grid_pictures.FONT_SHARE * 0.7
    assert margin_below >= 2 * picture.shape[0] * grid_pictures.FONT_SHARE


def test_a_labelled_download_is_at_least_1024_px_and_made_of_whole_pixel_blocks():
    picture = grid_picture(20, 20)
    labels = [grid_pictures.value_label(v) for v in grids.grid_values(20)]
    labelled = grid_pictures.labelled_picture(picture, (8, 8), labels, labels, "PCA 1", "PCA 2")
    assert max(labelled.shape) < 1024  # so the download enlarges it by at least 2
    download = np.asarray(Image.open(io.BytesIO(vae.images.png_for_download(labelled))))
    scale = vae.images.download_scale(labelled.shape)
    assert scale >= 2 and max(download.shape) >= 1024
    np.testing.assert_array_equal(download, vae.images.enlarge(vae.images.to_uint8(labelled), scale))


def colour_grid_picture(rows: int, columns: int, side: int = 8) -> np.ndarray:
    rng = np.random.default_rng(rows * columns + 1)
    return vae.images.tile(rng.random((rows, columns, side, side, 3), dtype=np.float32))


def test_a_colour_grid_keeps_its_colours_pixel_for_pixel_beside_black_labels():
    picture = colour_grid_picture(4, 4)
    labels = [grid_pictures.value_label(v) for v in grids.grid_values(4)]
    labelled = grid_pictures.labelled_picture(picture, (8, 8), labels, labels[::-1], "z1", "z2")
    assert labelled.ndim == 3 and labelled.shape[2] == 3
    scale = grid_pictures.LABEL_CANVAS_PX // max(picture.shape[:2])
    big = vae.images.enlarge(vae.images.to_uint8(picture), scale)
    canvas = np.round(labelled * 255).astype(np.uint8)
    top = grid_pictures.GAP_PX
    lefts = [x for x in range(canvas.shape[1] - big.shape[1] + 1)
             if np.array_equal(canvas[top:top + big.shape[0], x:x + big.shape[1]], big)]
    assert len(lefts) == 1  # every channel of every pixel as it was: the colours were not turned grey
    below = canvas[top + big.shape[0]:, lefts[0]:lefts[0] + big.shape[1]]
    assert below.min() < 100 and (below[..., 0] == below[..., 1]).all()  # black labels on white, no colour cast


@pytest.mark.slow  # plotly's figure to JSON: about half a second on a busy machine
def test_the_page_figure_of_a_colour_grid_shows_its_rgb_pixels():
    picture = colour_grid_picture(2, 3)
    figure = json.loads(grid_pictures.grid_figure(picture, (8, 8), ["a", "b", "c"], ["1", "2"]).to_json())
    source = figure["data"][0]["source"]
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))
    np.testing.assert_array_equal(shown, vae.images.to_uint8(picture))
    assert figure["layout"]["xaxis"]["tickvals"] == [3.5, 12.5, 21.5]


@pytest.mark.slow  # plotly's figure to JSON: about half a second on a busy machine
def test_the_page_figure_shows_the_picture_with_the_labels_as_ticks():
    picture = grid_picture(3, 4)
    x_labels, y_labels = ["-1", "0", "1", "2"], ["1", "0", "-1"]
    figure = json.loads(grid_pictures.grid_figure(picture, (8, 8), x_labels, y_labels, "z1", "z2").to_json())
    layout = figure["layout"]
    assert layout["xaxis"]["ticktext"] == x_labels and layout["yaxis"]["ticktext"] == y_labels
    assert layout["xaxis"]["tickvals"] == [3.5, 12.5, 21.5, 30.5]  # the middle of each 8-pixel tile, 1 px apart
    assert layout["xaxis"]["title"]["text"] == "z1" and layout["yaxis"]["title"]["text"] == "z2"
    source = figure["data"][0]["source"]
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))
    np.testing.assert_array_equal(shown, vae.images.to_uint8(picture))


_CHILD = """
import sys
import numpy as np
import vae
values = vae.grid_values(6)
grid = vae.latent_grid(values, values, 2)
codes = np.random.default_rng(0).standard_normal((50, 2))
near = vae.near_codes(grid.codes, codes, vae.near_code_threshold(codes))
walk = vae.offset_codes(codes[0], vae.random_direction(2, 0), 0.5, 4)
picture = vae.grid_pictures.labelled_picture(np.zeros((20, 20)), (3, 3), ["0"] * 5)
vae.grid_pictures.grid_figure(np.zeros((20, 20)), (3, 3), ["0"] * 5)
print("torch" in sys.modules)
"""


@pytest.mark.slow
def test_grids_and_their_pictures_need_no_torch():
    result = subprocess.run([sys.executable, "-c", _CHILD], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False"
