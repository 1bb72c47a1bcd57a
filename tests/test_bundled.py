"""The bundled checkpoints in checkpoints/: the app lists them, the colour one is small and colour, each one's map
codes and time-lapse belong to the file as it is now (rebuilt by checkpoints/rebuild.sh)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import vae
from conftest import app_reading, open_page
from pages.common import shell, timelapse_view

BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints"
COLOUR = "shapes32-conv-rgb"
DEFAULT = "mnist5k-conv-2d"  # the model the app opens on (pages/common/model_access.py)
GREY = ("mnist5k-conv-2d", "mnist5k-mlp-2d", "mnist5k-mlp-16d")
MAX_BUNDLED_BYTES = 5 * 1000 * 1000  # issue 17: the colour checkpoint stays under 5 MB
REBUILD_EPOCHS = {DEFAULT: 30, COLOUR: 40}  # the --epochs of their lines in rebuild.sh
PAGES = [Path(spec.path).stem for spec in shell.PAGES]


def test_the_app_lists_every_bundled_model_the_colour_one_included():
    listed = {info.name: info for info in vae.scan_checkpoints(BUNDLED)}
    assert {*GREY, COLOUR} <= set(listed)
    assert all(not listed[name].problem for name in (*GREY, COLOUR)), {n: i.problem for n, i in listed.items()}
    assert listed[COLOUR].dataset == "shapes-32" and listed[COLOUR].size_bytes < MAX_BUNDLED_BYTES


@pytest.mark.slow
def test_the_bundled_colour_checkpoint_loads_small_and_in_colour():
    path = BUNDLED / f"{COLOUR}.pt"
    assert path.stat().st_size < MAX_BUNDLED_BYTES
    model = vae.load_model(path)
    assert model.channels == 3 and model.image_dims == (32, 32, 3) and model.latent_dim == 10
    pictures = model.decode(np.random.default_rng(0).standard_normal((4, model.latent_dim)))
    assert pictures.shape == (4, 32, 32, 3)
    spread = np.abs(pictures[..., 0] - pictures[..., 1]) + np.abs(pictures[..., 1] - pictures[..., 2])
    assert spread.max() > 0.1  # red, green and blue differ somewhere: colour, not grey written three times


@pytest.mark.parametrize("name", [*GREY, COLOUR])
def test_each_bundled_models_map_codes_are_current(name):
    """The codes file records the checkpoint's SHA-256 and the dataset's version: a stale one reads as None."""
    dataset = vae.read_info(BUNDLED / f"{name}.pt").dataset
    codes = vae.read_test_codes(BUNDLED / f"{name}.pt", vae.dataset_version(dataset))
    assert codes is not None, f"{name}.codes.npz is missing or stale: run `python -m vae codes checkpoints/{name}.pt`"
    assert codes.dataset == dataset and np.isfinite(codes.means).all()


@pytest.mark.parametrize("name", [DEFAULT, COLOUR])
def test_the_default_and_the_colour_model_have_their_timelapse(name):
    """A new user sees the time-lapse on the model the app opens on; its last frame is the map's own codes."""
    timelapse = vae.read_timelapse(BUNDLED / f"{name}.pt")  # None when missing, damaged or of another checkpoint
    assert timelapse is not None, f"run the line of {name} in checkpoints/rebuild.sh"
    assert timelapse.epochs[0] == 1 and timelapse.epochs[-1] == REBUILD_EPOCHS[name]
    codes = vae.read_test_codes(BUNDLED / f"{name}.pt", vae.dataset_version(timelapse.dataset))
    first = codes.means[timelapse.indices]  # the time-lapse keeps the first test images, the map all of them
    assert timelapse.codes is not None
    np.testing.assert_allclose(timelapse.codes[-1], first, atol=2e-3 * max(1.0, float(np.abs(first).max())))


@pytest.fixture(scope="module")
def bundled_copy(tmp_path_factory) -> Path:
    """A copy of the bundled files (the app may write beside a model; checkpoints/ stays as rebuilt)."""
    folder = tmp_path_factory.mktemp("bundled")
    for path in BUNDLED.glob("*.npz"):
        shutil.copy2(path, folder / path.name)
    for path in BUNDLED.glob("*.pt"):
        shutil.copy2(path, folder / path.name)
    return folder


def players(at) -> list:
    return [element for element in at.get("bidi_component")
            if element.proto.component_name == timelapse_view.COMPONENT_NAME]


@pytest.mark.slow
@pytest.mark.usefixtures("navigation_mode")
@pytest.mark.parametrize("page", PAGES)
def test_every_page_works_on_the_bundled_colour_model(bundled_copy, monkeypatch, page):
    """The real shapes-32 set (drawn under the data root on first use) and the bundled colour model, every page."""
    at = app_reading(bundled_copy, monkeypatch)
    open_page(at, page, COLOUR)
    assert not at.error, [error.value for error in at.error]
    assert at.session_state["model_name"] == COLOUR


@pytest.mark.slow
@pytest.mark.usefixtures("navigation_mode")
@pytest.mark.parametrize("name", [DEFAULT, COLOUR])
def test_the_latent_space_page_plays_the_bundled_timelapse(bundled_copy, monkeypatch, name):
    at = app_reading(bundled_copy, monkeypatch)
    open_page(at, "explore", name)
    (player,) = players(at)
    assert json.loads(player.proto.json)["epochs"][-1] == REBUILD_EPOCHS[name]
