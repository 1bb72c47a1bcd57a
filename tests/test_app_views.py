"""AppTest of each tutorial's own view: the decoded grid and the offset walk on the Generate page, and one class's
reconstructions. What the page draws is checked against codes computed here (scipy's norm.ppf, plain arithmetic)
and decoded by LatentModel.decode; downloads are read as the browser would save them."""
from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import stats

import vae
from conftest import (MODEL_16D, MODEL_2D, app_reading, assert_clean, assert_shown_as_text, open_page, page_text,
                      spread_codes)
from vae.config import ModelConfig
from vae.data import load_dataset
from vae.models import build_model

pytestmark = [pytest.mark.usefixtures("navigation_mode"), pytest.mark.slow]  # every test here runs the app
GRID_CHART, WALK_CHART = "gen_map_chart", "gen_walk_chart"
HOSTILE_CLASS = "**seven** [click](http://example.com) <b>x</b>"


def model_at(folder: Path, name: str) -> vae.LatentModel:
    return vae.load_model(folder / f"{name}.pt")


def encoded_means(model: vae.LatentModel) -> np.ndarray:
    """The test pictures' codes, encoded here."""
    return model.encode(load_dataset("digits").test_images)[0]


def chart(at, key: str) -> dict:
    """The plotly figure the page sent for the chart with ``key=``."""
    found = [element for element in at.get("plotly_chart") if element.proto.id.endswith(f"-{key}")]
    assert len(found) == 1, [element.proto.id for element in at.get("plotly_chart")]
    return json.loads(found[0].proto.spec)


def shown_picture(figure: dict) -> np.ndarray:
    """The pixels of the figure's picture (uint8)."""
    source = figure["data"][0]["source"]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))


def decoded(model: vae.LatentModel, codes: np.ndarray, rows: int) -> np.ndarray:
    """What the page must show for these codes: LatentModel.decode, tiled row by row, as 8-bit pixels."""
    images = model.decode(np.asarray(codes, np.float32))
    return vae.images.to_uint8(vae.images.tile(images.reshape(rows, -1, *model.image_shape)))


def grid_of(values_x: np.ndarray, values_y: np.ndarray, base: np.ndarray, dims: tuple[int, int]) -> np.ndarray:
    """Codes of a grid row by row from the top (high y), two dims moving and the rest at ``base``."""
    codes = []
    for y in values_y[::-1]:
        for x in values_x:
            code = np.array(base, np.float64)
            code[dims[0]], code[dims[1]] = x, y
            codes.append(code)
    return np.array(codes)


def as_numbers(labels: list[str]) -> list[float]:
    return [float(label) for label in labels]


def download(at, media, key: str) -> Image.Image:
    button = next(button for button in at.get("download_button") if button.proto.id.endswith(f"-{key}"))
    data, mimetype = media.download(button)
    assert mimetype == "image/png"
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


# ------------------------------------------------------------------ decoded grid


def test_the_grid_at_the_prior_quantiles_decodes_norm_ppf_codes_labelled_with_them(app, model_folder, media):
    open_page(app, "generate", MODEL_2D)
    assert app.radio(key="gen_map_spacing").value == "quantiles"  # Kingma's layout first
    app.slider(key="gen_map_side").set_value(7).run()
    values = stats.norm.ppf(np.linspace(0.05, 0.95, 7))
    figure = chart(app, GRID_CHART)
    model = model_at(model_folder, MODEL_2D)
    expected = decoded(model, grid_of(values, values, np.zeros(2), (0, 1)), 7)
    np.testing.assert_array_equal(shown_picture(figure), expected)
    np.testing.assert_allclose(as_numbers(figure["layout"]["xaxis"]["ticktext"]), np.round(values, 2))
    np.testing.assert_allclose(as_numbers(figure["layout"]["yaxis"]["ticktext"]), np.round(values[::-1], 2))
    assert figure["layout"]["xaxis"]["title"]["text"] == "z1" and figure["layout"]["yaxis"]["title"]["text"] == "z2"
    picture = download(app, media, "gen_map_download")
    assert picture.format == "PNG" and min(picture.size) >= 1024


