"""AppTest of pictures and downloads on every page, Reconstructions' hardest first, and Interpolate's map events."""
from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

import vae
from conftest import APP, TIMEOUT, assert_clean, map_event, map_json, open_page
from pages.common import shell
from vae.config import ModelConfig
from vae.data import load_dataset
from vae.models import build_model

MODEL = "digits-mlp-2d"
DIGITS = [str(digit) for digit in range(10)]
PICTURE_DOWNLOADS = {  # page -> keys of its download buttons that carry a picture
    "explore": {"explore_download"},
    "interpolate": {"interp_download_png", "interp_download_gif"},
    "generate": {"gen_samples_download", "gen_map_download", "gen_walk_download", "gen_traverse_download"},
    "reconstructions": {"recon_download"},
}
PAGES = [Path(spec.path).stem for spec in shell.PAGES]
pytestmark = pytest.mark.usefixtures("navigation_mode")  # app.py runs on every rerun, as on the live server


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """One untrained, seeded MLP with 2-D codes for the offline 8x8 digits."""
    folder = tmp_path_factory.mktemp("checkpoints")
    config = ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=2, hidden_sizes=(32,))
    vae.save_checkpoint(folder / f"{MODEL}.pt", build_model(config, seed=0), dataset="digits", class_names=DIGITS,
                        metrics={"test_elbo": -50.0})
    return folder


def button_key(button) -> str:
    """The key= of a download button (its element id ends with it)."""
    return button.proto.id.rsplit("-", 1)[-1]


