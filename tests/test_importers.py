"""PyTorch VAEs imported by structure (issue 14): each tutorial's layout against a reference module built from it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from conftest import FashionVAE, SigmaVAE
from vae.__main__ import main
from vae.analysis.latent import LatentModel
from vae.config import ModelConfig
from vae.errors import CheckpointError
from vae.io.checkpoints import load_model, model_from_checkpoint, read_checkpoint, save_checkpoint
from vae.io.foreign import detect_file, import_file
from vae.io.importers import SAVE_WEIGHTS_LINE, AmbiguousModelError, ImportChoices, convert, detect
from vae.presets import PRESETS

TOLERANCE = 1e-5  # imported PyTorch models decode and encode as the original within this (issue 14)


class ClassicVAE(nn.Module):
    """pytorch/examples vae/main.py."""

    def __init__(self, pixels: int = 784, latent: int = 20) -> None:
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(pixels, 400), nn.Linear(400, latent), nn.Linear(400, latent)
        self.fc3, self.fc4 = nn.Linear(latent, 400), nn.Linear(400, pixels)

    def encode(self, x):
        h = F.relu(self.fc1(x))
        return self.fc21(h), self.fc22(h)  # mu, logvar

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))


class TinyVAE(nn.Module):
    """e_dense1..3 (784-64-32-8: 4 means then 4 log-variances), d_dense1..3 (4-32-64-784)."""

    def __init__(self) -> None:
        super().__init__()
        self.e_dense1, self.e_dense2, self.e_dense3 = nn.Linear(784, 64), nn.Linear(64, 32), nn.Linear(32, 8)
        self.d_dense1, self.d_dense2, self.d_dense3 = nn.Linear(4, 32), nn.Linear(32, 64), nn.Linear(64, 784)

    def encode(self, x):
        out = self.e_dense3(F.relu(self.e_dense2(F.relu(self.e_dense1(x)))))
        return out[:, :4], out[:, 4:]

    def decode(self, z):
        return torch.sigmoid(self.d_dense3(F.relu(self.d_dense2(F.relu(self.d_dense1(z))))))


class AsymmetricVAE(nn.Module):
    """Encoder 784-256-128, decoder z-512-784: not the mirror of the encoder."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU())
        self.fc_mu, self.fc_logvar = nn.Linear(128, 5), nn.Linear(128, 5)
        self.decoder = nn.Sequential(nn.Linear(5, 512), nn.ReLU(), nn.Linear(512, 784))

    def encode(self, x):
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z):
        return torch.sigmoid(self.decoder(z))


LAYOUTS = {"classic": ClassicVAE, "fashion": FashionVAE, "tiny": TinyVAE, "asymmetric": AsymmetricVAE}