def test_the_grid_over_a_range_follows_the_range_chosen(app, model_folder):
    open_page(app, "generate", MODEL_2D)
    app.slider(key="gen_map_side").set_value(5)
    app.radio(key="gen_map_spacing").set_value("range").run()
    app.slider(key="gen_map_range").set_value(5.0).run()
    assert_clean(app)
    values = np.linspace(-5, 5, 5)
    figure = chart(app, GRID_CHART)
    model = model_at(model_folder, MODEL_2D)
    expected = decoded(model, grid_of(values, values, np.zeros(2), (0, 1)), 5)
    np.testing.assert_array_equal(shown_picture(figure), expected)
    assert figure["layout"]["xaxis"]["ticktext"] == ["-5", "-2.5", "0", "2.5", "5"]
    app.slider(key="gen_map_range").set_value(2.0).run()
    smaller = chart(app, GRID_CHART)
    assert smaller["layout"]["xaxis"]["ticktext"] == ["-2", "-1", "0", "1", "2"]
    assert not np.array_equal(shown_picture(smaller), shown_picture(figure))


def near_real_codes(tiles: np.ndarray, means: np.ndarray) -> int:
    """Tiles whose nearest test code is within the 95th percentile of the test codes' nearest-neighbour distances,
    every distance computed pair by pair."""
    pairwise = np.linalg.norm(means[:, None, :] - means[None, :, :], axis=2)
    np.fill_diagonal(pairwise, np.inf)
    threshold = np.quantile(pairwise.min(axis=1), 0.95)
    nearest = np.linalg.norm(tiles[:, None, :] - means[None, :, :], axis=2).min(axis=1)
    return int((nearest <= threshold).sum())


def near_sentence(at) -> tuple[int, int]:
    """(near, total) from the page's sentence "N of these M pictures (P%) lie near the codes of real test pictures"."""
    found = re.search(r"(\d+) of these (\d+) pictures \(\d+%\) lie near the codes of real test pictures", page_text(at))
    assert found, page_text(at)
    return int(found.group(1)), int(found.group(2))


@pytest.mark.parametrize("spacing", ["quantiles", "range"])
def test_the_share_near_real_codes_is_counted_as_brute_force_counts_it(app, model_folder, spacing):
    open_page(app, "generate", MODEL_2D)
    app.radio(key="gen_map_spacing").set_value(spacing).run()
    if spacing == "range":
        app.slider(key="gen_map_range").set_value(4.0).run()
    values = stats.norm.ppf(np.linspace(0.05, 0.95, 20)) if spacing == "quantiles" else np.linspace(-4, 4, 20)
    means = encoded_means(model_at(model_folder, MODEL_2D)).astype(np.float64)
    expected = near_real_codes(grid_of(values, values, np.zeros(2), (0, 1)), means)
    assert near_sentence(app) == (expected, 400)
    if spacing == "range":
        assert 0 < expected < 400  # a grid over +-4 reaches past the codes: the count decides something


def test_above_2d_the_grid_spans_two_chosen_dims_with_the_others_at_a_test_pictures_code(app, model_folder):
    open_page(app, "generate", MODEL_16D)
    app.slider(key="gen_map_side").set_value(5)
    app.radio(key="gen_plane").set_value("dims").run()
    app.selectbox(key="gen_plane_x").set_value(2)
    app.selectbox(key="gen_plane_y").set_value(4)
    app.radio(key="gen_plane_hold").set_value("image").run()
    app.number_input(key="gen_plane_image").set_value(17).run()
    assert_clean(app)
    model = model_at(model_folder, MODEL_16D)
    means = encoded_means(model)
    values = stats.norm.ppf(np.linspace(0.05, 0.95, 5))
    figure = chart(app, GRID_CHART)
    np.testing.assert_array_equal(shown_picture(figure), decoded(model, grid_of(values, values, means[17], (2, 4)), 5))
    assert figure["layout"]["xaxis"]["title"]["text"] == "z3" and figure["layout"]["yaxis"]["title"]["text"] == "z5"
    near, total = near_sentence(app)
    assert (near, total) == (near_real_codes(grid_of(values, values, means[17], (2, 4)), means.astype(np.float64)), 25)


