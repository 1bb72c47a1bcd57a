"""Keras files (issue 14): written here with h5py in Keras's own layouts, read without TensorFlow, checked
against an independent NHWC forward pass with TensorFlow's 'same' padding."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

from conftest import (CLASSIC_DECODER, CLASSIC_ENCODER, MLP_DECODER, MLP_ENCODER, keras_dense, keras_weights,
                      write_keras3_weights, write_keras_archive, write_legacy_h5)
from vae.__main__ import main
from vae.analysis.latent import LatentModel
from vae.config import ModelConfig
from vae.errors import CheckpointError
from vae.io.checkpoints import load_model, model_from_checkpoint, read_checkpoint
from vae.io.foreign import detect_file, import_file
from vae.io.importers import AmbiguousModelError, ImportChoices
from vae.models import SameConv2d, SameConvTranspose2d, build_model
from vae.presets import PRESETS

TOLERANCE = 1e-4  # Keras models decode and encode as the original within this (issue 14)
# ------------------------------------------------------------------ the reference forward pass (NHWC, TF 'same')


def _tf_same(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same': ceil(size / stride) outputs; the padding total split with the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv2d(x, kernel, bias, stride):
    """x (B, H, W, C), kernel (k, k, C, O) -> (B, ceil(H/s), ceil(W/s), O), cross-correlation as in TF."""
    k = kernel.shape[0]
    padded = np.pad(x, ((0, 0), _tf_same(x.shape[1], k, stride), _tf_same(x.shape[2], k, stride), (0, 0)))
    windows = sliding_window_view(padded, (k, k), axis=(1, 2))[:, ::stride, ::stride]  # (B, h, w, C, k, k)
    return np.einsum("bhwcij,ijco->bhwo", windows, kernel) + bias


def _conv2d_transpose(x, kernel, bias, stride):
    """TF's conv2d_transpose ('same'): the gradient of a 'same' conv from H*s to H. kernel (k, k, O, C)."""
    batch, height, width, _ = x.shape
    k, outputs = kernel.shape[0], kernel.shape[2]
    top, left = _tf_same(height * stride, k, stride)[0], _tf_same(width * stride, k, stride)[0]
    # Outputs no input pixel reaches (a kernel smaller than the stride) stay 0.
    full = np.zeros((batch, max((height - 1) * stride + k, top + height * stride),
                     max((width - 1) * stride + k, left + width * stride), outputs))
    for i in range(k):
        for j in range(k):  # input pixel (h, w) reaches output (h*s + i, w*s + j)
            full[:, i : i + (height - 1) * stride + 1 : stride, j : j + (width - 1) * stride + 1 : stride] += (
                np.einsum("bhwc,oc->bhwo", x, kernel[i, j]))
    return full[:, top : top + height * stride, left : left + width * stride] + bias


def _relu(x):
    return np.maximum(x, 0)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _classic_encode(w, images):
    h = images[..., None].astype(np.float64)
    for name, stride in (("conv2d", 1), ("conv2d_1", 2), ("conv2d_2", 1), ("conv2d_3", 1)):
        h = _relu(_conv2d(h, *w[name], stride))
    h = _relu(h.reshape(len(h), -1) @ w["dense"][0] + w["dense"][1])  # Flatten: NHWC order
    return h @ w["latent_mu"][0] + w["latent_mu"][1], h @ w["latent_sigma"][0] + w["latent_sigma"][1]


def _classic_decode(w, z):
    h = _relu(z.astype(np.float64) @ w["dense_1"][0] + w["dense_1"][1]).reshape(-1, 14, 14, 64)
    h = _relu(_conv2d_transpose(h, *w["conv2d_transpose"], 2))
    return _sigmoid(_conv2d_transpose(h, *w["decoder_output"], 1))[..., 0]


def _mlp_encode(w, images):
    h = _relu(images.reshape(len(images), -1).astype(np.float64) @ w["dense"][0] + w["dense"][1])
    return h @ w["z_mean"][0] + w["z_mean"][1], h @ w["z_log_var"][0] + w["z_log_var"][1]


def _mlp_decode(w, z):
    h = _relu(z.astype(np.float64) @ w["dense_1"][0] + w["dense_1"][1])
    return _sigmoid(h @ w["dense_2"][0] + w["dense_2"][1]).reshape(-1, 28, 28)


