"""AppTest of the Compare page (pages/compare.py, pages/common/compare_set.py): two models on linked maps with
their numbers, then several models of one dataset (their curves in one chart, one row of reconstructions each).

Everything is checked against the models themselves, loaded here with vae.load_model: the points against
their encodings, the numbers against the checkpoint or vae.evaluate, the curves against the histories.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vae
from conftest import DIGITS, assert_clean, latent_map, map_event, map_json, open_page, page_text, spread_codes
from pages.common import compare_set
from vae.config import History, ModelConfig
from vae.models import build_model

CONV_2D, MLP_2D, MLP_16D, FASHION = "digits-conv-2d", "digits-mlp-2d", "digits-mlp-16d", "mnist5k-tiny"
STORED = {"test_elbo": -41.5, "nll": 39.25, "knn_accuracy": 0.625, "active_units": 2.0}  # MLP_2D's file
pytestmark = [pytest.mark.usefixtures("navigation_mode"), pytest.mark.slow]


def history(start: float, epochs: int = 4) -> History:
    """Made-up curves that differ per model, so a line can be traced to its model."""
    steps = range(epochs)  # plain floats: numpy scalars would make the file refuse to load (pickled objects)
    return History(train_loss=[start - 3.0 * s for s in steps], recon=[start - 10 - 2.0 * s for s in steps],
                   kl=[5.0 + s for s in steps], test_elbo=[-(start + 1) + 2.5 * s for s in steps])


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """Three digits models (2-D conv, 2-D MLP, 16-D MLP) with histories, and a 28x28 one of another dataset."""
    folder = tmp_path_factory.mktemp("compare")
    digits = vae.load_dataset("digits").test_images
    configs = {
        CONV_2D: (ModelConfig(kind="conv", image_shape=(8, 8), latent_dim=2, conv_channels=(8, 16), conv_hidden=16),
                  {"test_elbo": -50.0}, 60.0),
        MLP_2D: (ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=2, hidden_sizes=(32,)), STORED, 70.0),
        MLP_16D: (ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=16, hidden_sizes=(32,)), {}, 80.0),
    }
    for name, (config, metrics, start) in configs.items():
        vae.save_checkpoint(folder / f"{name}.pt", spread_codes(build_model(config, seed=0), digits), dataset="digits",
                            class_names=DIGITS, metrics=metrics, history=history(start, 3 + len(name) % 3))
    other = ModelConfig(kind="mlp", image_shape=(28, 28), latent_dim=2, hidden_sizes=(16,))
    vae.save_checkpoint(folder / f"{FASHION}.pt", build_model(other, seed=0), dataset="mnist-5k",
                        class_names=DIGITS, metrics={"test_elbo": -200.0})
    return folder


def open_compare(app, a: str, b: str):
    """The Compare page with models ``a`` and ``b``."""
    open_page(app, "compare")
    app.selectbox(key="compare_model_a").set_value(a).run()
    app.selectbox(key="compare_model_b").set_value(b).run()
    assert_clean(app)
    return app


def model(folder: Path, name: str) -> vae.LatentModel:
    return vae.load_model(folder / f"{name}.pt")


def test_the_defaults_are_two_different_models_and_the_page_says_what_it_is_for(app):
    open_page(app, "compare")
    a, b = app.selectbox(key="compare_model_a").value, app.selectbox(key="compare_model_b").value
    assert a != b
    assert "latent sizes 2 and 16" in page_text(app) and "β = 1 against one with β = 4" in page_text(app)


def test_both_maps_show_their_own_models_points(app, model_folder):
    open_compare(app, CONV_2D, MLP_16D)
    digits = vae.load_dataset("digits")
    for index, name in enumerate((CONV_2D, MLP_16D)):
        data = latent_map(app, index)
        means = model(model_folder, name).encode(digits.test_images)[0]
        expected = means if means.shape[1] == 2 else vae.pca_projection(means).to_2d(means)
        np.testing.assert_allclose(np.abs(data["points"]), np.abs(expected), rtol=1e-3, atol=1e-4)  # PCA: signs free
        np.testing.assert_array_equal(data["label_array"], digits.test_labels)
        sent = data["live"]["decoder"]  # the weights, or their name once this session has sent them
        assert sent.get("sha256", sent.get("header", {}).get("sha256")) == vae.export_decoder(
            model(model_folder, name)).sha256
    assert f"A: {CONV_2D}".replace("-", "\\-") in page_text(app) and f"B: {MLP_16D}".replace("-", "\\-") in page_text(app)


def metrics_table(app) -> dict[str, list[str]]:
    frame = app.dataframe[0].value  # the one table on the page (a table is no widget: no key to find it by)
    return {column: [str(value) for value in frame[column]] for column in frame.columns}


def test_the_numbers_side_by_side_come_from_the_file_or_are_measured(app, model_folder):
    open_compare(app, MLP_2D, MLP_16D)
    table = metrics_table(app)
    stored = table[f"A: {MLP_2D}"]
    assert stored[:4] == ["-41.50", "39.25", "0.625", "2"] and stored[4] == "2"
    assert stored[5] == "stored in the file"
    measured = table[f"B: {MLP_16D}"]
    digits = vae.load_dataset("digits")
    expected = vae.evaluate(model(model_folder, MLP_16D), digits)  # the same measurement, made here
    assert measured[:4] == [f"{expected['test_elbo']:.2f}", f"{expected['nll']:.2f}",
                            f"{expected['knn_accuracy']:.3f}", f"{expected['active_units']:.0f}"]
    assert measured[4] == "16" and measured[5] == f"measured now ({int(expected['images'])} test images)"


def test_same_size_maps_share_one_code(app, model_folder):
    open_compare(app, CONV_2D, MLP_2D)
    for index in (0, 1):
        assert map_json(app, index)["linked"] == {"channel": "compare", "same_code": True, "same_images": True,
                                                  "picked": None}
    map_event(app, "click", {"x": 0.75, "y": -0.5, "index": None}, 0)  # empty space on map A
    assert_clean(app)
    a, b = map_json(app, 0), map_json(app, 1)
    assert a["live"]["point"] == pytest.approx([0.75, -0.5]) and a["marker"] == pytest.approx([0.75, -0.5])
    assert b["live"]["point"] == pytest.approx(a["live"]["point"]) and b["marker"] == pytest.approx([0.75, -0.5])
    map_event(app, "click", {"x": -0.25, "y": 0.5, "index": None}, 1)  # and back from map B
    assert map_json(app, 0)["live"]["point"] == pytest.approx([-0.25, 0.5])


def test_different_sizes_mark_the_same_test_image_in_both_with_both_reconstructions(app, model_folder, media):
    open_compare(app, CONV_2D, MLP_16D)
    assert map_json(app, 0)["linked"]["same_code"] is False
    digits = vae.load_dataset("digits")
    index = central_image(model_folder, digits, 7)
    map_event(app, "click", {"x": 0.0, "y": 0.0, "index": index}, 0)
    assert_clean(app)
    a, b = latent_map(app, 0), latent_map(app, 1)
    assert a["linked"]["picked"] == b["linked"]["picked"] == index
    assert a["marker"] == pytest.approx(a["points"][index], abs=1e-5)  # each map's cross sits on that image
    assert b["marker"] == pytest.approx(b["points"][index], abs=1e-4)
    own = model(model_folder, MLP_16D).encode(digits.test_images[index][None])[0][0]
    assert b["live"]["point"] == pytest.approx(own, abs=1e-4)  # model B's own code of the same image
    assert page_text(app).count(f"**Test image #{index}** (class 7)") == 2
    shown = [media.image(img)[0] for element in app.get("image") for img in element.proto.imgs]
    for name in (CONV_2D, MLP_16D):  # both reconstructions, each beside the test image
        redrawn = model(model_folder, name).reconstruct(digits.test_images[index][None])[0]
        expected = vae.images.tile(np.stack([digits.test_images[index], redrawn]), columns=2, padding=1)
        assert any(same_picture(png, expected) for png in shown), name


def central_image(folder: Path, digits, label: int) -> int:
    """The test image of class ``label`` nearest the middle of both models' codes (no map clips its code)."""
    score = np.zeros(len(digits.test_labels))
    for name in (CONV_2D, MLP_16D):
        means = model(folder, name).encode(digits.test_images)[0]
        score += np.linalg.norm((means - np.median(means, axis=0)) / means.std(axis=0), axis=1)
    members = np.flatnonzero(digits.test_labels == label)
    return int(members[np.argmin(score[members])])


