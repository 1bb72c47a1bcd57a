"""Checkpoints: round trip, atomic save, safe load, clear errors, classic import, safe names."""
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from conftest import (
    HOSTILE_MESSAGES,
    LOAD_BOMB_MESSAGES,
    RAN_CODE_MARKER,
    SETTINGS_BOMBS,
    RunsCode,
    make_bad_checkpoints,
)
from vae.config import History, ModelConfig, TrainConfig, parameter_count, weight_shapes
from vae.errors import CheckpointError, TrainingError
from vae.files import checkpoint_path, sanitize_name
from vae.io.catalog import read_info
from vae.io.checkpoints import load_model, read_checkpoint, save_checkpoint
from vae.io.listing import delete_checkpoint, list_checkpoints, scan_checkpoints
from vae.io.schema import FORMAT_VERSION
from vae.models import build_model, count_parameters
from vae.presets import PRESETS

REPO_ROOT = Path(__file__).resolve().parent.parent


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


def test_a_pickle_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"format": "vae-latent-explorer", "payload": RunsCode()}, path)
    with pytest.raises(CheckpointError, match="run code"):
        load_model(path)
    assert not (tmp_path / RAN_CODE_MARKER).exists()


def test_a_plain_pickle_file_is_refused_without_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(RunsCode(), protocol=2))
    with pytest.raises(CheckpointError):
        load_model(path)
    assert not (tmp_path / RAN_CODE_MARKER).exists()


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


# ---------------------------------------------------------------- hostile fields and bombs (issue 11, section 2)


@pytest.mark.parametrize("kind", sorted(HOSTILE_MESSAGES))
def test_each_hostile_field_is_refused_with_its_reason(tmp_path, hostile_files, kind):
    path = tmp_path / f"{kind}.pt"
    path.write_bytes(hostile_files[kind])
    for read in (read_checkpoint, load_model):
        with pytest.raises(CheckpointError) as refused:
            read(path)
        assert str(refused.value).startswith(f"{kind}.pt") and HOSTILE_MESSAGES[kind] in str(refused.value)


@pytest.mark.parametrize("kind", sorted(SETTINGS_BOMBS))
def test_a_settings_bomb_is_refused_before_any_model_is_built(tmp_path, monkeypatch, hostile_files, kind):
    path = tmp_path / f"{kind}.pt"
    path.write_bytes(hostile_files[kind])

    def refuse(*args, **kwargs):
        raise AssertionError("a model was built or a weight was read")

    monkeypatch.setattr("vae.io.checkpoints.build_model", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    with pytest.raises(CheckpointError, match=HOSTILE_MESSAGES[kind]):
        load_model(path)


@pytest.mark.parametrize("kind", sorted(LOAD_BOMB_MESSAGES))
def test_a_load_bomb_is_refused_before_torch_reads_it(tmp_path, monkeypatch, load_bombs, kind):
    path = tmp_path / f"{kind}.pt"
    path.write_bytes(load_bombs[kind])
    read_by_torch = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: read_by_torch.append(1) or real_load(*args, **kwargs))
    with pytest.raises(CheckpointError, match=LOAD_BOMB_MESSAGES[kind]):
        read_checkpoint(path)
    assert read_by_torch == ([1] if kind == "memo-index-2-gib" else [])  # that one is harmless to torch's unpickler


@pytest.mark.parametrize("kind", sorted(set(LOAD_BOMB_MESSAGES) - {"memo-index-2-gib"}))
def test_the_import_path_refuses_a_load_bomb_before_torch_reads_it(tmp_path, monkeypatch, load_bombs, kind):
    from vae.io.foreign import detect_file, import_file

    path = tmp_path / f"{kind}.pt"
    path.write_bytes(load_bombs[kind])
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: pytest.fail("torch.load ran on a load bomb"))
    for read in (import_file, detect_file):
        with pytest.raises(CheckpointError, match=LOAD_BOMB_MESSAGES[kind]):
            read(path)


