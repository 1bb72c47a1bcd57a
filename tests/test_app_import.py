"""Issue 14 in the app: other programs' models through the Models page's import form; each recipe on the Train page."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import vae
from conftest import (APP, CLASSIC_DECODER, CLASSIC_ENCODER, TIMEOUT, FashionVAE, SigmaVAE, assert_clean,
                      assert_shown_as_text, keras_weights, latent_map, shown_text, write_keras3_weights)
from vae.presets import PRESETS, preset_beta
from vae.training import jobs
from vae.io.checkpoints import model_from_checkpoint
from vae.io.foreign import import_file
from vae.io.importers import SAVE_WEIGHTS_LINE, ImportChoices
from vae.analysis.latent import LatentModel

TOLERANCE = 1e-5  # an imported PyTorch model decodes and encodes as the original within this (issue 14)
KERAS_TOLERANCE = 1e-4
FORM_WIDGETS = ("import_heads", "import_spread", "import_size", "import_output", "import_dataset")
TRAIN_TIMEOUT_S = 120


def state_dict_bytes(module: torch.nn.Module, wrap: bool = False) -> bytes:
    """What torch.save writes for the module's weights; ``wrap``: inside a training checkpoint's dict."""
    weights = module.state_dict()
    payload = {"epoch": 3, "model_state_dict": weights, "optimizer_state_dict": {"state": {}, "param_groups": []},
               "loss": 101.5} if wrap else weights
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def reference(cls) -> torch.nn.Module:
    torch.manual_seed(0)
    return cls().eval()


@pytest.fixture
def models_page(tmp_path, monkeypatch) -> AppTest:
    """The Models page with an empty models folder and a data folder of this test's own (no downloaded sets)."""
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("VAE_DATA_ROOT", str(tmp_path / "data"))
    (tmp_path / "models").mkdir()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    return at.switch_page("pages/models.py").run()


def upload(at: AppTest, file_name: str, data: bytes) -> AppTest:
    at.file_uploader(key="models_upload").set_value((file_name, data, "application/octet-stream")).run()
    assert_clean(at)
    return at


def import_with(at: AppTest, dataset: str | None, **answers) -> AppTest:
    """Change some answers, choose the dataset and press Import model (a form: all sent with the press)."""
    for key, value in answers.items():
        at.selectbox(key=f"import_{key}").set_value(value)
    if dataset is not None:
        at.selectbox(key="import_dataset").set_value(dataset)
    at.button(key="import_confirm").click().run()
    assert_clean(at)
    return at


def preselected(at: AppTest) -> dict:
    return {key: at.selectbox(key=key).value for key in FORM_WIDGETS} | {
        "normalize": (at.number_input(key="import_normalize_mean").value,
                      at.number_input(key="import_normalize_std").value)}