def decode(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def visit_with_pictures(at: AppTest, page: str) -> AppTest:
    """Open a page in a state that shows all its pictures (the Latent space page: after a click on a test image)."""
    open_page(at, page)
    if page == "explore":
        map_event(at, "click", {"x": 0.0, "y": 0.0, "index": 3})
        assert_clean(at)
    return at


# ------------------------------------------------------------------ pictures for slides and screens


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_picture_download_is_a_png_or_gif_of_at_least_1024_px(app, media, page):
    visit_with_pictures(app, page)
    pictures = {}
    for button in app.get("download_button"):
        data, mimetype = media.download(button)
        if mimetype.startswith("image/"):
            pictures[button_key(button)] = (data, mimetype)
    assert set(pictures) == PICTURE_DOWNLOADS.get(page, set())
    for key, (data, mimetype) in pictures.items():
        picture = decode(data)
        assert picture.format == mimetype.split("/")[1].upper(), key
        assert max(picture.size) >= 1024, (key, picture.size)
        assert blocks_of(np.asarray(picture.convert("L"))) >= 2, key  # enlarged by whole pixels: square blocks


def blocks_of(grey: np.ndarray) -> int:
    """The largest k such that the picture is made of uniform k x k blocks (k divides both sides)."""
    for scale in range(min(grey.shape), 0, -1):
        if grey.shape[0] % scale or grey.shape[1] % scale:
            continue
        corners = grey[::scale, ::scale]
        if np.array_equal(corners.repeat(scale, axis=0).repeat(scale, axis=1), grey):
            return scale
    return 1


@pytest.mark.slow
@pytest.mark.parametrize("page", ["explore", "interpolate", "generate", "reconstructions"])
def test_pictures_on_screen_are_png_shown_at_their_own_width(app, media, page):
    visit_with_pictures(app, page)
    shown = [img for element in app.get("image") for img in element.proto.imgs]
    assert shown, "the page shows no picture"
    for img in shown:
        data, mimetype, width = media.image(img)
        picture = decode(data)
        assert mimetype == "image/png" and picture.format == "PNG", (img.caption, mimetype)
        assert width == picture.size[0], (img.caption, width, picture.size)  # shown 1:1, nothing resamples it
        assert blocks_of(np.asarray(picture.convert("L"))) >= 2, img.caption  # enlarged by whole pixels


# ------------------------------------------------------------------ Reconstructions: hardest first


def errors_one_by_one(model_folder: Path) -> np.ndarray:
    """Each digits test image's mean squared pixel error, computed image by image with the torch module."""
    module = vae.load_model(model_folder / f"{MODEL}.pt").module
    errors = []
    with torch.no_grad():
        for image in load_dataset("digits").test_images:
            mu, _ = module.encode(torch.from_numpy(image[None]))
            redrawn = module.decode(mu)[0].numpy()
            errors.append(float(np.mean((redrawn.astype(np.float64) - image) ** 2)))
    return np.array(errors)


def shown_indices(at: AppTest) -> list[int]:
    """The test image numbers of the pairs shown, in order (captions "Picture 12: error 0.0123")."""
    return [int(img.caption.split(":")[0].split()[-1]) for element in at.get("image") for img in element.proto.imgs]


@pytest.mark.slow
def test_hardest_first_orders_by_each_images_error(app, model_folder):
    expected = np.argsort(-errors_one_by_one(model_folder), kind="stable")
    app.query_params["order"] = "hardest"
    open_page(app, "reconstructions")
    assert app.radio(key="recon_order").value == "hardest"
    assert shown_indices(app) == expected[:12].tolist()
    app.slider(key="recon_count").set_value(20).run()
    assert shown_indices(app) == expected[:20].tolist()
    labels = load_dataset("digits").test_labels
    app.selectbox(key="recon_class").set_value(7).run()
    assert_clean(app)
    assert shown_indices(app) == [int(i) for i in expected if labels[i] == 7][:20]


@pytest.mark.slow
def test_random_pick_is_the_default_and_leaves_the_link(app):
    open_page(app, "reconstructions")
    assert app.radio(key="recon_order").value == "random"
    random_pick = shown_indices(app)
    assert random_pick == sorted(random_pick)
    app.radio(key="recon_order").set_value("hardest").run()
    assert app.query_params.get("order") == "hardest"  # the link now opens the same view
    app.radio(key="recon_order").set_value("random").run()
    assert "order" not in app.query_params and shown_indices(app) == random_pick


@pytest.mark.slow
def test_start_page_links_to_the_hardest_reconstructions(app, model_folder):
    open_page(app, "home")
    links = [link.proto for link in app.get("page_link") if "reconstructions" in link.proto.page.lower()]
    assert len(links) == 1 and "hardest" in links[0].label.lower()
    follow = AppTest.from_file(APP, default_timeout=TIMEOUT)  # a new visitor following the link
    for name, value in [part.split("=", 1) for part in links[0].query_string.split("&")]:
        follow.query_params[name] = value
    open_page(follow, "reconstructions")
    assert follow.radio(key="recon_order").value == "hardest"
    assert shown_indices(follow) == np.argsort(-errors_one_by_one(model_folder), kind="stable")[:12].tolist()


# ------------------------------------------------------------------ Interpolate: the map's events


def plane_ranges(at: AppTest) -> tuple[list[float], list[float]]:
    """The x and y ranges of Interpolate's map, as sent to the browser."""
    data = map_json(at)
    return data["x_range"], data["y_range"]


def spot_click(x: object, y: object) -> dict:
    return {"x": x, "y": y, "index": None}


def dot_click(index: object) -> dict:
    return {"x": 0.0, "y": 0.0, "index": index}


BAD_EVENTS = {  # what a tampered browser could send as the map's "click"
    "x missing": {"y": 0.0, "index": None},
    "x None": spot_click(None, 0.0),
    "x a string": spot_click("0.5", 0.0),
    "y a bool": spot_click(0.0, True),
    "x NaN": spot_click(math.nan, 0.0),
    "y inf": spot_click(0.0, math.inf),
    "x -inf": spot_click(-math.inf, 0.0),
    "x huge": spot_click(1e300, 0.0),
    "y off the map": spot_click(0.0, 1e4),
    "x a list": spot_click([0.1, 0.2], 0.0),
    "image number too large": dot_click(10**9),
    "image number negative": dot_click(-1),
    "image number a string": dot_click("3"),
    "image number a bool": dot_click(True),
    "image number inf": dot_click(math.inf),
    "image number NaN": dot_click(math.nan),
    "image number a fraction": dot_click(1.5),
    "image number a list": dot_click([3]),
    "not an object": [0.0, 0.0],
    "a string": "click",
    "nothing": None,
    "empty": {},
}


def open_interpolate(at: AppTest) -> tuple[dict, dict]:
    """Open Interpolate; returns the ends and the link as they are before any click."""
    open_page(at, "interpolate")
    return dict(at.session_state["interp_ends"]), dict(at.query_params)


def assert_clean_link(at: AppTest) -> None:
    text = json.dumps(at.query_params).lower()
    assert "nan" not in text and "inf" not in text, text


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BAD_EVENTS))
def test_a_bad_map_event_on_interpolate_changes_nothing(app, name):
    ends, link = open_interpolate(app)
    map_event(app, "click", BAD_EVENTS[name])
    assert_clean(app)
    assert not app.error
    assert app.session_state["interp_ends"] == ends
    assert dict(app.query_params) == link
    assert_clean_link(app)


@pytest.mark.slow
def test_good_map_events_on_interpolate_still_set_the_ends(app):
    """The counterpart of the test above: real clicks, at the map's corners too, do set A and then B."""
    ends, _ = open_interpolate(app)
    (x_low, x_high), (y_low, y_high) = plane_ranges(app)
    map_event(app, "click", spot_click(float(np.float32(x_low)), float(np.float32(y_high))))  # positions are float32
    assert_clean(app)
    after_a = app.session_state["interp_ends"]
    assert after_a["a"] != ends["a"] and after_a["next"] == "b"
    assert app.query_params["za"] == f"{np.float32(x_low):.4f},{np.float32(y_high):.4f}"
    map_event(app, "click", dot_click(25))  # a dot
    assert_clean(app)
    assert app.session_state["interp_ends"]["b"] == {"index": 25} and app.query_params["b"] == "25"
    map_event(app, "click", dot_click(3.0))  # a whole number sent as a float
    assert app.session_state["interp_ends"]["a"] == {"index": 3}
    assert_clean_link(app)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the page draws the NaN point as it can
def test_a_point_that_is_not_finite_never_enters_the_link(app):
    ends, _ = open_interpolate(app)
    app.session_state["interp_ends"] = {**ends, "a": {"z": [math.nan, 0.0]}, "b": {"z": [0.5, math.inf]}}
    app.run()
    assert_clean(app)
    assert not {"a", "b", "za", "zb"} & set(app.query_params)
    assert_clean_link(app)