_MEMORY_CHILD = """
import json, resource, sys
from pathlib import Path
import vae.io.checkpoints, vae.io.listing  # torch and the app's modules are loaded: the baseline

def virtual_bytes():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))

# A safety net for the machine should a bomb go off: beyond 1.5 GiB more, allocations fail instead.
resource.setrlimit(resource.RLIMIT_AS, (virtual_bytes() + 3 * 2**29, resource.RLIM_INFINITY))
baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = {}
for path in sorted(Path(sys.argv[1]).glob("*.pt")):
    try:
        vae.io.checkpoints.load_model(path)
        message = "loaded"
    except BaseException as error:
        message = f"{type(error).__name__}: {error}"
    report[path.stem] = [message, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_kib]
problems = {info.name: info.problem for info in vae.io.listing.scan_checkpoints(sys.argv[1])}
report["(listing)"] = [json.dumps(problems), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_kib]
print(json.dumps(report))
"""
MAX_PEAK_GROWTH_KIB = 100 * 1024  # refusing a bomb may cost a little; the bombs ask for 1 to 25 GB


@pytest.mark.slow
def test_bombs_are_refused_with_little_memory(tmp_path, hostile_files, load_bombs):
    """Every settings and load bomb, loaded and then listed in a fresh process: the peak memory barely grows."""
    folder = tmp_path / "bombs"
    folder.mkdir()
    bombs = {**{kind: hostile_files[kind] for kind in SETTINGS_BOMBS}, **load_bombs}
    for kind, payload in bombs.items():
        (folder / f"{kind}.pt").write_bytes(payload)
    result = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(folder)], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=600)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    expected = {**{kind: HOSTILE_MESSAGES[kind] for kind in SETTINGS_BOMBS}, **LOAD_BOMB_MESSAGES}
    for kind, words in expected.items():
        message, growth_kib = report[kind]
        assert message.startswith("CheckpointError: ") and words in message, (kind, message)
        assert "Allocator" not in message and str(tmp_path) not in message
    problems = json.loads(report["(listing)"][0])
    assert set(problems) == set(expected) and all(problems.values())
    assert max(growth for _, growth in report.values()) < MAX_PEAK_GROWTH_KIB, report


def test_what_save_writes_always_loads_again(tmp_path, tiny_model):
    """save_checkpoint checks what it writes as a load would: a file the loader refuses is never written."""
    with pytest.raises(CheckpointError, match="class names"):
        _save(tmp_path, tiny_model, class_names=["x" * 1000])
    with pytest.raises(CheckpointError, match="metrics"):
        _save(tmp_path, tiny_model, metrics={"x" * 1000: 1.0})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("config", [
    *PRESETS.values(),
    ModelConfig(kind="conv", image_shape=(13, 7), latent_dim=3, conv_channels=(2, 3, 5), conv_hidden=6),
    ModelConfig(kind="mlp", image_shape=(5, 9), latent_dim=1, hidden_sizes=(7, 3, 2), likelihood="gaussian"),
    ModelConfig(kind="conv", image_shape=(4, 4), latent_dim=64, conv_channels=(1,) * 8, conv_hidden=1),
    ModelConfig(kind="mlp", image_shape=(6, 5), latent_dim=3, hidden_sizes=(9, 4), decoder_hidden_sizes=(5, 7, 2)),
    ModelConfig(kind="keras-conv", image_shape=(9, 11), latent_dim=3, hidden_sizes=(6, 5), decoder_hidden_sizes=(4,),
                conv_layers=((2, 3, 1), (3, 5, 2)), deconv_layers=((4, 3, 3), (1, 1, 1)), map_channels=3),
    ModelConfig(kind="mlp", image_shape=(5, 9), channels=3, latent_dim=2, hidden_sizes=(7,)),  # colour (issue 17)
    ModelConfig(kind="conv", image_shape=(13, 7), channels=3, latent_dim=3, conv_channels=(2, 5), conv_hidden=6),
    ModelConfig(kind="keras-conv", image_shape=(9, 11), channels=3, latent_dim=3, hidden_sizes=(6,),
                conv_layers=((2, 3, 1), (3, 5, 2)), deconv_layers=((4, 3, 2), (3, 1, 1)), map_channels=3),
])
def test_weight_shapes_from_the_settings_are_those_of_the_built_model(config):
    built = {key: tuple(value.shape) for key, value in build_model(config).state_dict().items()}
    assert weight_shapes(config) == built
    assert parameter_count(config) == count_parameters(build_model(config))


