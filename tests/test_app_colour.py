"""AppTest: every page on a colour model of the shapes (pictures, downloads, the map's background, MIG and a strip
per factor), and the Train page's choice to turn colour pictures grey."""
from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vae
from conftest import app_reading, assert_clean, latent_map, map_event, open_page, spread_codes
from pages.common import datasets, shell
from vae.analysis.disentanglement import factor_traversals, mig
from vae.config import ModelConfig
from vae.data import SHAPES_SETS
from vae.data.shapes import FACTOR_NAMES, SHAPE_NAMES
from vae.models import build_model
from vae.training import jobs

MODEL = "shapes-colour"
SMALL_SET = (32, 600)  # the tests' shapes-32: 600 images of 32x32 (about 120 test images)
PAGES = [Path(spec.path).stem for spec in shell.PAGES]
PICTURE_PAGES = ["explore", "interpolate", "generate", "reconstructions"]
TRAIN_TIMEOUT_S = 120
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("navigation_mode", "small_shapes")]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def small_shapes(monkeypatch, data_root):
    """shapes-32 made small, in this module's data root; the app's dataset cache forgets it before and after."""
    monkeypatch.setitem(SHAPES_SETS, "shapes-32", SMALL_SET)
    monkeypatch.setenv("VAE_DATA_ROOT", str(data_root))
    datasets.load_dataset.clear()
    yield
    datasets.load_dataset.clear()


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, data_root) -> Path:
    """One untrained, seeded colour conv model of shapes-32 with 4-D codes, spread like a trained one's."""
    folder = tmp_path_factory.mktemp("checkpoints")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(SHAPES_SETS, "shapes-32", SMALL_SET)
        shapes = vae.data.load_dataset("shapes-32", root=data_root)
        config = ModelConfig(kind="conv", image_shape=(32, 32), channels=3, latent_dim=4, conv_channels=(8, 16),
                             conv_hidden=16)
        model = spread_codes(build_model(config, seed=0), shapes.test_images)
        vae.save_checkpoint(folder / f"{MODEL}.pt", model, dataset="shapes-32", class_names=SHAPE_NAMES,
                            metrics={"test_elbo": -900.0})
    return folder


def decode_png(data: bytes) -> np.ndarray:
    picture = Image.open(io.BytesIO(data))
    assert picture.format in ("PNG", "GIF")
    return np.asarray(picture.convert("RGB")).astype(int)


def is_coloured(rgb: np.ndarray) -> bool:
    """Some pixel's red, green and blue differ: a colour picture, not a grey one stored as RGB."""
    return bool((np.abs(rgb[..., 0] - rgb[..., 1]) + np.abs(rgb[..., 1] - rgb[..., 2]) > 30).any())


def shown_pictures(at, media, mode: str = "RGB") -> dict[str, np.ndarray]:
    """caption -> the picture's pixels, for every st.image on the page (each a PNG of ``mode``)."""
    pictures = {}
    for element in at.get("image"):
        for img in element.proto.imgs:
            data, mimetype, _ = media.image(img)
            assert mimetype == "image/png", img.caption
            assert Image.open(io.BytesIO(data)).mode == mode, img.caption
            pictures[img.caption or f"picture {len(pictures)}"] = decode_png(data)
    return pictures


def visit(at, page: str):
    open_page(at, page, MODEL)
    if page == "explore":
        map_event(at, "click", {"x": 0.0, "y": 0.0, "index": 2})
        assert_clean(at)
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_works_on_a_colour_model(app, media, page):
    visit(app, page)
    assert not app.error, [error.value for error in app.error]
    if page in PICTURE_PAGES:
        pictures = shown_pictures(app, media)
        assert pictures and all(is_coloured(picture) for picture in pictures.values() if picture.size > 3 * 400)


@pytest.mark.parametrize("page", PICTURE_PAGES)
def test_every_picture_download_of_a_colour_model_is_rgb_with_whole_pixel_blocks(app, media, page):
    visit(app, page)
    downloads = [media.download(button) for button in app.get("download_button")]
    pictures = [(data, mimetype) for data, mimetype in downloads if mimetype.startswith("image/")]
    assert pictures
    for data, mimetype in pictures:
        picture = Image.open(io.BytesIO(data))
        assert max(picture.size) >= 1024 and is_coloured(decode_png(data)), mimetype
        if mimetype == "image/png":
            assert picture.mode == "RGB"