def saved_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def assert_matches(model: LatentModel, original: torch.nn.Module, latent: int) -> None:
    """Decode and encode (means and log-variances) as the original module did, on the same inputs."""
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(16, latent, generator=generator) * 2
    images = torch.rand(8, 28, 28, generator=generator)
    with torch.no_grad():
        expected_images = original.decode(z).view(-1, 28, 28).numpy()
        expected_mu, expected_logvar = original.encode(images.view(8, -1))
    np.testing.assert_allclose(model.decode(z.numpy()), expected_images, rtol=0, atol=TOLERANCE)
    mu, logvar = model.encode(images.numpy())
    np.testing.assert_allclose(mu, expected_mu.numpy(), rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(logvar, expected_logvar.numpy(), rtol=0, atol=TOLERANCE)


def store_images(tmp_path: Path, name: str, **extra: np.ndarray) -> None:
    """40 random 28x28 images in 2 classes, stored as the user's upload ``name`` (in $VAE_DATA_ROOT)."""
    images = (np.random.default_rng(0).random((40, 28, 28)) * 255).astype(np.uint8)
    source = tmp_path / f"{name}.npz"
    np.savez(source, images=images, labels=np.arange(40) % 2, **extra)
    vae.data.save_user_dataset(source, name)


# ------------------------------------------------------------------ PyTorch files through the form


DETECTED = {"heads": ("fc2m", "fc2s"), "spread": "log-var", "size": (28, 28), "output": "sigmoid",
            "dataset": None, "normalize": (0.0, 1.0)}


@pytest.mark.parametrize("wrap", [False, True], ids=["state-dict", "training-checkpoint"])
def test_a_fashion_state_dict_opens_the_form_and_imports_exactly_with_its_dataset(models_page, tmp_path, wrap):
    at, folder, original = models_page, tmp_path / "models", reference(FashionVAE)
    upload(at, "fashion vae.pt", state_dict_bytes(original, wrap))
    assert {key.removeprefix("import_"): value for key, value in preselected(at).items()} == DETECTED
    assert not at.warning  # nothing ambiguous: no question
    found = shown_text(at.caption[1].value)
    assert "fashion vae.pt" in found and "means fc2m (400->20), spreads fc2s (400->20)" in found
    assert any("read as log-variances" in shown_text(caption.value) for caption in at.caption)  # the assumption
    assert "models_add" not in [button.key for button in at.button]  # not added as it is: imported

    import_with(at, "fashion-mnist")  # not downloaded here: the name is stored, the classes come with the images
    assert_clean(at)
    assert "Imported **fashion-vae**" in shown_text(at.success[0].value), [e.value for e in at.error]
    assert saved_files(folder) == ["fashion-vae.pt"]
    raw = vae.read_checkpoint(folder / "fashion-vae.pt")
    assert raw["dataset"] == "fashion-mnist" and raw["class_names"] == []  # no digit labels
    assert "fc2m" in raw["imported_from"] and "fashion vae.pt" in raw["imported_from"]
    assert_matches(vae.load_model(folder / "fashion-vae.pt"), original, latent=20)
    assert at.session_state["model_name"] == "fashion-vae" and at.selectbox(key="sidebar_model").value == "fashion-vae"


def test_a_log_std_layout_asks_then_imports_on_mnist_5k_with_its_map(models_page, tmp_path):
    at, folder, original = models_page, tmp_path / "models", reference(SigmaVAE)
    upload(at, "sigma.pt", state_dict_bytes(original))
    answers = preselected(at)
    assert answers["import_heads"] == ("mu", "sigma") and answers["import_spread"] == "log-std"  # its std = sigma.exp()
    question = shown_text(at.warning[0].value)
    assert "'sigma' does not say whether it gives log-variances or log standard deviations" in question
    assert "--log" not in question  # the command line's options are not the form's words

    import_with(at, "mnist-5k")
    raw = vae.read_checkpoint(folder / "sigma.pt")
    assert raw["dataset"] == "mnist-5k" and raw["class_names"] == [str(digit) for digit in range(10)]
    assert saved_files(folder) == ["sigma.codes.npz", "sigma.pt"]  # the map's codes, written with it
    assert_matches(vae.load_model(folder / "sigma.pt"), original, latent=2)
    at.switch_page("pages/explore.py").run()
    assert_clean(at)
    assert latent_map(at)["count"] == 1000  # mnist-5k's test images, on the imported model's map


def test_the_answers_given_in_the_form_are_the_ones_used(models_page, tmp_path):
    """log-var chosen for the same sigma file: its spreads are read unchanged (not doubled)."""
    at, folder, original = models_page, tmp_path / "models", reference(SigmaVAE)
    upload(at, "sigma.pt", state_dict_bytes(original))
    import_with(at, "none", spread="log-var")
    model = vae.load_model(folder / "sigma.pt")
    assert model.dataset == "" and model.class_names == ()
    images = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
    with torch.no_grad():
        expected = original.sigma(torch.relu(original.input_layer(torch.as_tensor(images).view(4, -1))))
    np.testing.assert_allclose(model.encode(images)[1], expected.numpy(), rtol=0, atol=TOLERANCE)


def test_the_input_normalisation_and_a_linear_output_chosen_in_the_form_are_kept(models_page, tmp_path):
    """A script that trained on Normalize(0.5, 0.5) inputs, with a decoder read without its sigmoid."""
    at, folder, original = models_page, tmp_path / "models", reference(FashionVAE)
    upload(at, "fashion.pt", state_dict_bytes(original))
    at.number_input(key="import_normalize_mean").set_value(0.5)
    at.number_input(key="import_normalize_std").set_value(0.5)
    import_with(at, "none", output="none")
    model = vae.load_model(folder / "fashion.pt")
    generator = torch.Generator().manual_seed(3)
    images, z = torch.rand(4, 28, 28, generator=generator), torch.randn(5, 20, generator=generator)
    with torch.no_grad():
        expected_mu = original.encode(((images - 0.5) / 0.5).view(4, -1))[0]  # transforms.Normalize(0.5, 0.5)
        expected_images = original.fc4(torch.relu(original.fc3(z))).view(5, 28, 28)  # no sigmoid
        decoded = model.module.decode(z).view(5, 28, 28)  # the network's output (LatentModel clips it for display)
    np.testing.assert_allclose(model.encode(images.numpy())[0], expected_mu.numpy(), rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(decoded.numpy(), expected_images.numpy(), rtol=0, atol=TOLERANCE)


def test_the_form_asks_for_the_dataset_and_refuses_one_of_another_size(models_page, tmp_path):
    at, folder = models_page, tmp_path / "models"
    upload(at, "fashion.pt", state_dict_bytes(reference(FashionVAE)))
    import_with(at, None)  # never assumed
    assert "Choose the images the model was trained on" in at.error[0].value
    import_with(at, "digits")
    message = shown_text(at.error[0].value)
    assert "digits images are 8x8 pixels" in message and "reads images of 28x28 pixels" in message
    assert saved_files(folder) == [] and not at.success  # nothing saved, no temp left


def test_the_dataset_box_offers_the_users_own_images(models_page, tmp_path):
    at, folder = models_page, tmp_path / "models"
    store_images(tmp_path, "clothes", class_names=np.array(["shirt", "boot"]))
    upload(at, "fashion.pt", state_dict_bytes(reference(FashionVAE)))
    assert "Your upload: clothes" in at.selectbox(key="import_dataset").options
    import_with(at, "upload:clothes")
    raw = vae.read_checkpoint(folder / "fashion.pt")
    assert raw["dataset"] == "upload:clothes" and raw["class_names"] == ["shirt", "boot"]
    assert (folder / "fashion.codes.npz").is_file()


def test_an_import_needs_replace_for_a_name_in_use(models_page, tmp_path):
    at, folder = models_page, tmp_path / "models"
    upload(at, "fashion.pt", state_dict_bytes(reference(FashionVAE)))
    import_with(at, "none")
    before = (folder / "fashion.pt").read_bytes()
    import_with(at, "none")
    assert "already exists" in at.error[0].value and (folder / "fashion.pt").read_bytes() == before
    at.checkbox(key="models_upload_replace").check().run()
    import_with(at, "none")
    assert not at.error and "Imported **fashion**" in shown_text(at.success[0].value)


def test_the_uploaded_file_name_shows_as_text(models_page):
    at = upload(models_page, "**fashion** vae.pt", state_dict_bytes(reference(FashionVAE)))
    assert_shown_as_text(at.caption[1].value, "**fashion** vae.pt")


# ------------------------------------------------------------------ Keras, pickled models, damaged files


def test_a_keras_weights_file_opens_the_form_and_imports_as_the_importer_reads_it(models_page, tmp_path):
    at, folder = models_page, tmp_path / "models"
    layers = CLASSIC_ENCODER + CLASSIC_DECODER
    source = tmp_path / "vae.weights.h5"
    write_keras3_weights(source, layers, keras_weights(layers), with_names=True)
    upload(at, source.name, source.read_bytes())
    answers = preselected(at)
    assert answers["import_heads"] == ("latent_mu", "latent_sigma")
    assert answers["import_spread"] == "log-var"  # the Keras tutorial's z = mu + exp(sigma / 2) * eps
    assert "'latent_sigma' does not say" in shown_text(at.warning[0].value)
    assert any("classic Keras conv VAE" in shown_text(caption.value) for caption in at.caption)

    import_with(at, "mnist-5k")
    model = vae.load_model(folder / "vae-weights.pt")
    assert model.dataset == "mnist-5k" and model.config.kind == "keras-conv"
    # tests/test_keras.py checks import_file against an independent NHWC forward pass within 1e-4
    expected = LatentModel(model_from_checkpoint(import_file(source, ImportChoices(spread="log-var"))))
    z = np.random.default_rng(2).standard_normal((6, 2)).astype(np.float32) * 2
    np.testing.assert_allclose(model.decode(z), expected.decode(z), rtol=0, atol=KERAS_TOLERANCE)


@pytest.mark.parametrize("kind", ["pickled-model", "damaged"])
def test_a_file_that_cannot_be_imported_gets_its_message_and_no_form(models_page, tmp_path, kind):
    at, folder = models_page, tmp_path / "models"
    if kind == "pickled-model":
        buffer = io.BytesIO()
        torch.save(reference(FashionVAE), buffer)  # torch.save(model): the whole module pickled
        data, words = buffer.getvalue(), [SAVE_WEIGHTS_LINE, "FashionVAE", "run code"]
    else:
        data, words = b"PK\x03\x04 not a model at all " * 40, ["could not be read", "corrupt"]
    upload(at, "model.pt", data)
    message = shown_text(at.error[0].value)
    assert all(word in message for word in words), message
    keys = [button.key for button in at.button]
    assert "import_confirm" not in keys and "models_add" not in keys
    assert not any(key.startswith("import_") for key in (box.key for box in at.selectbox))
    assert saved_files(folder) == []


# ------------------------------------------------------------------ each recipe on the Train page


@pytest.fixture
def train_page(tmp_path, monkeypatch) -> AppTest:
    """The Train page with 40 random 28x28 images stored as the user's upload "tiny28" (a 28x28 recipe fits)."""
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("VAE_DATA_ROOT", str(tmp_path / "data"))
    store_images(tmp_path, "tiny28")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train_dataset").set_value("upload:tiny28").run()
    assert_clean(at)
    return at


def test_the_train_page_offers_every_recipe_with_its_kl_weight(train_page):
    at = train_page
    offered = {option.split(":")[0] for option in at.selectbox(key="train_model").options}  # "name: description"
    assert {"fashion-mlp", "keras-conv-2d"} <= offered
    assert at.number_input(key="train_beta").value == preset_beta("classic-mlp") == 1.0
    at.selectbox(key="train_model").set_value("keras-conv-2d").run()
    assert at.number_input(key="train_beta").value == pytest.approx(784 * 5e-4 / 2)  # the Keras loss in our units
    assert at.number_input(key="train_latent").value == 2
    assert "The keras-conv-2d recipe trains with a KL weight of 0.196." in [caption.value for caption in at.caption]
    at.number_input(key="train_beta").set_value(0.5).run()
    assert "you changed it to 0.5" in " ".join(caption.value for caption in at.caption)
    at.selectbox(key="train_model").set_value("fashion-mlp").run()
    assert at.number_input(key="train_beta").value == 1.0 and at.number_input(key="train_latent").value == 20


def train_one_epoch(at: AppTest, model: str) -> Path:
    """Train ``model`` for one epoch on the page's chosen images; the saved checkpoint's path."""
    at.selectbox(key="train_model").set_value(model).run()
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_batch").set_value(16).run()
    at.button(key="train_start").click().run()
    assert_clean(at)
    job = jobs.get_job(at.session_state["train_job_id"])
    assert job is not None and job.wait(TRAIN_TIMEOUT_S), "the run did not end in time"
    at.run()
    assert "Training finished after 1 epochs" in " ".join(s.value for s in at.success), [e.value for e in at.error]
    return Path(os.environ["VAE_CHECKPOINT_DIR"]) / f"{job.snapshot().saved_name}.pt"


@pytest.mark.parametrize("model", list(PRESETS))
def test_each_tutorial_recipe_trains_from_the_train_page_with_its_settings(train_page, model):
    raw = vae.read_checkpoint(train_one_epoch(train_page, model))
    assert raw["train_config"]["beta"] == pytest.approx(preset_beta(model))  # keras-conv-2d: 0.196, the others 1
    recipe = {**PRESETS[model].to_dict(), "image_shape": [28, 28], "channels": 1}  # the grey 28x28 upload's
    assert vae.ModelConfig.from_dict(raw["model_config"]).to_dict() == vae.ModelConfig.from_dict(recipe).to_dict()
    assert raw["dataset"] == "upload:tiny28"
