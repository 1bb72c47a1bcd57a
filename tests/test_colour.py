"""Colour end to end below the pages: settings, models, pictures, uploads' limits, training, the command line."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

import vae
from vae.__main__ import main
from vae.analysis.disentanglement import mig
from vae.analysis.latent import LatentModel
from vae.config import ModelConfig, TrainConfig
from vae.data import SHAPES_SETS, load_dataset, load_user_dataset, npz, split_dataset
from vae.errors import DataError
from vae.images import gif_for_download, png_for_download, tile, to_uint8
from vae.io.checkpoints import load_model, save_checkpoint
from vae.models import build_model
from vae.training.run import run_training

from test_data import png_bytes, write_zip

ROOT_CHECKPOINTS = vae.files.Path(__file__).resolve().parent.parent / "checkpoints"


def colour_images(count: int = 6, shape: tuple[int, int] = (9, 7), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((count, *shape, 3), dtype=np.float32)


# ---------------------------------------------------------------- the models read channels as channels


def test_a_colour_conv_runs_its_layers_on_the_three_channels(tmp_path):
    config = ModelConfig(kind="conv", image_shape=(9, 7), channels=3, latent_dim=3, conv_channels=(4, 6), conv_hidden=5)
    module = build_model(config, seed=0).eval()
    images = torch.from_numpy(colour_images())
    layers = [layer for layer in module.encoder if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear))]
    x = images.permute(0, 3, 1, 2).contiguous()  # (N, RGB, H, W), computed here layer by layer
    for conv in layers[:2]:
        x = F.relu(F.conv2d(x, conv.weight, conv.bias, stride=2, padding=1))
    features = F.relu(layers[2](x.flatten(1)))
    mu, _ = module.encode(images)
    assert torch.allclose(mu, module.fc_mu(features), atol=1e-5)
    maps = module.decoder_dense(mu).view(-1, *module.feature_shape)
    raw = module.decoder_convs(maps)[:, :, :9, :7]  # (N, RGB, H, W)
    decoded = module.decode(mu)
    assert decoded.shape == (6, 9, 7, 3)
    assert torch.allclose(decoded, torch.sigmoid(raw).permute(0, 2, 3, 1), atol=1e-6)


def test_a_colour_mlp_reads_every_value_of_the_picture_row_by_row():
    config = ModelConfig(image_shape=(9, 7), channels=3, latent_dim=2, hidden_sizes=(8,))
    module = build_model(config, seed=0).eval()
    images = torch.from_numpy(colour_images())
    first = module.encoder[0]
    assert first.in_features == 9 * 7 * 3
    expected = module.fc_mu(F.relu(images.reshape(6, -1) @ first.weight.T + first.bias))
    assert torch.allclose(module.encode(images)[0], expected, atol=1e-6)
    assert module.decode(expected).shape == (6, 9, 7, 3)


@pytest.mark.slow
def test_latent_model_gives_colour_pictures_everywhere():
    model = LatentModel(build_model(vae.presets.model_config_for("conv-32-rgb", (32, 32), 4, channels=3), seed=0))
    images = colour_images(5, (32, 32))
    assert model.image_dims == (32, 32, 3) and model.channels == 3
    assert model.encode(images)[0].shape == (5, 4)
    assert model.reconstruct(images).shape == (5, 32, 32, 3)
    assert model.manifold_grid(3).shape == (3, 3, 32, 32, 3)
    assert model.sample_prior(2)[1].shape == (2, 32, 32, 3)
    assert model.interpolate(np.zeros(4), np.ones(4), 5)[1].shape == (5, 32, 32, 3)
    assert model.traverse(1).shape == (9, 32, 32, 3)
    recon, errors = model.reconstruction_errors(images)
    expected = ((recon.astype(np.float64) - images) ** 2).mean(axis=(1, 2, 3))  # every channel of every pixel
    assert np.allclose(errors, expected, atol=1e-6) and np.allclose(model.errors_per_image(images), expected, atol=1e-6)
    with pytest.raises(DataError, match="32x32 grey, but the model reads 32x32 colour"):
        vae.encode_test_codes(model, images.mean(axis=-1), np.zeros(5), ("a",), "greys")


@pytest.mark.slow
def test_old_grey_checkpoints_load_unchanged():
    old = sorted(ROOT_CHECKPOINTS.glob("mnist5k-mlp-*.pt"))  # the bundled MLPs were saved before colour existed
    assert len(old) == 2  # (conv-2d was rebuilt since, with its time-lapse: it records channels=1)
    for path in old:
        assert "channels" not in torch.load(path, weights_only=True)["model_config"]
        model = load_model(path)
        assert model.channels == 1 and model.image_dims == (28, 28)
        assert model.decode(np.zeros((2, model.latent_dim))).shape == (2, 28, 28)
        assert vae.read_test_codes(path, vae.data.dataset_version("mnist-5k")) is not None  # their maps still fit


def test_a_colour_checkpoint_saves_and_loads_its_channels(tmp_path):
    config = ModelConfig(kind="conv", image_shape=(8, 8), channels=3, latent_dim=2, conv_channels=(4,), conv_hidden=4)
    module = build_model(config, seed=3)
    save_checkpoint(tmp_path / "c.pt", module, dataset="shapes-32", class_names=vae.data.shapes.SHAPE_NAMES)
    loaded = load_model(tmp_path / "c.pt")
    assert loaded.config.channels == 3 and vae.read_info(tmp_path / "c.pt").kind == "conv"
    codes = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_array_equal(loaded.decode(codes), LatentModel(module).decode(codes))


# ---------------------------------------------------------------- pictures


def test_colour_downloads_are_rgb_pngs_of_whole_pixel_blocks_with_exact_colours():
    pictures = colour_images(4, (12, 10))
    strip = tile(pictures, columns=4, padding=1)  # (12, 43, 3)
    assert strip.shape == (12, 43, 3) and np.array_equal(strip[:, 11:21], pictures[1])
    assert np.all(strip[:, 10] == 1.0)  # the padding between pictures, white
    png = Image.open(io.BytesIO(png_for_download(strip)))
    assert png.format == "PNG" and png.mode == "RGB" and max(png.size) >= 1024
    scale = png.size[0] // 43
    assert png.size == (43 * scale, 12 * scale)  # square blocks: one factor for both sides
    expected = to_uint8(strip).repeat(scale, axis=0).repeat(scale, axis=1)
    np.testing.assert_array_equal(np.asarray(png), expected)  # every colour exact, every block uniform


def test_a_grid_of_colour_pictures_tiles_like_a_list_row_by_row():
    pictures = colour_images(6, (5, 4)).reshape(2, 3, 5, 4, 3)
    np.testing.assert_array_equal(tile(pictures), tile(pictures.reshape(6, 5, 4, 3), columns=3))


def test_a_colour_gif_keeps_its_colours_within_the_palette_rounding():
    frames = colour_images(3, (8, 8))
    gif = Image.open(io.BytesIO(gif_for_download(frames, frame_ms=100)))
    scale = gif.size[0] // 8
    for index in range(3):
        gif.seek(index)
        shown = np.asarray(gif.convert("RGB"))[::scale, ::scale].astype(np.float64) / 255
        assert np.abs(shown - frames[index]).max() < 3 / 255  # 64 colours a frame: each in its own palette


# ---------------------------------------------------------------- uploads count channels


@pytest.fixture
def pixel_limit(monkeypatch):
    """An upload may hold 6 x 8 x 8 = 384 pixel values."""
    monkeypatch.setattr(vae.data.limits, "MAX_UPLOAD_PIXELS", 6 * 8 * 8)


def never_called(*args, **kwargs):
    raise AssertionError("the pixels were read")


def test_a_colour_npz_counts_three_values_per_pixel_before_reading_them(tmp_path, pixel_limit, monkeypatch):
    np.savez(tmp_path / "c.npz", images=np.zeros((3, 8, 8, 3), np.uint8))  # 192 pixels, 576 values
    np.savez(tmp_path / "g.npz", images=np.zeros((6, 8, 8), np.uint8))  # 384 grey pixels: at the limit
    assert load_user_dataset(tmp_path / "g.npz").channels == 1
    assert load_user_dataset(tmp_path / "c.npz", grayscale=True).channels == 1  # grey: 192 values, fits
    monkeypatch.setattr(npz, "read_npz_arrays", never_called)
    with pytest.raises(DataError, match=r"c\.npz holds 3 colour images.*576 pixel values.*limit is 384.*turn them grey"):
        load_user_dataset(tmp_path / "c.npz")


def test_a_zip_with_one_colour_picture_counts_three_values_per_pixel(tmp_path, pixel_limit, monkeypatch):
    entries = {f"a/{index}.png": png_bytes((8, 8), 100) for index in range(2)}
    entries["b/red.png"] = png_bytes((8, 8), (255, 0, 0), mode="RGB")
    path = write_zip(tmp_path / "z.zip", entries)  # 3 colour pictures of 8x8: 576 values
    assert load_user_dataset(path, grayscale=True).channels == 1
    monkeypatch.setattr(vae.data.zips, "decode_image", never_called)
    with pytest.raises(DataError, match=r"576 pixel values"):
        load_user_dataset(path)


@pytest.mark.parametrize("palette, colour", [("grey", False), ("red", True)])
def test_a_palette_png_is_colour_only_when_its_palette_is(tmp_path, palette, colour):
    picture = Image.new("P", (8, 8), 1)
    entries = [(0, 0, 0), (90, 90, 90) if palette == "grey" else (200, 30, 30)]
    picture.putpalette([value for entry in entries for value in entry] + [0] * (768 - 6))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    path = write_zip(tmp_path / "p.zip", {"a/1.png": buffer.getvalue(), "a/2.png": png_bytes((8, 8), 90)})
    dataset = load_user_dataset(path)
    assert dataset.channels == (3 if colour else 1)


# ---------------------------------------------------------------- training, the command line


def colour_set(count: int = 24) -> vae.data.Dataset:
    images = colour_images(count, (8, 8), seed=1)
    return split_dataset("colours", images, np.arange(count) % 2, ("a", "b"))


@pytest.mark.slow
def test_a_run_on_colour_images_builds_and_saves_a_colour_model(tmp_path):
    config = ModelConfig(kind="conv", latent_dim=2, conv_channels=(4,), conv_hidden=4)  # channels: the images'
    outcome = run_training(colour_set(), config, TrainConfig(epochs=1, batch_size=8), tmp_path / "c.pt")
    saved = load_model(outcome.path)
    assert saved.config.channels == 3 and saved.image_dims == (8, 8, 3)
    grey = run_training(vae.data.as_grayscale(colour_set()), config, TrainConfig(epochs=1, batch_size=8),
                        tmp_path / "g.pt")
    assert load_model(grey.path).config.channels == 1 and load_model(grey.path).dataset == "colours:grey"


@pytest.mark.slow
def test_cli_train_keeps_colour_unless_grayscale_is_asked_for(tmp_path, capsys):
    np.savez(tmp_path / "pics.npz", images=(colour_images(24, (8, 8)) * 255).astype(np.uint8),
             labels=np.arange(24) % 2)
    for option, channels in (([], 3), (["--grayscale"], 1)):
        out = tmp_path / f"m{channels}.pt"
        assert main(["train", "--dataset", str(tmp_path / "pics.npz"), "--model", "tiny-mlp", "--epochs", "1",
                     "--batch-size", "8", "--out", str(out), *option]) == 0
        assert load_model(out).config.channels == channels
        assert torch.load(out, weights_only=True)["model_config"]["channels"] == channels
    capsys.readouterr()


@pytest.mark.slow
def test_cli_eval_reports_the_disentanglement_of_a_shapes_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(SHAPES_SETS, "shapes-32", (32, 400))
    monkeypatch.setenv("VAE_DATA_ROOT", str(tmp_path / "data"))
    config = ModelConfig(kind="conv", image_shape=(32, 32), channels=3, latent_dim=4, conv_channels=(4, 8),
                         conv_hidden=8)
    module = build_model(config, seed=0)
    save_checkpoint(tmp_path / "s.pt", module, dataset="shapes-32", class_names=vae.data.shapes.SHAPE_NAMES)
    assert main(["eval", str(tmp_path / "s.pt"), "--json", "--samples", "2"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    dataset = load_dataset("shapes-32")
    means, _ = LatentModel(module).encode(dataset.test_images)
    assert printed["mig"] == pytest.approx(mig(means, dataset.test_factors), abs=1e-9)  # computed independently here
    assert 0 <= printed["dci_disentanglement"] <= 1 and 0 <= printed["dci_informativeness"] <= 1
    assert main(["eval", str(tmp_path / "s.pt"), "--samples", "2"]) == 0
    assert "MIG" in capsys.readouterr().out
