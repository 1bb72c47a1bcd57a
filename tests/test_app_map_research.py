"""AppTest of the Latent space map's research views (pages/common/research.py): uncertainty ellipses, where the model
has data and where it has none, honest planes above 2-D, the nearest test pictures, and the t-SNE map.

Each figure the page shows is checked against an independent computation in the test (numpy's eigen-decomposition,
explicit sums of Gaussians, brute-force distances). The 2-D model's codes are laid on a ring, so its centre is a hole.
"""
from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vae
from conftest import (DIGITS, MODEL_2D, MODEL_16D, app_reading, assert_clean, map_click, map_json, page_text)
from pages import explore
from pages.common import research

pytestmark = [pytest.mark.usefixtures("navigation_mode"), pytest.mark.slow]  # every test here runs the app

RING_RADIUS = 1.5  # plane units: the 2-D model's codes lie on this circle ...
RING_LOGVAR = -4.0  # ... each with this log-variance (sigma 0.135), so nothing reaches the centre


def ring_codes(count: int) -> tuple[np.ndarray, np.ndarray]:
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    means = RING_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    logvars = np.full_like(means, RING_LOGVAR)
    logvars[:, 1] -= 0.5 * np.cos(angles)  # spreads that differ across and up: tilted-free but unequal ellipses
    return means.astype(np.float32), logvars.astype(np.float32)


@pytest.fixture(scope="module")
def folder(model_folder, tmp_path_factory) -> Path:
    """Copies of the two test models: the 2-D one with its codes on a ring, the 16-D one with its own codes."""
    target = tmp_path_factory.mktemp("research")
    digits = vae.load_dataset("digits")
    for name in (MODEL_2D, MODEL_16D):
        shutil.copy2(model_folder / f"{name}.pt", target / f"{name}.pt")
    means, logvars = ring_codes(len(digits.test_labels))
    vae.write_test_codes(target / f"{MODEL_2D}.pt", vae.TestCodes(means, digits.test_labels, tuple(DIGITS), "digits",
                                                                  logvars), vae.dataset_version("digits"))
    model = vae.load_model(target / f"{MODEL_16D}.pt")
    vae.write_test_codes(target / f"{MODEL_16D}.pt", vae.encode_test_codes(model, digits.test_images, digits.test_labels,
                                                                           tuple(DIGITS), "digits"),
                         vae.dataset_version("digits"))
    return target


@pytest.fixture
def app(folder, monkeypatch):
    import streamlit as st

    st.cache_data.clear()  # the density and ellipse caches are keyed by file; other modules' copies share names
    return app_reading(folder, monkeypatch)


def saved(folder: Path, name: str) -> vae.TestCodes:
    return vae.read_test_codes(folder / f"{name}.pt", vae.dataset_version("digits"))


def floats(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), "<f4").astype(np.float64)