def test_the_decoded_picture_downloads_with_the_models_exact_colours(app, media):
    visit(app, "explore")
    point = np.asarray(app.session_state["explore_point"]["z"], np.float32)
    (button,) = [b for b in app.get("download_button") if b.proto.id.endswith("explore_download")]
    rgb = decode_png(media.download(button)[0])
    expected = vae.images.to_uint8(vae.load_model(model_path()).decode(point[None])[0])  # (32, 32, 3)
    scale = rgb.shape[0] // 32
    assert rgb.shape == (32 * scale, 32 * scale, 3)
    np.testing.assert_array_equal(rgb, expected.repeat(scale, axis=0).repeat(scale, axis=1))


def test_the_maps_decoded_background_is_in_colour(app):
    visit(app, "explore")
    app.checkbox(key="explore_background").check().run()
    assert_clean(app)
    uri = latent_map(app)["background"]
    assert uri.startswith("data:image/png;base64,")
    assert is_coloured(decode_png(base64.b64decode(uri.split(",", 1)[1])))


def model_path() -> Path:
    return Path(os.environ["VAE_CHECKPOINT_DIR"]) / f"{MODEL}.pt"


def test_generate_shows_the_mig_and_one_strip_per_factor_named_by_it(app, media):
    visit(app, "generate")
    model = vae.load_model(model_path())
    dataset = vae.data.load_dataset("shapes-32")
    means, _ = model.encode(dataset.test_images)  # encoded here, apart from the app's saved codes
    (metric,) = [m for m in app.metric if m.label == "Disentanglement (MIG)"]
    assert metric.value == f"{mig(means, dataset.test_factors):.2f}"
    strips = {caption: picture for caption, picture in shown_pictures(app, media).items() if ": along z" in caption}
    expected = factor_traversals(means, dataset.test_factors, FACTOR_NAMES)
    assert [caption.split(" (")[0] for caption in strips] == [f"{t.factor_name}: along z{t.dim + 1}" for t in expected]
    assert all(picture.shape[1] > 8 * picture.shape[0] for picture in strips.values())  # 9 pictures in a row
    keys = {button.proto.id.rsplit("-", 1)[-1] for button in app.get("download_button")}
    assert "gen_factors_download" in keys


def test_generate_shows_no_factor_part_for_a_model_without_known_factors(monkeypatch, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    config = ModelConfig(image_shape=(8, 8), latent_dim=2, hidden_sizes=(8,))
    vae.save_checkpoint(folder / "digits.pt", build_model(config, seed=0), dataset="digits",
                        class_names=[str(d) for d in range(10)])
    at = open_page(app_reading(folder, monkeypatch), "generate", "digits")
    assert not at.error and not [m for m in at.metric if "MIG" in m.label]


def train_one_epoch(at) -> str:
    """Train tiny-mlp for one epoch on the chosen images; the saved model's name."""
    at.selectbox(key="train_model").set_value("tiny-mlp").run()
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_batch").set_value(64).run()
    at.button(key="train_start").click().run()
    assert_clean(at)
    job = jobs.get_job(at.session_state["train_job_id"])
    assert job is not None and job.wait(TRAIN_TIMEOUT_S), "the run did not end in time"
    at.run()
    assert "Training finished after 1 epochs" in " ".join(s.value for s in at.success), [e.value for e in at.error]
    return job.snapshot().saved_name


@pytest.mark.parametrize("grey", [False, True])
def test_the_train_page_keeps_colour_unless_told_to_turn_it_grey(app, media, grey, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(tmp_path))
    # The training process cannot see this module's small shapes set (a patch of this process): by name it would
    # draw and train on all 20,000. Handed over as a file, it trains on the very pictures the page shows.
    monkeypatch.setattr(jobs, "dataset_version", lambda name: "")
    open_page(app, "train")
    assert not app.get("checkbox") or "train_grayscale" not in {c.key for c in app.checkbox}  # mnist-5k is grey
    app.selectbox(key="train_dataset").set_value("shapes-32").run()
    assert "pixels in colour" in " ".join(c.value for c in app.caption)
    if grey:
        app.checkbox(key="train_grayscale").check().run()
        assert "pixels in colour" not in " ".join(c.value for c in app.caption)
    name = train_one_epoch(app)
    model = vae.load_model(tmp_path / f"{name}.pt")
    assert model.channels == (1 if grey else 3) and model.dataset == ("shapes-32:grey" if grey else "shapes-32")
    preview = [p for caption, p in shown_pictures(app, media, "L" if grey else "RGB").items() if "redrawn" in caption]
    assert preview and is_coloured(preview[0]) != grey  # the originals over their reconstructions
    open_page(app, "explore", name)
    assert not app.error and latent_map(app)["count"] > 0  # the map of the new model, on its own images