def _reference(cls, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return cls().eval()


def _assert_matches(loaded, reference: nn.Module, latent: int, side: int = 28, normalize=(0.0, 1.0)) -> None:
    """Decode and encode (means and log-variances) as the reference, on the same inputs."""
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(16, latent, generator=generator) * 2
    images = torch.rand(8, side, side, generator=generator)
    with torch.no_grad():
        expected_images = reference.decode(z).view(-1, side, side).numpy()
        expected_mu, expected_logvar = reference.encode(((images - normalize[0]) / normalize[1]).view(8, -1))
    np.testing.assert_allclose(loaded.decode(z.numpy()), expected_images, rtol=0, atol=TOLERANCE)
    mu, logvar = loaded.encode(images.numpy())
    np.testing.assert_allclose(mu, expected_mu.numpy(), rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(logvar, expected_logvar.numpy(), rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_layout_opens_by_structure_and_matches_the_original(tmp_path, layout):
    reference = _reference(LAYOUTS[layout])
    path = tmp_path / f"{layout}.pt"
    torch.save(reference.state_dict(), path)
    loaded = load_model(path)  # through read_checkpoint's fallback, as the app and `python -m vae info` open it
    latent = {"classic": 20, "fashion": 20, "tiny": 4, "asymmetric": 5}[layout]
    assert loaded.latent_dim == latent and loaded.image_shape == (28, 28)
    assert loaded.dataset == "" and loaded.class_names == ()  # never assumed: the user names it on import
    _assert_matches(loaded, reference, latent)


def test_the_tiny_layout_is_exactly_the_tiny_preset(tmp_path):
    config = ModelConfig.from_dict(convert(_reference(TinyVAE).state_dict())["model_config"])
    tiny = PRESETS["tiny-mlp"]
    assert (config.kind, config.hidden_sizes, config.latent_dim, config.decoder_hidden_sizes) == (
        tiny.kind, tiny.hidden_sizes, tiny.latent_dim, None)  # None: the decoder mirrors the encoder


def test_an_asymmetric_decoder_keeps_its_own_layers():
    config = ModelConfig.from_dict(convert(_reference(AsymmetricVAE).state_dict())["model_config"])
    assert config.hidden_sizes == (256, 128) and config.decoder_hidden_sizes == (512,)


@pytest.mark.slow
def test_a_log_std_spread_named_sigma_is_asked_for_then_doubled(tmp_path):
    reference = _reference(SigmaVAE)
    path = tmp_path / "sigma.pt"
    torch.save(reference.state_dict(), path)
    with pytest.raises(AmbiguousModelError, match="--log-std") as caught:
        load_model(path)
    detected = caught.value.detected
    assert detected.ambiguous == ("spread",) and detected.options["spread"] == ("log-var", "log-std")
    assert detected.choices.spread == "log-std"  # preselected: this tutorial's std = sigma.exp()
    assert "'sigma'" in str(caught.value) and "mu (512->2)" in str(caught.value)
    raw = import_file(path, ImportChoices(spread="log-std"))
    _assert_matches(LatentModel(model_from_checkpoint(raw)), reference, latent=2)


@pytest.mark.slow
def test_log_var_chosen_for_sigma_reads_it_unchanged(tmp_path):
    reference = _reference(SigmaVAE)
    raw = convert(reference.state_dict(), ImportChoices(spread="log-var"))
    model = model_from_checkpoint(raw)
    with torch.no_grad():
        x = torch.rand(3, 784)
        _, logvar = model.encode(x.view(3, 28, 28))
        torch.testing.assert_close(logvar, reference.sigma(F.relu(reference.input_layer(x))), rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("wrap", ["model_state_dict", "state_dict", "model", "data_parallel"])
def test_training_checkpoints_and_wrappers_are_unwrapped(tmp_path, wrap):
    reference = _reference(FashionVAE)
    weights = reference.state_dict()
    optimizer = torch.optim.Adam(reference.parameters())
    if wrap == "data_parallel":  # nn.DataParallel saves every name with "module." before it
        payload = {f"module.{key}": value for key, value in weights.items()}
    else:
        payload = {"epoch": 7, wrap: weights, "optimizer_state_dict": optimizer.state_dict(), "loss": 12.5}
    path = tmp_path / "checkpoint.pth"
    torch.save(payload, path)
    _assert_matches(load_model(path), reference, latent=20)


@pytest.mark.slow
def test_inputs_normalised_to_minus_one_one_are_scaled_when_encoding(tmp_path):
    reference = _reference(ClassicVAE)
    source = tmp_path / "normalised.pt"
    torch.save(reference.state_dict(), source)
    raw = import_file(source, ImportChoices(normalize=(0.5, 0.5)))  # transforms.Normalize((0.5,), (0.5,))
    assert (raw["model_config"]["input_scale"], raw["model_config"]["input_shift"]) == (2.0, -1.0)
    saved = save_checkpoint(tmp_path / "ours.pt", model_from_checkpoint(raw), dataset="", class_names=[])
    loaded = load_model(saved)  # the scaling survives a save and a load
    _assert_matches(loaded, reference, latent=20, normalize=(0.5, 0.5))
    unscaled = load_model(source)
    assert not np.allclose(unscaled.encode(np.full((1, 28, 28), 0.3, np.float32))[0],
                           loaded.encode(np.full((1, 28, 28), 0.3, np.float32))[0], atol=1e-3)


def test_checkpoints_saved_before_the_new_settings_still_load():
    old = {"kind": "mlp", "image_shape": [28, 28], "latent_dim": 2, "hidden_sizes": [400], "conv_channels": [32, 64],
           "conv_hidden": 32, "likelihood": "bernoulli", "gaussian_std": 0.1}
    config = ModelConfig.from_dict(old)
    assert (config.input_scale, config.input_shift, config.output_activation, config.decoder_hidden_sizes) == (
        1.0, 0.0, "sigmoid", None)


def test_a_non_square_pixel_count_asks_for_the_image_size():
    reference = _reference(lambda: ClassicVAE(pixels=700, latent=3))
    with pytest.raises(AmbiguousModelError, match="700 pixels, which is not a square") as caught:
        convert(reference.state_dict())
    assert caught.value.detected.ambiguous == ("image_size",)
    assert (25, 28) in caught.value.detected.options["image_size"]
    model = model_from_checkpoint(convert(reference.state_dict(), ImportChoices(image_size=(25, 28))))
    assert model.config.image_shape == (25, 28)
    z = torch.randn(4, 3)
    with torch.no_grad():
        torch.testing.assert_close(model.decode(z), reference.decode(z).view(4, 25, 28), rtol=0, atol=TOLERANCE)
    with pytest.raises(CheckpointError, match="700"):
        convert(reference.state_dict(), ImportChoices(image_size=(20, 20)))


def test_a_colour_or_prime_pixel_count_says_it_cannot_be_opened():
    with pytest.raises(AmbiguousModelError, match="colour model of 28x28"):
        convert(_reference(lambda: ClassicVAE(pixels=3 * 784, latent=2)).state_dict())
    with pytest.raises(CheckpointError, match="787 values per image"):
        convert(_reference(lambda: ClassicVAE(pixels=787, latent=2)).state_dict())


def _ambiguous_heads_state() -> dict:
    """784 -> 8 -> 8, two 8 -> 8 heads, 8 -> 8 -> 784: any two adjacent 8 -> 8 layers could be the heads."""
    torch.manual_seed(3)
    names = ["inp", "a", "b", "c", "d", "out"]
    shapes = [(8, 784), (8, 8), (8, 8), (8, 8), (8, 8), (784, 8)]
    state = {}
    for name, shape in zip(names, shapes):
        state[f"{name}.weight"], state[f"{name}.bias"] = torch.randn(shape) * 0.3, torch.randn(shape[0]) * 0.1
    return state


def test_two_candidate_head_pairs_are_listed_and_a_choice_resolves_them():
    state = _ambiguous_heads_state()
    detected = detect(state)
    assert detected.ambiguous == ("heads",) and set(detected.options["heads"]) == {("a", "b"), ("b", "c"), ("c", "d")}
    with pytest.raises(AmbiguousModelError, match="--mean-layer NAME --spread-layer NAME"):
        convert(state)
    model = model_from_checkpoint(convert(state, ImportChoices(mean_layer="b", spread_layer="c")))
    x, z = torch.rand(2, 784), torch.randn(2, 8)
    h = F.relu(F.linear(F.relu(F.linear(x, state["inp.weight"], state["inp.bias"])), state["a.weight"], state["a.bias"]))
    with torch.no_grad():
        mu, logvar = model.encode(x.view(2, 28, 28))
        decoded = model.decode(z).view(2, 784)
    torch.testing.assert_close(mu, F.linear(h, state["b.weight"], state["b.bias"]), rtol=0, atol=TOLERANCE)
    torch.testing.assert_close(logvar, F.linear(h, state["c.weight"], state["c.bias"]), rtol=0, atol=TOLERANCE)
    expected = torch.sigmoid(F.linear(F.relu(F.linear(z, state["d.weight"], state["d.bias"])), state["out.weight"],
                                      state["out.bias"]))
    torch.testing.assert_close(decoded, expected, rtol=0, atol=TOLERANCE)


def test_detect_preselects_every_answer_and_notes_its_assumptions():
    detected = detect(_reference(ClassicVAE).state_dict())
    assert detected.ambiguous == ()
    assert detected.choices == ImportChoices(mean_layer="fc21", spread_layer="fc22", spread="log-var",
                                             image_size=(28, 28), output="sigmoid", normalize=(0.0, 1.0))
    assert any("log-variances" in note for note in detected.notes)
    assert [layer.name for layer in detected.structure.encoder] == ["fc1"]
    assert [layer.name for layer in detected.structure.decoder] == ["fc3", "fc4"]


def test_a_linear_output_is_kept_without_a_sigmoid():
    reference = _reference(ClassicVAE)
    model = model_from_checkpoint(convert(reference.state_dict(), ImportChoices(output="none")))
    z = torch.randn(5, 20)
    with torch.no_grad():
        raw = reference.fc4(F.relu(reference.fc3(z)))
        torch.testing.assert_close(model.decode(z).view(5, 784), raw, rtol=0, atol=TOLERANCE)
        # the losses read logits: those of the output clipped into (0, 1)
        torch.testing.assert_close(torch.sigmoid(model.decode_logits(z)).view(5, 784), raw.clamp(1e-6, 1 - 1e-6),
                                   rtol=0, atol=TOLERANCE)


def test_a_pickled_whole_model_is_refused_with_the_line_that_saves_its_weights(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "whole.pt"
    torch.save(_reference(ClassicVAE), path)
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    message = str(caught.value)
    assert SAVE_WEIGHTS_LINE in message and "ClassicVAE" in message and "run code" in message
    with pytest.raises(CheckpointError, match="model.state_dict"):
        import_file(path)


def test_a_pytorch_conv_state_dict_is_refused_saying_why(tmp_path):
    path = tmp_path / "conv.pt"
    torch.save(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4, 2)).state_dict(), path)
    with pytest.raises(CheckpointError, match="convolution"):
        load_model(path)


def test_layers_that_are_not_fully_connected_are_named(tmp_path):
    state = {**_reference(ClassicVAE).state_dict(), "bn.running_mean": torch.zeros(400),
             "bn.running_var": torch.ones(400)}
    with pytest.raises(CheckpointError, match="bn is not a fully connected"):
        convert(state)


def test_chosen_heads_that_do_not_exist_are_refused_with_the_layer_names():
    with pytest.raises(CheckpointError, match="no layer called 'fc9'.*fc1, fc21"):
        convert(_reference(ClassicVAE).state_dict(), ImportChoices(mean_layer="fc9", spread_layer="fc22"))


def test_detect_file_reads_what_import_file_converts(tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save(_reference(TinyVAE).state_dict(), path)
    detected = detect_file(path)
    assert detected.structure.split and detected.structure.latent_dim == 4
    assert detected.choices.mean_layer == detected.choices.spread_layer == "e_dense3"


# ------------------------------------------------------------------ python -m vae import


@pytest.mark.slow  # loads the digits set and encodes its test images for the map
def test_cli_import_saves_our_format_with_the_named_dataset(tmp_path, capsys):
    reference = _reference(lambda: ClassicVAE(pixels=64, latent=2))
    source = tmp_path / "digits-vae.pt"
    torch.save(reference.state_dict(), source)
    out = tmp_path / "imported.pt"
    assert main(["import", str(source), str(out), "--dataset", "digits"]) == 0
    raw = torch.load(out, weights_only=True)
    assert raw["format"] == "vae-latent-explorer" and raw["dataset"] == "digits"
    assert raw["class_names"] == [str(d) for d in range(10)]
    assert "digits-vae.pt" in raw["imported_from"] and raw["created"]  # where it came from, as the form records
    _assert_matches(load_model(out), reference, latent=2, side=8)
    assert "saved" in capsys.readouterr().out


def test_cli_import_without_a_dataset_says_so_and_stores_none(tmp_path, capsys):
    source = tmp_path / "sigma.pt"
    torch.save(_reference(SigmaVAE).state_dict(), source)
    out = tmp_path / "imported.pt"
    assert main(["import", str(source), str(out)]) == 2  # sigma: log-std or log-var must be chosen
    assert "--log-std" in capsys.readouterr().err and not out.exists()
    assert main(["import", str(source), str(out), "--log-std"]) == 0
    assert "no dataset given" in capsys.readouterr().out
    assert read_checkpoint(out)["dataset"] == "" and read_checkpoint(out)["class_names"] == []
    assert main(["info", str(source)]) == 2  # info opens foreign files too; this one needs the choice


def test_cli_import_refuses_a_dataset_of_another_image_size(tmp_path, capsys):
    source = tmp_path / "classic.pt"
    torch.save(_reference(ClassicVAE).state_dict(), source)
    assert main(["import", str(source), str(tmp_path / "x.pt"), "--dataset", "digits"]) == 2
    assert "8x8 grey" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()


def test_cli_info_opens_a_foreign_state_dict(tmp_path, capsys):
    source = tmp_path / "tiny.pt"
    torch.save(_reference(TinyVAE).state_dict(), source)
    assert main(["info", str(source)]) == 0
    assert '"latent_dim": 4' in capsys.readouterr().out


def test_cli_import_options_are_parsed_into_choices(tmp_path, capsys):
    source = tmp_path / "classic.pt"
    torch.save(_reference(ClassicVAE).state_dict(), source)
    out = tmp_path / "imported.pt"
    assert main(["import", str(source), str(out), "--normalize", "0.5,0.5", "--image-size", "28x28",
                 "--mean-layer", "fc21", "--spread-layer", "fc22", "--log-var", "--linear-output"]) == 0
    config = read_checkpoint(out)["model_config"]
    assert (config["input_scale"], config["input_shift"], config["output_activation"]) == (2.0, -1.0, "none")
    assert main(["import", str(source), str(out), "--image-size", "28 by 28"]) == 2
    assert "--image-size takes two numbers" in capsys.readouterr().err


@pytest.mark.slow
def test_the_fashion_preset_trains_from_the_command_line(tmp_path):
    out = tmp_path / "fashion.pt"
    assert main(["train", "--dataset", "digits", "--model", "fashion-mlp", "--epochs", "1", "--out", str(out)]) == 0
    raw = read_checkpoint(out)
    assert raw["model_config"]["hidden_sizes"] == [400] and raw["model_config"]["latent_dim"] == 20
    assert raw["model_config"]["likelihood"] == "gaussian" and raw["train_config"]["beta"] == 1.0
    # summed squared error: a Gaussian whose 1 / (2 std^2) is 1
    assert 1 / (2 * raw["model_config"]["gaussian_std"] ** 2) == pytest.approx(1.0)