def test_above_2d_the_pca_grid_sits_at_the_prior_quantiles_along_the_main_directions(app, model_folder):
    open_page(app, "generate", MODEL_16D)
    assert app.radio(key="gen_plane").value == "pca"
    app.slider(key="gen_map_side").set_value(5).run()
    model = model_at(model_folder, MODEL_16D)
    means = encoded_means(model).astype(np.float64)
    centre = means.mean(axis=0)
    _, _, vt = np.linalg.svd(means - centre, full_matrices=False)
    values = stats.norm.ppf(np.linspace(0.05, 0.95, 5))
    codes = [centre - (centre @ vt[:2].T) @ vt[:2] + x * vt[0] + y * vt[1] for y in values[::-1] for x in values]
    pixels = shown_picture(chart(app, GRID_CHART)).astype(int)
    assert np.abs(pixels - decoded(model, np.array(codes), 5).astype(int)).max() <= 1  # SVD signs agree; rounding


def test_the_grid_starts_on_the_plane_chosen_on_the_latent_space_page(app):
    app.session_state["explore_plane"] = "dims"
    app.session_state["explore_dim_x"], app.session_state["explore_dim_y"] = 3, 7
    open_page(app, "generate", MODEL_16D)
    assert app.radio(key="gen_plane").value == "dims"
    assert (app.selectbox(key="gen_plane_x").value, app.selectbox(key="gen_plane_y").value) == (3, 7)
    figure = chart(app, GRID_CHART)
    assert (figure["layout"]["xaxis"]["title"]["text"], figure["layout"]["yaxis"]["title"]["text"]) == ("z4", "z8")


# ------------------------------------------------------------------ offset walk


def walk_of(start: np.ndarray, direction: np.ndarray, step: float, steps: int) -> np.ndarray:
    return np.array([np.asarray(start, np.float64) + k * step * np.asarray(direction, np.float64)
                     for k in range(steps + 1)])


def assert_walk(at, model: vae.LatentModel, codes: np.ndarray, step: float) -> None:
    figure = chart(at, WALK_CHART)
    np.testing.assert_array_equal(shown_picture(figure), decoded(model, codes, 1))
    np.testing.assert_allclose(as_numbers(figure["layout"]["xaxis"]["ticktext"]),
                               np.round(np.arange(len(codes)) * step, 2))


def test_the_walk_adds_the_step_again_and_again_along_a_code_number(app, model_folder, media):
    open_page(app, "generate", MODEL_2D)
    model = model_at(model_folder, MODEL_2D)
    means = encoded_means(model)
    assert_walk(app, model, walk_of(means[0], [1.0, 0.0], 0.5, 8), 0.5)  # picture 0, along z1, 8 steps of 0.5
    app.number_input(key="gen_walk_image").set_value(40)
    app.selectbox(key="gen_walk_dim").set_value(1)
    app.slider(key="gen_walk_step").set_value(1.2)
    app.slider(key="gen_walk_steps").set_value(5).run()
    assert_clean(app)
    assert_walk(app, model, walk_of(means[40], [0.0, 1.0], 1.2, 5), 1.2)
    assert "From test picture 40 (class " in page_text(app) and "z2" in page_text(app)
    picture = download(app, media, "gen_walk_download")
    assert picture.format == "PNG" and max(picture.size) >= 1024


def test_the_walk_from_a_class_along_a_random_direction_or_toward_another_class(app, model_folder):
    open_page(app, "generate", MODEL_16D)
    model = model_at(model_folder, MODEL_16D)
    means, labels = encoded_means(model).astype(np.float64), load_dataset("digits").test_labels
    app.radio(key="gen_walk_start").set_value("class").run()
    app.selectbox(key="gen_walk_class").set_value(3)
    app.radio(key="gen_walk_direction").set_value("random").run()
    app.number_input(key="gen_walk_seed").set_value(5).run()
    first_three = int(np.flatnonzero(labels == 3)[0])
    draw = np.random.default_rng(5).standard_normal(16)
    assert_walk(app, model, walk_of(means[first_three], draw / np.linalg.norm(draw), 0.5, 8), 0.5)
    app.radio(key="gen_walk_direction").set_value("classes").run()
    app.selectbox(key="gen_walk_from").set_value(1)
    app.selectbox(key="gen_walk_to").set_value(7).run()
    assert_clean(app)
    difference = means[labels == 7].mean(axis=0) - means[labels == 1].mean(axis=0)
    pixels = shown_picture(chart(app, WALK_CHART)).astype(int)
    expected = decoded(model, walk_of(means[first_three], difference / np.linalg.norm(difference), 0.5, 8), 1)
    assert np.abs(pixels - expected.astype(int)).max() <= 1  # float32 means here, float64 there: rounding only
    assert f"they are {np.linalg.norm(difference):.2f} apart" in page_text(app)