def expected_ellipses(means: np.ndarray, logvars: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """(N, 3): major, minor and the major axis's angle, from numpy's eigen-decomposition of A Sigma A^T."""
    out = []
    for logvar in logvars:
        values, vectors = np.linalg.eigh(axes @ np.diag(np.exp(logvar.astype(np.float64))) @ axes.T)
        out.append([np.sqrt(values[1]), np.sqrt(values[0]), np.arctan2(vectors[1, 1], vectors[0, 1])])
    return np.array(out)


def assert_same_ellipses(sent: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(sent[:, :2], expected[:, :2], rtol=1e-5)
    turned = np.angle(np.exp(2j * (sent[:, 2] - expected[:, 2])))  # an axis has no sign: angles agree modulo pi
    round_ones = np.isclose(expected[:, 0], expected[:, 1], rtol=1e-4)  # a circle has every direction
    assert np.abs(turned[~round_ones]).max() < 1e-4


def sent_ellipses(data: dict) -> np.ndarray:
    spec = data["ellipses"]
    return np.stack([floats(spec["major"]), floats(spec["minor"]), floats(spec["angle"])], axis=1)


def image_captions(at) -> list[str]:
    return [caption for image in at.get("image") for caption in image.captions]


def mixture_density(point: np.ndarray, means: np.ndarray, logvars: np.ndarray) -> float:
    """The aggregate posterior at ``point``, summed Gaussian by Gaussian."""
    variances = np.exp(logvars.astype(np.float64))
    terms = np.exp(-0.5 * ((point - means) ** 2 / variances).sum(axis=1)) / np.sqrt((2 * np.pi * variances).prod(axis=1))
    return float(terms.mean())


# ------------------------------------------------------------------ uncertainty


@pytest.mark.parametrize("name", [MODEL_2D, MODEL_16D])
def test_the_checkbox_sends_every_images_ellipse_projected_exactly(app, folder, name):
    app.session_state["model_name"] = name
    app.run()
    assert "ellipses" not in map_json(app)
    app.checkbox(key=research.ELLIPSES_KEY).check().run()
    assert_clean(app)
    codes = saved(folder, name)
    axes = np.eye(2) if name == MODEL_2D else vae.pca_projection(codes.means).axes
    data = map_json(app)
    assert data["ellipses"]["count"] == len(codes.means)
    assert_same_ellipses(sent_ellipses(data), expected_ellipses(codes.means, codes.logvars, np.asarray(axes)))


def test_the_clicked_images_ellipse_is_always_drawn(app, folder):
    app.run()
    assert "picked_ellipse" not in map_json(app)
    codes = saved(folder, MODEL_2D)
    map_click(app, float(codes.means[7, 0]), float(codes.means[7, 1]), index=7)
    assert_clean(app)
    picked = map_json(app)["picked_ellipse"]
    assert picked["centre"] == pytest.approx(codes.means[7].tolist(), abs=1e-6)
    sent = np.array([[picked["major"], picked["minor"], picked["angle"]]])
    assert_same_ellipses(sent, expected_ellipses(codes.means[7:8], codes.logvars[7:8], np.eye(2)))
    assert "ellipses" not in map_json(app)  # the others only with the checkbox


# ------------------------------------------------------------------ where the model has data


def test_the_overlay_is_a_picture_under_the_dots_with_the_prior_rings_and_the_holes(app, folder):
    app.run()
    for choice, rings in (("data", False), ("prior", True), ("both", True)):
        app.radio(key=research.DENSITY_KEY).set_value(choice).run()
        assert_clean(app)
        data = map_json(app)
        header, payload = data["density"]["picture"].split(",", 1)
        picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(payload))))
        assert header == "data:image/png;base64" and picture.shape == (vae.DENSITY_RESOLUTION,) * 2 + (4,)
        assert ("prior" in data) == rings
        holes = data["holes"]
        cells = np.unpackbits(np.frombuffer(base64.b64decode(holes["bits"]), np.uint8))[: holes["size"] ** 2]
        assert cells.reshape(holes["size"], -1)[picture[..., 3] > 0].size  # the picture is not empty
        assert ((picture[..., 3] > 0) >= cells.reshape(holes["size"], -1).astype(bool)).all()  # every hole is drawn
    prior = map_json(app)["prior"]
    assert prior["centre"] == [0.0, 0.0]  # a 2-D model: the prior N(0, I) is centred on the plane
    radii = np.sqrt(-2 * np.log(1 - np.array([0.5, 0.9])))  # the rings holding half and 90% of N(0, I)
    assert prior["radii"] == pytest.approx(radii.tolist())
    size, (x0, x1), (y0, y1) = holes["size"], holes["x_range"], holes["y_range"]
    centre = (round(-x0 / (x1 - x0) * (size - 1)), round(y1 / (y1 - y0) * (size - 1)))  # the cell of (0, 0)
    assert cells.reshape(size, -1)[centre[1], centre[0]] == 1  # the ring's empty middle is a hole
    app.radio(key=research.DENSITY_KEY).set_value("none").run()
    assert not {"density", "prior", "holes"} & set(map_json(app))


