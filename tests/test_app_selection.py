"""Selections on the Latent space map (pages/common/selection.py): one "select" event from the map's box or lasso
gives the pictures' grid, their scores, a CSV and, kept as A and B, a strip along the direction between them.

Figures are checked against independent computations: vae.score_images run in the test, the CSV read back with
Python's csv module, the strip decoded from codes the test works out itself.
"""
from __future__ import annotations

import base64
import csv
import io

import numpy as np
import pytest
from PIL import Image

import vae
from conftest import DIGITS, MODEL_16D, app_model_path, assert_clean, map_event, map_json, page_text
from pages.common import selection

CHOSEN = [3, 17, 40, 41, 200]  # test pictures a box on the map could hold


def select(at, indices):
    return map_event(at, "select", {"indices": indices})


def download(at, media, key: str) -> bytes:
    """What the download button ``key`` saves, made as a click makes it."""
    button = next(button for button in at.get("download_button") if button.proto.id.endswith(f"-{key}"))
    return media.download(button)[0]


def test_each_malformed_event_is_refused_before_it_reaches_the_page():
    count = 10
    bad = [None, "1,2", [1, 2], {"indices": "1,2"}, {"indices": [1.0]}, {"indices": [True]}, {"indices": [-1]},
           {"indices": [10]}, {"indices": [[1]]}, {"indices": [None]}, {"indices": list(range(10)) + [0]},
           {"idx": [1]}, {"indices": [float("nan")]}, {"indices": ["3"]}, {"indices": [2**70]}]
    for value in bad:
        assert selection.event_indices(value, count) is None, value
    assert selection.event_indices({"indices": [4, 1, 4, 0]}, count) == [0, 1, 4]  # sorted, each once
    assert selection.event_indices({"indices": []}, count) == []  # clears


@pytest.mark.slow
@pytest.mark.usefixtures("navigation_mode")
def test_a_selection_shows_its_pictures_scores_and_csv(app, media):
    app.session_state["model_name"] = MODEL_16D
    app.run()
    assert map_json(app)["selectable"] is True and map_json(app)["selection"]["indices"] == ""
    select(app, list(reversed(CHOSEN)))
    assert_clean(app)
    sent = np.frombuffer(base64.b64decode(map_json(app)["selection"]["indices"]), "<u4")
    assert sent.tolist() == CHOSEN  # ringed on the map
    assert f"{len(CHOSEN)} selected pictures" in [item.value for item in app.subheader]
    digits = vae.load_dataset("digits")
    model = vae.load_model(app_model_path(app))
    grid = np.asarray(Image.open(io.BytesIO(download(app, media, selection.GRID_DOWNLOAD_KEY))).convert("L"))
    scale = grid.shape[1] // (len(CHOSEN) * 9 - 1)
    expected = vae.images.to_uint8(vae.images.tile(digits.test_images[CHOSEN], columns=len(CHOSEN)))
    np.testing.assert_array_equal(grid[::scale, ::scale], expected)
    assert max(grid.shape) >= 1024

    scores = vae.score_images(model, digits.test_images)  # every test picture, as the page scores them
    table = app.dataframe[0].value
    assert table["Picture"].tolist() == CHOSEN
    assert table["Class"].tolist() == [DIGITS[label] for label in digits.test_labels[CHOSEN]]
    np.testing.assert_allclose(table[selection.SCORE_COLUMNS[0]], scores.elbo[CHOSEN], rtol=1e-5)
    np.testing.assert_allclose(table[selection.SCORE_COLUMNS[1]], scores.reconstruction_nll[CHOSEN], rtol=1e-5)
    np.testing.assert_allclose(table[selection.SCORE_COLUMNS[2]], scores.squared_error[CHOSEN], rtol=1e-5)
    assert f"ELBO **{scores.elbo[CHOSEN].mean():.1f}** nats" in page_text(app)

    text = download(app, media, selection.CSV_KEY).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["index", "label", "class", *[f"z{d}" for d in range(1, 17)]]
    means = model.encode(digits.test_images)[0]
    for row, index in zip(rows[1:], CHOSEN, strict=True):
        assert int(row[0]) == index and int(row[1]) == digits.test_labels[index] and row[2] == DIGITS[int(row[1])]
        np.testing.assert_allclose(np.array(row[3:], np.float64), means[index], rtol=1e-5, atol=1e-6)

    select(app, [])  # "Clear selection"
    assert_clean(app)
    assert "selected pictures" not in " ".join(item.value for item in app.subheader)


@pytest.mark.slow
@pytest.mark.usefixtures("navigation_mode")
def test_from_selection_a_to_b_is_the_strip_along_the_difference_of_their_means(app, media):
    app.session_state["model_name"] = MODEL_16D
    app.run()
    first, second = [0, 5, 9], [100, 101, 150, 300]
    select(app, first)
    app.button(key="explore_keep_a").click().run()
    select(app, second)
    app.button(key="explore_keep_b").click().run()
    assert_clean(app)
    model = vae.load_model(app_model_path(app))
    means = model.encode(vae.load_dataset("digits").test_images)[0].astype(np.float64)
    start, end = means[first].mean(axis=0), means[second].mean(axis=0)
    amounts = np.linspace(-0.5, 1.5, 9)  # half a step before A's average code to half a step past B's
    strip = vae.images.tile(model.decode((start + amounts[:, None] * (end - start)).astype(np.float32)), padding=1)
    picture = np.asarray(Image.open(io.BytesIO(download(app, media, selection.STRIP_DOWNLOAD_KEY))).convert("L"))
    scale = picture.shape[1] // strip.shape[1]
    assert picture.shape == (strip.shape[0] * scale, strip.shape[1] * scale) and max(picture.shape) >= 1024
    assert np.abs(picture[::scale, ::scale].astype(int) - vae.images.to_uint8(strip).astype(int)).max() <= 1
    assert f"{np.linalg.norm(end - start):.2f} long" in " ".join(
        caption for image in app.get("image") for caption in image.captions).replace("\\", "")


@pytest.mark.slow
@pytest.mark.usefixtures("navigation_mode")
@pytest.mark.parametrize("value", [None, "all", {"indices": "3,4"}, {"indices": [3.0]}, {"indices": [False]},
                                   {"indices": [-1]}, {"indices": [10**6]}, {"indices": [[3]]},
                                   {"indices": list(range(400))}])
def test_a_malformed_selection_event_changes_nothing(app, value):
    app.run()
    select(app, CHOSEN)
    before = map_json(app)["selection"]
    select(app, value)
    assert_clean(app)
    assert map_json(app)["selection"] == before
    assert app.session_state[selection.SELECTION_KEY]["indices"] == CHOSEN