def same_picture(png: bytes, picture: np.ndarray) -> bool:
    """Whether a PNG on the page is ``picture`` enlarged by a whole factor (grey levels within one step)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"), np.int64)
    scale = pixels.shape[1] // picture.shape[1]
    if scale < 1 or pixels.shape != (picture.shape[0] * scale, picture.shape[1] * scale):
        return False
    return bool(np.abs(pixels[::scale, ::scale] - np.round(picture * 255)).max() <= 1)


def test_models_of_other_images_link_only_a_cursor_of_the_same_size(app, model_folder):
    open_compare(app, MLP_16D, FASHION)
    assert map_json(app, 0)["linked"] is None and map_json(app, 1)["linked"] is None
    assert any("their maps are not linked" in item.value for item in app.warning)
    app.selectbox(key="compare_model_a").set_value(CONV_2D).run()
    for index in (0, 1):
        assert map_json(app, index)["linked"] == {"channel": "compare", "same_code": True, "same_images": False,
                                                  "picked": None}
    map_event(app, "click", {"x": 0.0, "y": 0.0, "index": 5}, 0)  # a dot of A is no picture of B: B gets its code
    a, b = map_json(app, 0), map_json(app, 1)
    assert a["linked"]["picked"] == 5 and b["linked"]["picked"] is None
    means = model(model_folder, FASHION).encode(vae.load_dataset("mnist-5k").test_images)[0]
    low, high = np.array([vae.plots.axis_range(means[:, dim]) for dim in range(2)]).T  # B's map and sliders
    assert b["live"]["point"] == pytest.approx(np.clip(a["live"]["point"], low, high), abs=1e-6)


def test_several_models_share_one_chart_one_line_each_in_the_quantitys_colour(app, model_folder):
    open_page(app, "compare")
    assert app.selectbox(key="compare_set_dataset").value == "digits"
    assert app.multiselect(key="compare_set_models").value == [MLP_2D, MLP_16D]  # a family of names, by size
    app.multiselect(key="compare_set_models").set_value([MLP_16D, MLP_2D, CONV_2D]).run()
    for quantity, (curve, sign) in {"test_loss": ("test_elbo", -1), "kl": ("kl", 1)}.items():
        app.radio(key="compare_set_quantity").set_value(quantity).run()
        figure = app.get("plotly_chart")[0].proto.spec
        traces = plotly_traces(figure)
        assert [trace["name"] for trace in traces] == [compare_set.label(vae.read_info(model_folder / f"{name}.pt"))
                                                       for name in (CONV_2D, MLP_2D, MLP_16D)]
        for trace, name in zip(traces, (CONV_2D, MLP_2D, MLP_16D)):
            expected = [sign * value for value in model(model_folder, name).history[curve]]
            assert trace["y"] == pytest.approx(expected)
            assert trace["line"]["color"] == vae.plots.CURVE_STYLES[quantity][1]
        assert len({trace["line"]["dash"] for trace in traces}) == 3  # the dash tells the models apart


def plotly_traces(spec: str) -> list[dict]:
    """The figure's traces with their arrays decoded (plotly sends numbers as base64 ``bdata``)."""
    import plotly.io

    return [trace.to_plotly_json() for trace in plotly.io.from_json(spec).data]