def test_the_walk_starts_from_the_picture_clicked_on_the_latent_space_page(app, model_folder):
    app.session_state["explore_picked"] = {"model": MODEL_2D, "index": 25}
    open_page(app, "generate", MODEL_2D)
    assert app.radio(key="gen_walk_start").value == "clicked"
    model = model_at(model_folder, MODEL_2D)
    assert_walk(app, model, walk_of(encoded_means(model)[25], [1.0, 0.0], 0.5, 8), 0.5)
    app.session_state["explore_picked"] = {"model": MODEL_16D, "index": 25}  # another model's click means nothing
    app.run()
    start = app.radio(key="gen_walk_start")
    assert start.value == "number" and "clicked" not in start.options


@pytest.fixture(scope="module")
def own_folder(tmp_path_factory) -> Path:
    """A 2-D model with no dataset, and one whose class names hold Markdown and HTML."""
    folder = tmp_path_factory.mktemp("views")
    config = ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=2, hidden_sizes=(16,))
    vae.save_checkpoint(folder / "no-images.pt", build_model(config, seed=1), dataset="", class_names=[])
    names = [str(digit) for digit in range(10)]
    names[7] = HOSTILE_CLASS
    model = spread_codes(build_model(config, seed=2), load_dataset("digits").test_images)
    vae.save_checkpoint(folder / "odd-classes.pt", model, dataset="digits", class_names=names)
    return folder


def test_without_test_images_the_walk_starts_at_the_centre_and_the_grid_says_it_cannot_count(monkeypatch, own_folder):
    app = open_page(app_reading(own_folder, monkeypatch), "generate", "no-images")
    assert not app.error
    assert "starts from the centre" in " ".join(item.value for item in app.info)
    model = model_at(own_folder, "no-images")
    assert_walk(app, model, walk_of(np.zeros(2), [1.0, 0.0], 0.5, 8), 0.5)
    assert "is not measured" in page_text(app)
    assert len(chart(app, GRID_CHART)["layout"]["xaxis"]["ticktext"]) == 20


def test_class_names_in_the_walk_are_shown_as_text(monkeypatch, own_folder):
    app = open_page(app_reading(own_folder, monkeypatch), "generate", "odd-classes")
    app.radio(key="gen_walk_start").set_value("class").run()
    app.selectbox(key="gen_walk_class").set_value(7).run()
    app.radio(key="gen_walk_direction").set_value("classes").run()
    app.selectbox(key="gen_walk_from").set_value(7).run()
    assert_clean(app)
    sentence = next(item.value for item in app.markdown if item.value.startswith("From test picture"))
    assert_shown_as_text(sentence, HOSTILE_CLASS)
    assert sentence.count("seven") == 2  # the start's class and the class the walk leaves


# ------------------------------------------------------------------ one class's reconstructions


def test_one_classs_reconstructions_show_that_class_and_download_them(app, model_folder, media):
    open_page(app, "reconstructions", MODEL_2D)
    app.slider(key="recon_count").set_value(8)
    app.selectbox(key="recon_class").set_value(4).run()
    assert_clean(app)
    shown = [int(img.caption.split(":")[0].split()[-1]) for element in app.get("image") for img in element.proto.imgs]
    dataset = load_dataset("digits")
    assert len(shown) == 8 == len(set(shown)) and all(dataset.test_labels[index] == 4 for index in shown)
    picture = download(app, media, "recon_download")
    assert max(picture.size) >= 1024
    originals = dataset.test_images[shown]
    expected = vae.images.to_uint8(vae.images.tile(np.stack([originals, model_at(model_folder, MODEL_2D)
                                                               .reconstruct(originals)])))
    scale = picture.size[0] // expected.shape[1]
    np.testing.assert_array_equal(np.asarray(picture)[::scale, ::scale], expected)
    app.selectbox(key="recon_class").set_value(9).run()
    again = [int(img.caption.split(":")[0].split()[-1]) for element in app.get("image") for img in element.proto.imgs]
    assert all(dataset.test_labels[index] == 9 for index in again)