@pytest.mark.parametrize("changes", [
    {"latent_dim": 65}, {"latent_dim": 0}, {"image_shape": (3, 28)}, {"image_shape": (28, 257)},
    {"hidden_sizes": (4097,)}, {"hidden_sizes": (0,)}, {"hidden_sizes": (8,) * 9}, {"hidden_sizes": ()},
    {"kind": "conv", "conv_channels": (4097,)}, {"kind": "conv", "conv_channels": (2,) * 9},
    {"kind": "conv", "conv_hidden": 4097}, {"gaussian_std": 0.0}, {"gaussian_std": 101.0},
    {"gaussian_std": float("inf")}, {"image_shape": (256, 256), "hidden_sizes": (1024,)},
    {"decoder_hidden_sizes": (300_000,)}, {"decoder_hidden_sizes": (8,) * 9}, {"input_scale": 0.0},
    {"input_shift": float("nan")}, {"input_scale": 1e300}, {"output_activation": "tanh"},
    {"kind": "keras-conv", "map_channels": 100_000}, {"kind": "keras-conv", "conv_layers": ((100_000, 3, 1),)},
    {"kind": "keras-conv", "conv_layers": ((8, 3, 1),) * 20_000}, {"kind": "keras-conv", "deconv_layers": ((1, 99, 1),)},
    {"kind": "keras-conv", "deconv_layers": ((8, 3, 2), (3, 3, 1))}, {"kind": "keras-conv", "conv_layers": ((8, 3),)},
    {"channels": 0}, {"channels": 2}, {"channels": 4}, {"channels": 3.0}, {"channels": True},
    {"kind": "keras-conv", "channels": 3},  # its last transposed conv still gives one grey map
])
def test_every_model_setting_is_bounded(changes):
    with pytest.raises(TrainingError):
        ModelConfig(**changes)


@pytest.mark.parametrize("changes", [
    {"epochs": 0}, {"epochs": -3}, {"epochs": 10_001}, {"epochs": 2.5}, {"batch_size": 65_537},
    {"learning_rate": float("nan")}, {"learning_rate": 0.0}, {"beta": float("inf")}, {"seed": 2**70},
    {"seed": -1}, {"seed": True}, {"device": "tpu"}, {"epochs": "10"},
])
def test_every_training_setting_is_bounded(changes):
    with pytest.raises(TrainingError):
        TrainConfig(**changes)


def _bad_files(tmp_path, hostile_files, load_bombs) -> dict[str, Path]:
    files = {**make_bad_checkpoints(tmp_path), **hostile_files, **load_bombs}
    paths = {}
    for kind, payload in files.items():
        paths[kind] = tmp_path / "models" / f"{kind}.pt"
        paths[kind].parent.mkdir(exist_ok=True)
        paths[kind].write_bytes(payload)
    paths["missing"] = tmp_path / "models" / "missing.pt"
    (tmp_path / "models" / "folder.pt").mkdir()
    paths["folder"] = tmp_path / "models" / "folder.pt"
    return paths


@pytest.mark.slow
def test_messages_name_no_server_folder(tmp_path, monkeypatch, hostile_files, load_bombs):
    """No error message of the loader or the listing shows where the app keeps its files."""
    monkeypatch.chdir(tmp_path)
    folders = {str(tmp_path), str(tmp_path.resolve()), str(REPO_ROOT)}
    for kind, path in _bad_files(tmp_path, hostile_files, load_bombs).items():
        for read in (read_checkpoint, load_model, read_info):
            with pytest.raises(CheckpointError) as refused:
                read(path)
            message = str(refused.value)
            assert not any(folder in message for folder in folders) and "Allocator" not in message, (kind, message)
    for info in scan_checkpoints(tmp_path / "models"):
        assert info.problem and not any(folder in info.problem for folder in folders)
