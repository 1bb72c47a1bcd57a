"""The Latent space page and saved test-image codes: written on the first encode, read back, and a map without torch."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import vae
from conftest import APP, app_reading, decode_map, latent_map
from vae.config import ModelConfig
from vae.models import build_model

ROOT = Path(__file__).resolve().parent.parent
MODEL = "digits-mlp-2d"
DIGITS = [str(digit) for digit in range(10)]


@pytest.fixture
def folder(tmp_path) -> Path:
    """A checkpoint folder with one untrained 2-D model of the offline 8x8 digits, and no saved codes."""
    config = ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=2, hidden_sizes=(16,))
    vae.save_checkpoint(tmp_path / f"{MODEL}.pt", build_model(config, seed=0), dataset="digits", class_names=DIGITS)
    return tmp_path


@pytest.fixture
def fresh_app(folder, monkeypatch, navigation_mode) -> AppTest:
    """The app reading ``folder``, with every cache emptied (the caches live as long as the test process)."""
    st.cache_data.clear()
    st.cache_resource.clear()
    return app_reading(folder, monkeypatch)


def map_points(at: AppTest) -> np.ndarray:
    """The test images' positions on the map: (N, 2), as the map component was sent them."""
    return latent_map(at)["points"]


@pytest.mark.slow
def test_first_view_saves_the_codes_beside_the_checkpoint(fresh_app, folder):
    fresh_app.run()
    assert not fresh_app.exception
    checkpoint = folder / f"{MODEL}.pt"
    saved = vae.read_test_codes(checkpoint, vae.dataset_version("digits"))
    assert saved is not None
    model = vae.load_model(checkpoint)
    digits = vae.load_dataset("digits")
    np.testing.assert_allclose(saved.means, model.encode(digits.test_images)[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(saved.labels, digits.test_labels)
    assert len(map_points(fresh_app)) == len(digits.test_labels)


@pytest.mark.slow
def test_the_map_is_drawn_from_the_saved_codes(fresh_app, folder):
    checkpoint = folder / f"{MODEL}.pt"
    digits = vae.load_dataset("digits")
    # Codes far from anything the untrained model makes: the map can only show them if it reads the file.
    moved = np.tile(np.array([[40.0, -30.0]], np.float32), (len(digits.test_labels), 1))
    vae.write_test_codes(checkpoint, vae.TestCodes(moved, digits.test_labels, tuple(DIGITS), "digits"),
                         vae.dataset_version("digits"))
    fresh_app.run()
    assert not fresh_app.exception
    np.testing.assert_allclose(map_points(fresh_app), moved)


@pytest.mark.slow
def test_stale_codes_are_made_again(fresh_app, folder):
    checkpoint = folder / f"{MODEL}.pt"
    digits = vae.load_dataset("digits")
    moved = np.full((len(digits.test_labels), 2), 40.0, np.float32)
    vae.write_test_codes(checkpoint, vae.TestCodes(moved, digits.test_labels, tuple(DIGITS), "digits"),
                         "another version of the images")
    fresh_app.run()
    assert not fresh_app.exception
    assert np.abs(map_points(fresh_app)).max() < 40.0  # encoded afresh, not the stale file
    assert vae.read_test_codes(checkpoint, vae.dataset_version("digits")) is not None  # and saved again


NO_TORCH_SCRIPT = """
import importlib.abc, json, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, NoTorch())
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

original = PagesManager.__init__
def init(self, *args, **kwargs):
    original(self, *args, **kwargs)
    PagesManager.uses_pages_directory = False
PagesManager.__init__ = init

at = AppTest.from_file(sys.argv[1], default_timeout=120).run()
maps = [item for item in at.get("bidi_component") if item.proto.component_name == "vae_explorer.latent_map"]
print(json.dumps({
    "torch_imported": "torch" in sys.modules,
    "exceptions": [item.value for item in at.exception],
    "errors": [item.value for item in at.error],
    "maps": len(maps),
    "map": maps[0].proto.json if maps else None,
    "captions": [item.value for item in at.caption],
    "images": len(at.get("image")),
}))
"""


@pytest.mark.slow
def test_a_first_view_draws_the_map_without_torch(folder, tmp_path):
    """With torch impossible to import, the first view still shows the map from saved codes and says the model loads."""
    checkpoint = folder / f"{MODEL}.pt"
    digits = vae.load_dataset("digits")
    codes = vae.encode_test_codes(vae.load_model(checkpoint), digits.test_images, digits.test_labels,
                                  tuple(DIGITS), "digits")
    vae.write_test_codes(checkpoint, codes, vae.dataset_version("digits"))
    script = tmp_path / "no_torch.py"
    script.write_text(NO_TORCH_SCRIPT)
    env = {"VAE_CHECKPOINT_DIR": str(folder), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, str(script), APP], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert not result["torch_imported"]
    assert result["exceptions"] == [] and result["errors"] == []
    assert result["maps"] == 1 and result["images"] == 0  # the map, and no decoded picture yet
    assert any("Loading the model" in caption for caption in result["captions"])
    np.testing.assert_allclose(decode_map(json.loads(result["map"]))["points"], codes.means)


@pytest.mark.slow
def test_a_large_test_set_is_encoded_once_with_a_progress_bar(fresh_app, folder, monkeypatch):
    from streamlit.delta_generator import DeltaGenerator

    from pages.common import planes

    monkeypatch.setattr(planes, "PROGRESS_MIN_IMAGES", 100)  # digits' 359 test images count as a large set here
    planes.clear_caches()
    shown = []
    new_bar, update = st.progress, DeltaGenerator.progress

    def recording_new_bar(value, text=None, **kwargs):
        shown.append((value, text))
        return new_bar(value, text=text, **kwargs)

    def recording_update(self, value, text=None, **kwargs):
        shown.append((value, text))
        return update(self, value, text=text, **kwargs)

    monkeypatch.setattr(st, "progress", recording_new_bar)
    monkeypatch.setattr(DeltaGenerator, "progress", recording_update)
    fresh_app.run()
    assert not fresh_app.exception
    assert [value for value, _ in shown] == [0.0, 1.0]  # one batch of vae.io.codes.ENCODE_BATCH_IMAGES
    assert all(text == "Encoding the 359 test images for the map…" for _, text in shown)
    assert not fresh_app.get("progress")  # the bar is gone once the map is there
    assert vae.read_test_codes(folder / f"{MODEL}.pt", vae.dataset_version("digits")) is not None
    assert len(map_points(fresh_app)) == 359
    shown.clear()
    app_reading(folder, monkeypatch).run()  # another visit: the codes are read back, nothing is encoded
    assert shown == []


def test_encoding_reports_the_fraction_done_after_each_batch(tmp_path):
    class Encoder:
        image_dims = (8, 8)  # the Encoder protocol: (H, W) grey

        def encode(self, images):
            seen.append(len(images))
            return images.reshape(len(images), -1)[:, :2] * 2, None

    seen, fractions = [], []
    images = np.random.default_rng(0).random((10_000, 8, 8), dtype=np.float32)
    codes = vae.encode_test_codes(Encoder(), images, np.zeros(10_000), ("all",), "x", progress=fractions.append)
    assert seen == [4096, 4096, 1808] and fractions == [0.4096, 0.8192, 1.0]
    np.testing.assert_array_equal(codes.means, images.reshape(10_000, -1)[:, :2] * 2)