def _assert_matches(model: LatentModel, weights, encode, decode) -> None:
    rng = np.random.default_rng(5)
    z = (rng.standard_normal((6, 2)) * 2).astype(np.float32)
    images = rng.random((4, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(model.decode(z), decode(weights, z), rtol=0, atol=TOLERANCE)
    mu, logvar = model.encode(images)
    expected_mu, expected_logvar = encode(weights, images)
    np.testing.assert_allclose(mu, expected_mu, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(logvar, expected_logvar, rtol=0, atol=TOLERANCE)


def _latent(raw: dict) -> LatentModel:
    return LatentModel(model_from_checkpoint(raw))


# ------------------------------------------------------------------ the tests


def test_the_reference_transposed_conv_is_the_gradient_of_the_same_conv():
    """The test's own TF semantics, checked by their definition: <conv(x), y> == <x, conv_transpose(y)>."""
    rng = np.random.default_rng(0)
    for size, kernel, stride in ((28, 3, 2), (28, 3, 1), (14, 4, 2), (9, 5, 2), (4, 2, 3)):
        x = rng.standard_normal((1, size * stride, size * stride, 3))
        y = rng.standard_normal((1, size, size, 2))
        weights = rng.standard_normal((kernel, kernel, 3, 2))
        forward = _conv2d(x, weights, 0.0, stride)
        assert forward.shape == y.shape
        np.testing.assert_allclose((forward * y).sum(), (x * _conv2d_transpose(y, weights, 0.0, stride)).sum())


@pytest.mark.parametrize("size, kernel, stride", [(14, 3, 2), (14, 3, 1), (7, 4, 2), (5, 5, 2), (4, 2, 3), (9, 3, 3)])
def test_same_padded_convs_match_tensorflows(size, kernel, stride):
    rng = np.random.default_rng(size + kernel + stride)
    x = rng.standard_normal((2, size, size, 3)).astype(np.float32)
    conv_kernel = rng.standard_normal((kernel, kernel, 3, 4)).astype(np.float32)
    back_kernel = rng.standard_normal((kernel, kernel, 4, 3)).astype(np.float32)
    conv = SameConv2d(3, 4, kernel, stride)
    back = SameConvTranspose2d(3, 4, kernel, stride)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(conv_kernel).permute(3, 2, 0, 1))
        back.weight.copy_(torch.from_numpy(back_kernel).permute(3, 2, 0, 1))
        conv.bias.zero_()
        back.bias.zero_()
        nchw = torch.from_numpy(x).permute(0, 3, 1, 2)
        ours, ours_back = conv(nchw).permute(0, 2, 3, 1).numpy(), back(nchw).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(ours, _conv2d(x, conv_kernel, 0.0, stride), atol=1e-4)
    np.testing.assert_allclose(ours_back, _conv2d_transpose(x, back_kernel, 0.0, stride), atol=1e-4)


def test_torchs_padding_one_output_padding_one_is_shifted_from_tensorflows():
    """Why SameConvTranspose2d crops itself: torch's usual k=3, s=2 settings differ from TF's 'same' by a pixel."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 7, 7, 2)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 1, 2)).astype(np.float32)
    usual = nn.ConvTranspose2d(2, 1, 3, stride=2, padding=1, output_padding=1, bias=False)
    with torch.no_grad():
        usual.weight.copy_(torch.from_numpy(kernel).permute(3, 2, 0, 1))
        out = usual(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    assert out.shape == (1, 14, 14, 1)
    assert not np.allclose(out, _conv2d_transpose(x, kernel, 0.0, 2), atol=1e-3)


@pytest.mark.slow
def test_keras_archive_of_the_conv_vae_asks_for_the_spread_then_matches(tmp_path):
    weights = keras_weights(CLASSIC_ENCODER + CLASSIC_DECODER)
    path = tmp_path / "vae.keras"
    write_keras_archive(path, CLASSIC_ENCODER, CLASSIC_DECODER, weights)
    with pytest.raises(AmbiguousModelError, match="latent_sigma") as caught:
        load_model(path)
    assert caught.value.detected.choices.spread == "log-var"  # preselected: Keras's exp(sigma / 2)
    raw = import_file(path, ImportChoices(spread="log-var"))
    config = ModelConfig.from_dict(raw["model_config"])
    assert (config.kind, config.latent_dim, config.conv_layers, config.deconv_layers) == (
        "keras-conv", 2, ((32, 3, 1), (64, 3, 2), (64, 3, 1), (64, 3, 1)), ((32, 3, 2), (1, 3, 1)))
    assert config == PRESETS["keras-conv-2d"]  # the preset is this very architecture
    _assert_matches(_latent(raw), weights, _classic_encode, _classic_decode)


@pytest.mark.slow
def test_keras3_weights_file_of_the_conv_vae_matches(tmp_path):
    weights = keras_weights(CLASSIC_ENCODER + CLASSIC_DECODER, seed=1)
    path = tmp_path / "vae.weights.h5"
    write_keras3_weights(path, CLASSIC_ENCODER + CLASSIC_DECODER, weights)
    detected = detect_file(path)
    assert detected.ambiguous == () and any("classic Keras conv VAE" in note for note in detected.notes)
    loaded = load_model(path)  # no names in the file: dense_2 is read as log-variances, noted
    _assert_matches(loaded, weights, _classic_encode, _classic_decode)
    named = tmp_path / "named.weights.h5"  # newer Keras 3 keeps each layer's name: latent_sigma must be decided
    write_keras3_weights(named, CLASSIC_ENCODER + CLASSIC_DECODER, weights, with_names=True)
    with pytest.raises(AmbiguousModelError, match="latent_sigma"):
        load_model(named)
    _assert_matches(_latent(import_file(named, ImportChoices(spread="log-var"))), weights, _classic_encode,
                    _classic_decode)


@pytest.mark.slow
def test_legacy_keras2_h5_of_the_conv_vae_matches(tmp_path):
    weights = keras_weights(CLASSIC_ENCODER + CLASSIC_DECODER, seed=2)
    path = tmp_path / "vae.h5"
    write_legacy_h5(path, CLASSIC_ENCODER, CLASSIC_DECODER, weights)
    raw = import_file(path, ImportChoices(spread="log-var"))
    assert "HDF5" in raw["imported_from"]
    _assert_matches(_latent(raw), weights, _classic_encode, _classic_decode)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["keras", "weights.h5", "h5"])
def test_keras_mlp_vaes_match(tmp_path, layout):
    weights = keras_weights(MLP_ENCODER + MLP_DECODER, seed=3)
    path = tmp_path / f"mlp.{layout}"
    if layout == "keras":
        write_keras_archive(path, MLP_ENCODER, MLP_DECODER, weights)
    elif layout == "h5":
        write_legacy_h5(path, MLP_ENCODER, MLP_DECODER, weights)
    else:
        write_keras3_weights(path, MLP_ENCODER + MLP_DECODER, weights)
    loaded = load_model(path)  # z_log_var says log-variance; a weights file follows the convention
    assert loaded.config.kind == "mlp" and loaded.config.hidden_sizes == (512,) and loaded.image_shape == (28, 28)
    _assert_matches(loaded, weights, _mlp_encode, _mlp_decode)


def test_keras_files_say_what_they_are_instead_of_corrupt(tmp_path):
    classifier = [("InputLayer", "input", None, "layers/input_layer", {"batch_shape": [None, 784]}),
                  ("Dense", "dense", (784, 10), "layers/dense", keras_dense(10, "softmax"))]
    path = tmp_path / "classifier.keras"
    weights_file = tmp_path / "w.h5"
    write_keras3_weights(weights_file, classifier, keras_weights(classifier))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps({"class_name": "Functional", "config": {
            "name": "clf", "layers": [{"class_name": cls, "config": {"name": n, **s}} for cls, n, _, _, s in classifier]}}))
        archive.write(weights_file, "model.weights.h5")
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    assert "Keras 3 model (.keras)" in str(caught.value) and "corrupt" not in str(caught.value)
    truncated = tmp_path / "half.h5"
    vae_file = tmp_path / "vae.h5"
    write_legacy_h5(vae_file, MLP_ENCODER, MLP_DECODER, keras_weights(MLP_ENCODER + MLP_DECODER))
    truncated.write_bytes(vae_file.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="is a Keras file"):
        load_model(truncated)


def test_an_hdf5_file_that_declares_gigabytes_is_refused_before_any_array_is_read(tmp_path, monkeypatch):
    import h5py

    from vae.io import keras

    bomb = tmp_path / "bomb.weights.h5"
    with h5py.File(bomb, "w") as h5:  # one chunked, compressed array: 3 GB declared, a few kB on disk
        h5.create_dataset("layers/dense/vars/0", shape=(30_000, 25_000), dtype="float32", chunks=(1000, 1000),
                          compression="gzip", fillvalue=0.0)
    assert bomb.stat().st_size < 1_000_000
    read = []
    monkeypatch.setattr(keras, "_weight_groups", lambda h5: read.append(h5) or [])
    with pytest.raises(CheckpointError, match="was refused: its arrays declare more than"):
        load_model(bomb)
    assert read == []  # refused from the declared shapes alone
    crowded = tmp_path / "crowded.weights.h5"
    monkeypatch.setattr(keras, "MAX_OBJECTS", 50)
    with h5py.File(crowded, "w") as h5:
        for index in range(60):
            h5.create_group(f"layers/dense_{index}")
    with pytest.raises(CheckpointError, match="more than 50 groups and arrays"):
        load_model(crowded)


def test_a_weights_file_of_an_unknown_conv_vae_asks_for_the_keras_archive(tmp_path):
    layers = [("Conv2D", "c", (3, 3, 1, 8), "layers/conv2d", {}),
              ("Dense", "d", (14 * 14 * 8, 4), "layers/dense", {}), ("Dense", "m", (4, 2), "layers/dense_1", {}),
              ("Dense", "s", (4, 2), "layers/dense_2", {}), ("Dense", "u", (2, 14 * 14 * 8), "layers/dense_3", {}),
              ("Conv2DTranspose", "t", (3, 3, 1, 8), "layers/conv2d_transpose", {})]
    path = tmp_path / "other.weights.h5"
    write_keras3_weights(path, layers, keras_weights(layers))
    with pytest.raises(CheckpointError, match='model.save\\("model.keras"\\)'):
        load_model(path)


def test_a_keras_layer_that_cannot_be_rebuilt_exactly_is_named(tmp_path):
    encoder = [(*layer[:4], {**layer[4], "padding": "valid"}) if layer[1] == "conv2d_1" else layer
               for layer in CLASSIC_ENCODER]
    path = tmp_path / "valid.keras"
    write_keras_archive(path, encoder, CLASSIC_DECODER, keras_weights(encoder + CLASSIC_DECODER))
    with pytest.raises(CheckpointError, match="conv2d_1.*padding is 'valid'"):
        import_file(path, ImportChoices(spread="log-var"))


@pytest.mark.slow  # loads mnist-5k and encodes its test images for the map
def test_cli_imports_and_opens_keras_files(tmp_path, capsys):
    weights = keras_weights(CLASSIC_ENCODER + CLASSIC_DECODER)
    source = tmp_path / "vae.keras"
    write_keras_archive(source, CLASSIC_ENCODER, CLASSIC_DECODER, weights)
    out = tmp_path / "vae.pt"
    assert main(["import", str(source), str(out), "--log-var", "--dataset", "mnist-5k"]) == 0
    assert read_checkpoint(out)["dataset"] == "mnist-5k"
    _assert_matches(load_model(out), weights, _classic_encode, _classic_decode)
    weights_only = tmp_path / "vae.weights.h5"
    write_keras3_weights(weights_only, CLASSIC_ENCODER + CLASSIC_DECODER, weights)
    capsys.readouterr()
    assert main(["info", str(weights_only)]) == 0
    printed = capsys.readouterr().out
    assert '"kind": "keras-conv"' in printed and "processes   unknown (not saved by this app)" in printed


@pytest.mark.slow
def test_the_keras_preset_trains_with_its_kl_weight(tmp_path):
    out = tmp_path / "keras.pt"
    assert main(["train", "--dataset", "digits", "--model", "keras-conv-2d", "--epochs", "1", "--out", str(out)]) == 0
    raw = read_checkpoint(out)
    # Keras: mean BCE over 784 pixels + 5e-4 * mean KL over 2 dims; times 784 gives our summed units.
    assert raw["train_config"]["beta"] == pytest.approx(784 * 5e-4 / 2)
    assert raw["model_config"]["kind"] == "keras-conv" and raw["model_config"]["image_shape"] == [8, 8]
    assert build_model(ModelConfig.from_dict(raw["model_config"])).decode(torch.zeros(1, 2)).shape == (1, 8, 8)