def test_several_models_redraw_the_same_test_images_one_row_each(app, model_folder, media):
    open_page(app, "compare")
    app.multiselect(key="compare_set_models").set_value([MLP_16D, CONV_2D]).run()
    assert_clean(app)
    digits = vae.load_dataset("digits")
    indices = [int(np.flatnonzero(digits.test_labels == label)[0]) for label in range(10)]  # one of each class
    text = page_text(app)
    assert text.index("Test images") < text.index(f"{CONV_2D}".replace("-", "\\-") + " \\(z \\= 2\\)") \
        < text.index(f"{MLP_16D}".replace("-", "\\-") + " \\(z \\= 16\\)")  # smallest code first
    shown = [media.image(img)[0] for element in app.get("image") for img in element.proto.imgs]
    rows = [digits.test_images[indices]] + [model(model_folder, name).reconstruct(digits.test_images[indices])
                                            for name in (CONV_2D, MLP_16D)]
    for row in rows:
        assert any(same_picture(png, vae.images.tile(row, columns=10, padding=1)) for png in shown)
    app.selectbox(key="compare_set_dataset").set_value("mnist-5k").run()
    assert app.multiselect(key="compare_set_models").value == [FASHION]  # only that dataset's models
    assert len(app.multiselect(key="compare_set_models").options) == 1
    assert_clean(app)
