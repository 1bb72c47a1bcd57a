"""Checkpoints: round trip, atomic save, safe load, clear errors, classic import, safe names."""
import os
import pickle

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from vae.checkpoints import (
    FORMAT_VERSION,
    checkpoint_path,
    delete_checkpoint,
    list_checkpoints,
    load_model,
    read_checkpoint,
    sanitize_name,
    save_checkpoint,
)
from vae.config import ModelConfig, TrainConfig
from vae.errors import CheckpointError
from vae.models import build_model
from vae.training import History


class ClassicVAE(nn.Module):
    """The model of pytorch/examples vae/main.py, with a configurable latent size."""

    def __init__(self, latent: int = 20):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, latent)
        self.fc22 = nn.Linear(400, latent)
        self.fc3 = nn.Linear(latent, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))


def _save(tmp_path, model, name="model.pt", **extra):
    defaults = dict(dataset="digits", class_names=[str(i) for i in range(10)])
    return save_checkpoint(tmp_path / name, model, **{**defaults, **extra})


def test_round_trip_keeps_weights_config_and_metadata(tmp_path, tiny_model, tiny_images):
    history = History(train_loss=[5.0], test_elbo=[-4.0])
    path = _save(tmp_path, tiny_model, train_config=TrainConfig(epochs=3), history=history, metrics={"test_elbo": -4.0})
    loaded = load_model(path)
    assert loaded.config == tiny_model.config
    assert loaded.train_config == TrainConfig(epochs=3)
    assert loaded.dataset == "digits" and loaded.class_names[3] == "3"
    assert History.from_dict(loaded.history) == history and loaded.metrics == {"test_elbo": -4.0}
    assert read_checkpoint(path)["format_version"] == FORMAT_VERSION
    with torch.no_grad():
        expected = tiny_model.encode(torch.from_numpy(tiny_images))[0].numpy()
    np.testing.assert_array_equal(loaded.encode(tiny_images)[0], expected)


def test_save_is_atomic_when_the_write_fails(tmp_path, tiny_model, monkeypatch):
    path = _save(tmp_path, tiny_model)
    before = path.read_bytes()

    def broken_save(obj, handle, *args, **kwargs):
        handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        _save(tmp_path, build_model(tiny_model.config, seed=5))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # no temp file left behind


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch should-not-exist",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"format": "vae-latent-explorer", "payload": _RunsCode()}, path)
    with pytest.raises(CheckpointError, match="run code"):
        load_model(path)
    assert not (tmp_path / "should-not-exist").exists()


def test_a_plain_pickle_file_is_refused_without_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(_RunsCode(), protocol=2))
    with pytest.raises(CheckpointError):
        load_model(path)
    assert not (tmp_path / "should-not-exist").exists()


def test_truncated_file_gives_a_clear_error(tmp_path, tiny_model):
    path = _save(tmp_path, tiny_model)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(path)


def test_random_bytes_give_a_clear_error(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(path)


def test_newer_format_version_is_refused(tmp_path, tiny_model):
    path = _save(tmp_path, tiny_model)
    raw = torch.load(path, weights_only=True)
    raw["format_version"] = FORMAT_VERSION + 1
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="newer version"):
        load_model(path)


def test_unknown_architecture_is_refused(tmp_path, tiny_model):
    path = _save(tmp_path, tiny_model)
    raw = torch.load(path, weights_only=True)
    raw["model_config"]["kind"] = "transformer"
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="architecture"):
        load_model(path)


def test_mismatched_shapes_are_refused(tmp_path, tiny_model):
    path = _save(tmp_path, tiny_model)
    raw = torch.load(path, weights_only=True)
    raw["state_dict"]["fc_mu.weight"] = torch.zeros(5, 16)
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(path)


def test_a_foreign_state_dict_is_refused(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(CheckpointError, match="classic"):
        load_model(path)


def test_missing_file_gives_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_model(tmp_path / "nope.pt")


@pytest.mark.parametrize("latent", [2, 20, 7])
def test_classic_state_dict_decodes_exactly_as_the_original(tmp_path, latent):
    torch.manual_seed(latent)
    classic = ClassicVAE(latent).eval()
    path = tmp_path / "classic.pt"
    torch.save(classic.state_dict(), path)
    loaded = load_model(path)
    assert loaded.latent_dim == latent and loaded.image_shape == (28, 28)
    z = torch.randn(9, latent)
    with torch.no_grad():
        expected = classic.decode(z).view(-1, 28, 28).numpy()
        images = torch.rand(4, 784)
        expected_mu, expected_logvar = classic.encode(images)
    np.testing.assert_array_equal(loaded.decode(z.numpy()), expected)
    mu, logvar = loaded.encode(images.view(-1, 28, 28).numpy())
    np.testing.assert_array_equal(mu, expected_mu.numpy())
    np.testing.assert_array_equal(logvar, expected_logvar.numpy())


def test_classic_state_dict_with_unsquare_input_is_refused(tmp_path):
    state = ClassicVAE(2).state_dict()
    state["fc1.weight"] = torch.zeros(400, 700)
    state["fc4.weight"], state["fc4.bias"] = torch.zeros(700, 400), torch.zeros(700)  # reads and writes 700 pixels
    path = tmp_path / "odd.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="square"):
        load_model(path)


@pytest.mark.parametrize(
    "name, expected",
    [("my model", "my-model"), ("../../etc/passwd", "etc-passwd"), ("/abs/path.pt", "abs-path"),
     ("..", None), ("C:\\x\\y", "C-x-y"), ("ünïcode ✓", "n-code"), ("a" * 200, "a" * 64), (".hidden", "hidden")],
)
def test_names_cannot_escape_the_folder(tmp_path, name, expected):
    if expected is None:
        with pytest.raises(CheckpointError):
            checkpoint_path(tmp_path, name)
        return
    assert sanitize_name(name) == expected
    path = checkpoint_path(tmp_path, name)
    assert path.parent == tmp_path.resolve() and path.name == f"{expected}.pt"


def test_list_and_delete(tmp_path, tiny_model):
    _save(tmp_path, tiny_model, name="b.pt", metrics={"test_elbo": -12.5})
    _save(tmp_path, tiny_model, name="a.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    infos = list_checkpoints(tmp_path)
    assert [i.name for i in infos] == ["a", "b"]
    assert infos[1].test_elbo == -12.5 and infos[1].latent_dim == 2 and infos[1].dataset == "digits"
    delete_checkpoint(tmp_path, "a")
    assert [i.name for i in list_checkpoints(tmp_path)] == ["b"]
    with pytest.raises(CheckpointError):
        delete_checkpoint(tmp_path, "a")


def test_saved_files_are_small(tmp_path):
    path = _save(tmp_path, build_model(ModelConfig(latent_dim=20, hidden_sizes=(400,))))
    assert path.stat().st_size < 5 * 1024 * 1024


@pytest.mark.parametrize("seed", range(20))
def test_any_random_bytes_give_a_clear_error(tmp_path, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path / "noise.pt"
    path.write_bytes(rng.bytes(int(rng.integers(1, 5000))))
    with pytest.raises(CheckpointError):
        load_model(path)
