"""AppTest of the Train, Generate and Reconstructions pages: controls, a real training run, messages."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import vae.data
from vae.checkpoints import save_checkpoint
from vae.config import ModelConfig
from vae.data import load_dataset
from vae import metrics
from vae.models import build_model

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TRAIN_TIMEOUT_S = 40


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """Untrained digits models with 2-D and 20-D codes, and a 1-D one that names no dataset."""
    folder = tmp_path_factory.mktemp("checkpoints")
    digits = load_dataset("digits")
    for name, latent, dataset in (("flat", 2, "digits"), ("wide", 20, "digits"), ("line", 1, "")):
        model = build_model(ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=latent, hidden_sizes=(32,)), seed=0)
        save_checkpoint(folder / f"{name}.pt", model, dataset=dataset, class_names=digits.class_names,
                        metrics={"test_elbo": metrics.test_elbo(model, digits.test_images)})
    return folder


def open_page(monkeypatch, folder: Path, page: str, model: str | None = None) -> AppTest:
    """The app with its checkpoint folder at ``folder``, switched to ``page``."""
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))  # _shared.checkpoint_dir() reads it on every call
    app = AppTest.from_file(APP, default_timeout=30)
    if model:
        app.session_state["model_name"] = model
    app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def texts(elements) -> str:
    """All values of some message elements, joined."""
    return " | ".join(str(element.value) for element in elements)


def download_buttons(app: AppTest) -> list:
    return app.get("download_button")


def images(app: AppTest) -> list:
    return app.get("image")


# --------------------------------------------------------------------------- Train


def test_train_page_runs_digits_for_one_epoch_and_offers_the_model(monkeypatch, tmp_path):
    app = open_page(monkeypatch, tmp_path, "pages/train.py")
    app.selectbox(key="train_dataset").select("digits").run()
    app.selectbox(key="train_model").select("tiny-mlp").run()
    assert app.number_input(key="train_latent").value == 4  # follows the preset
    assert app.text_input(key="train_name").value == "digits-tiny-mlp"  # suggested name follows the choices
    app.number_input(key="train_epochs").set_value(1)
    app.text_input(key="train_name").input("My digits!").run()
    assert "my-digits.pt" in texts(app.caption).lower() or "My-digits.pt" in texts(app.caption)
    app.button(key="train_start").click().run()
    assert not app.exception, [e.value for e in app.exception]
    job_id = app.session_state["train_job_id"]
    assert isinstance(job_id, str)

    deadline = time.monotonic() + TRAIN_TIMEOUT_S
    while not app.success and time.monotonic() < deadline:
        time.sleep(0.3)
        app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert "Training finished after 1 epochs" in texts(app.success), texts(app.error)
    assert (tmp_path / "My-digits.pt").is_file()
    assert app.text_input(key="train_name").value == "My-digits-2"  # moved on, so no "already exists" warning
    assert not app.warning
    fresh = AppTest.from_file(APP, default_timeout=30).run()  # the sidebar lists the new model
    assert "My-digits" in fresh.sidebar.selectbox(key="sidebar_model").options
    assert not app.button(key="train_start").disabled
    app.button(key="train_explore").click().run()
    assert app.session_state["model_name"] == "My-digits"


def test_train_page_stop_button_stops_the_run(monkeypatch, tmp_path):
    app = open_page(monkeypatch, tmp_path, "pages/train.py")
    app.selectbox(key="train_dataset").select("digits").run()
    app.number_input(key="train_epochs").set_value(500)
    app.number_input(key="train_batch").set_value(64).run()
    app.button(key="train_start").click().run()
    assert app.button(key="train_start").disabled  # one run per session at a time
    app.button(key="train_stop").click().run()
    deadline = time.monotonic() + TRAIN_TIMEOUT_S
    while not (app.warning or app.error) and time.monotonic() < deadline:
        time.sleep(0.2)
        app.run()
    assert "stopped" in texts(app.warning) + texts(app.error)


def test_train_page_explains_bad_settings(monkeypatch, tmp_path):
    app = open_page(monkeypatch, tmp_path, "pages/train.py")
    app.selectbox(key="train_model").select("Custom").run()
    app.text_input(key="train_hidden").input("400, lots").run()
    assert "not whole numbers" in texts(app.error)
    assert app.button(key="train_start").disabled
    app.text_input(key="train_hidden").input("256,128").run()
    assert not app.error and not app.button(key="train_start").disabled
    app.selectbox(key="train_kind").select("conv").run()
    app.text_input(key="train_channels").input("0").run()
    assert "between 1 and 4096" in texts(app.error)
    app.text_input(key="train_channels").input("16").run()
    app.text_input(key="train_name").input("???").run()
    assert "at least one letter or digit" in texts(app.error)
    assert app.button(key="train_start").disabled


def test_train_page_suggests_a_free_name(monkeypatch, tmp_path):
    (tmp_path / "mnist-5k-classic-mlp.pt").write_bytes(b"taken")
    app = open_page(monkeypatch, tmp_path, "pages/train.py")
    assert app.text_input(key="train_name").value == "mnist-5k-classic-mlp-2"
    assert not app.warning


def test_train_page_asks_before_replacing_a_model(monkeypatch, model_folder):
    app = open_page(monkeypatch, model_folder, "pages/train.py")
    app.text_input(key="train_name").input("flat").run()
    assert "already exists" in texts(app.warning)
    assert app.checkbox(key="train_overwrite").value is False


def test_train_page_shows_the_offline_message_for_download_sets(monkeypatch, tmp_path):
    real = vae.data.load_torchvision
    monkeypatch.setattr(vae.data, "load_torchvision", lambda name, root, download: real(name, root, False))
    monkeypatch.setenv("VAE_DATA_ROOT", str(tmp_path / "data"))
    app = open_page(monkeypatch, tmp_path, "pages/train.py")
    app.selectbox(key="train_dataset").select("fashion-mnist").run()
    assert not app.exception
    assert "offline" in texts(app.error) and "mnist-5k" in texts(app.error)
    assert app.button(key="train_start").disabled


# --------------------------------------------------------------------------- Generate


def test_generate_page_for_a_2d_model(monkeypatch, model_folder):
    app = open_page(monkeypatch, model_folder, "pages/generate.py", model="flat")
    assert len(images(app)) == 3 and len(download_buttons(app)) == 3
    assert not app.radio  # a 2-D model is its own plane
    app.slider(key="gen_side").set_value(5)
    app.slider(key="gen_temperature").set_value(0.5)
    app.slider(key="gen_map_range").set_value(2.0)
    app.number_input(key="gen_seed").set_value(7).run()
    assert not app.exception and not app.error
    assert len(images(app)) == 3


def test_generate_page_for_a_20d_model_explains_the_slice(monkeypatch, model_folder):
    app = open_page(monkeypatch, model_folder, "pages/generate.py", model="wide")
    assert "20 numbers" in texts(app.caption)
    assert len(app.multiselect(key="gen_traverse_dims").value) == 16
    app.radio(key="gen_plane").set_value("dims").run()
    assert "z1 and z2" in texts(app.caption)
    app.multiselect(key="gen_traverse_dims").set_value([0, 19]).run()
    assert not app.exception and not app.error and len(download_buttons(app)) == 3


def test_generate_page_for_a_1d_model_without_dataset(monkeypatch, model_folder):
    app = open_page(monkeypatch, model_folder, "pages/generate.py", model="line")
    assert "single number" in texts(app.caption)
    assert len(images(app)) == 3 and not app.error and not app.multiselect


# --------------------------------------------------------------------------- Reconstructions


def test_reconstructions_page_shows_pairs_and_metrics(monkeypatch, model_folder):
    app = open_page(monkeypatch, model_folder, "pages/reconstructions.py", model="flat")
    assert len(images(app)) == 12
    assert "error" in images(app)[0].captions[0].lower()
    app.slider(key="recon_count").set_value(4)
    app.selectbox(key="recon_class").select(3).run()
    assert not app.exception and len(images(app)) == 4
    assert len(download_buttons(app)) == 1 and not app.metric
    app.button(key="recon_metrics_button").click().run()
    assert not app.exception and not app.error
    labels = [metric.label for metric in app.metric]
    assert labels == ["Test ELBO", "NLL estimate", "kNN accuracy", "Active units"]
    assert app.metric[3].value.endswith("of 2")
    app.run()  # the numbers stay on screen for this model without clicking again
    assert len(app.metric) == 4


def test_reconstructions_page_explains_a_model_without_dataset(monkeypatch, model_folder):
    app = open_page(monkeypatch, model_folder, "pages/reconstructions.py", model="line")
    assert "does not say which images" in texts(app.error)
    assert not images(app)
    app.button(key="recon_metrics_button").click().run()
    assert not app.exception and "does not say which images" in texts(app.error)