def test_a_point_in_a_hole_is_flagged_off_the_data(app, folder, media):
    codes = saved(folder, MODEL_2D)
    centre = np.zeros(2)
    assert mixture_density(centre, codes.means, codes.logvars) < 0.1 / (2 * np.pi)  # far below the prior's density
    app.run()
    map_click(app, 0.0, 0.0)
    assert_clean(app)
    assert research.OFF_THE_DATA_NOTE in image_captions(app)
    assert research.OFF_THE_DATA in map_json(app)["live"]["caption"]
    on_ring = codes.means[3] * 1.0
    assert mixture_density(on_ring, codes.means, codes.logvars) > 1 / (2 * np.pi)
    map_click(app, float(on_ring[0]), float(on_ring[1]))
    assert research.OFF_THE_DATA_NOTE not in image_captions(app)
    assert map_json(app)["live"]["caption"] is None


# ------------------------------------------------------------------ honest planes above 2-D


def test_the_pca_view_says_how_much_it_shows_and_how_well_it_keeps_neighbours(app, folder):
    app.session_state["model_name"] = MODEL_16D
    app.run()
    assert_clean(app)
    means = saved(folder, MODEL_16D).means.astype(np.float64)
    spreads = np.linalg.eigvalsh(np.cov(means, rowvar=False))  # ascending: the view keeps the two largest
    shown = spreads[-2:].sum() / spreads.sum()
    text = page_text(app)
    assert f"This flat view shows {shown:.1%} of how the codes vary." in text
    digits = vae.load_dataset("digits")
    model = vae.load_model(folder / f"{MODEL_16D}.pt")
    accuracy = vae.plane_knn_accuracy(model.encode(digits.train_images)[0], digits.train_labels, means,
                                      digits.test_labels, vae.pca_projection(means))
    assert f"{accuracy.plane:.0%} of the time on this view, against {accuracy.full:.0%} with all 16 numbers" in text
    assert "the rest of the code stays as it was" in text


def test_a_click_keeps_what_the_view_does_not_show(app, folder):
    app.session_state["model_name"] = MODEL_16D
    app.run()
    means = saved(folder, MODEL_16D).means
    map_click(app, 0.3, -0.2, index=4)
    before = np.array(app.session_state["explore_point"]["z"])
    map_click(app, 0.6, 0.1)
    after = np.array(app.session_state["explore_point"]["z"])
    axes = vae.pca_projection(means).axes
    hidden = np.eye(16) - axes.T @ axes  # the part of a code the view cannot show
    np.testing.assert_allclose(hidden @ after, hidden @ before, atol=1e-5)
    app.radio(key="explore_plane").set_value("dims").run()
    assert "the other 14 stay as they are" in page_text(app)
    map_click(app, -0.4, 0.9)
    moved = np.array(app.session_state["explore_point"]["z"])
    assert moved[:2] == pytest.approx([-0.4, 0.9], abs=1e-6) and moved[2:] == pytest.approx(after[2:], abs=1e-6)


def test_the_nearest_test_pictures_are_the_brute_force_nearest(app, folder):
    app.session_state["model_name"] = MODEL_16D
    app.run()
    assert "Nearest test pictures" not in page_text(app)  # no point chosen yet
    map_click(app, 0.8, -0.5)
    assert_clean(app)
    z = np.array(app.session_state["explore_point"]["z"], np.float64)
    codes = saved(folder, MODEL_16D)
    distances = np.sqrt(((codes.means.astype(np.float64) - z) ** 2).sum(axis=1))
    nearest = np.argsort(distances, kind="stable")[: research.NEAREST_COUNT]
    listed = [caption.value for caption in app.caption if caption.value.startswith("\\#")]
    expected = [f"#{i} · {DIGITS[codes.labels[i]]} · {distances[i]:.2f}" for i in nearest]
    assert [caption.replace("\\", "") for caption in listed] == expected


# ------------------------------------------------------------------ the t-SNE map


def test_the_tsne_map_decodes_the_mean_code_of_the_nearest_pictures_there(app, folder):
    app.session_state["model_name"] = MODEL_16D
    app.run()
    app.radio(key="explore_plane").set_value("tsne").run()
    assert_clean(app)
    data = map_json(app)
    codes = saved(folder, MODEL_16D)
    points = np.stack([floats(data["points"]["x"]), floats(data["points"]["y"])], axis=1)
    np.testing.assert_allclose(points, vae.tsne_plane(codes.means), atol=1e-4)  # scikit-learn's, seeded
    assert data["live"]["nearest"] == 5 and data["axis_titles"] == ["t-SNE 1", "t-SNE 2"]
    assert "average code of the 5 test pictures nearest that spot" in page_text(app)
    assert research.NO_LAYERS_ON_TSNE in page_text(app)
    assert explore.NO_WEB_PAGE_ON_TSNE in page_text(app)  # a saved page could only lift through PCA: none offered
    assert not [b for b in app.get("download_button") if b.proto.id.endswith(f"-{explore.WEB_PAGE_KEY}")]
    spot = points[10] + np.array([0.3, -0.2])
    map_click(app, float(spot[0]), float(spot[1]))
    assert_clean(app)
    nearest = np.argsort(np.linalg.norm(points - spot, axis=1), kind="stable")[:5]
    expected = codes.means[nearest].astype(np.float64).mean(axis=0)
    ranges = np.array([vae.plots.axis_range(codes.means[:, d]) for d in range(16)])
    expected = np.clip(expected, ranges[:, 0], ranges[:, 1])
    np.testing.assert_allclose(app.session_state["explore_point"]["z"], expected, atol=1e-5)
    assert map_json(app)["marker"] == pytest.approx(spot.tolist(), abs=1e-6)
    assert app.query_params["plane"] == "tsne"


def test_too_many_pictures_for_rings_draws_only_the_clicked_ones_ring_and_says_so(app, folder, monkeypatch):
    monkeypatch.setattr(research, "MAX_ELLIPSES", 10)  # the digits test set has more: the rings are left out
    app.run()
    app.checkbox(key=research.ELLIPSES_KEY).check().run()
    assert_clean(app)
    codes = saved(folder, MODEL_2D)
    assert "ellipses" not in map_json(app)
    assert f"Too many test pictures for rings ({len(codes.means):,})" in page_text(app)
    map_click(app, float(codes.means[2, 0]), float(codes.means[2, 1]), index=2)
    assert map_json(app)["picked_ellipse"]["centre"] == pytest.approx(codes.means[2].tolist(), abs=1e-6)


@pytest.mark.parametrize("count", ["all", "other"])
def test_codes_saved_without_log_variances(model_folder, tmp_path, monkeypatch, count):
    """Codes written by another tool without log-variances: of the model's own test pictures, the model gives the
    rings; of other pictures (another count), the rings and shading are not offered, and a click still works."""
    import streamlit as st

    st.cache_data.clear()
    digits = vae.load_dataset("digits")
    shutil.copy2(model_folder / f"{MODEL_2D}.pt", tmp_path / f"{MODEL_2D}.pt")
    model = vae.load_model(tmp_path / f"{MODEL_2D}.pt")
    means, logvars = model.encode(digits.test_images)
    labels = digits.test_labels
    if count == "other":
        means, labels = np.random.default_rng(0).normal(size=(len(labels) + 50, 2)), np.arange(len(labels) + 50) % 10
    vae.write_test_codes(tmp_path / f"{MODEL_2D}.pt", vae.TestCodes(np.asarray(means, np.float32), labels, tuple(DIGITS),
                                                                    "digits"), vae.dataset_version("digits"))
    app = app_reading(tmp_path, monkeypatch)
    app.run()
    if count == "all":
        app.checkbox(key=research.ELLIPSES_KEY).check().run()
        assert_clean(app)
        assert_same_ellipses(sent_ellipses(map_json(app)), expected_ellipses(means, logvars, np.eye(2)))
        return
    assert research.NO_UNCERTAINTY in page_text(app)
    assert research.ELLIPSES_KEY not in [box.key for box in app.checkbox]  # no switch for what cannot be drawn
    map_click(app, 0.5, 0.5)
    assert_clean(app)
    assert "z1 = 0.500, z2 = 0.500" in page_text(app)
    map_click(app, *means[len(digits.test_labels) + 10], index=len(digits.test_labels) + 10)  # not a test picture
    assert [error.value.replace("\\", "") for error in app.error] == [
        f"The map's saved codes are not of this model's {len(digits.test_labels):,} test pictures, so test picture "
        f"#{len(digits.test_labels) + 10} cannot be shown. Run `python -m vae codes` on the model to make them again."]
    assert not {"ellipses", "picked_ellipse", "density"} & set(map_json(app))
