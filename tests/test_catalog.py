"""The torch-free checkpoint listing (vae.io.catalog) and the lazy ``vae`` package."""
import ast
import io
import json
import pickle
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

import vae
from conftest import (BAD_CHECKPOINT_MESSAGES, HOSTILE_MESSAGES, LOAD_BOMB_MESSAGES, RAN_CODE_MARKER, RunsCode,
                      make_bad_checkpoints)
from vae.config import History, ModelConfig, TrainConfig
from vae.errors import CheckpointError, VAEError
from vae.io import catalog
from vae.io.catalog import CheckpointInfo, TensorStandIn, read_info, read_settings
from vae.io.checkpoints import read_checkpoint, save_checkpoint
from vae.io.codes import TestCodes as Codes  # aliased: pytest would try to collect a Test* class
from vae.io.codes import codes_path, write_test_codes
from vae.io.listing import delete_checkpoint, list_checkpoints, scan_checkpoints
from vae.io.schema import FORMAT_NAME, FORMAT_VERSION
from vae.models import build_model

REPO_ROOT = Path(__file__).resolve().parent.parent
DIGIT_NAMES = [str(i) for i in range(10)]


def _save(folder, model, name, **extra):
    defaults = dict(dataset="digits", class_names=DIGIT_NAMES)
    return save_checkpoint(folder / name, model, **{**defaults, **extra})


def _listing_read_fully(folder) -> list[CheckpointInfo]:
    """The listing as it was made before vae.io.catalog: every file read in full by torch's safe loader."""
    infos = []
    for path in sorted(Path(folder).glob("*.pt")):
        try:
            raw = read_checkpoint(path)
            config = ModelConfig.from_dict(dict(raw["model_config"]))
        except (VAEError, KeyError, TypeError):
            continue
        elbo = raw.get("metrics", {}).get("test_elbo")
        infos.append(CheckpointInfo(
            name=path.stem, path=path, dataset=str(raw.get("dataset") or "unknown"), latent_dim=config.latent_dim,
            kind=config.kind, test_elbo=None if elbo is None else float(elbo), created=str(raw.get("created") or ""),
            size_bytes=path.stat().st_size, likelihood=config.likelihood,
        ))
    return infos


def _classic_state_dict(pixels: int = 64, hidden: int = 4, latent: int = 3) -> "OrderedDict[str, torch.Tensor]":
    """The classic PyTorch VAE example's state_dict (layers fc1, fc21, fc22, fc3, fc4), small."""
    shapes = {"fc1": (hidden, pixels), "fc21": (latent, hidden), "fc22": (latent, hidden),
              "fc3": (hidden, latent), "fc4": (pixels, hidden)}
    generator = torch.Generator().manual_seed(0)
    state = OrderedDict()
    for layer, (rows, cols) in shapes.items():
        state[f"{layer}.weight"] = torch.randn(rows, cols, generator=generator)
        state[f"{layer}.bias"] = torch.randn(rows, generator=generator)
    return state


def _zip_with(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, payload in entries.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


@pytest.fixture
def mixed_folder(tmp_path, tiny_model):
    """Checkpoints of several kinds, sizes and metadata, plus a classic state_dict."""
    folder = tmp_path / "models"
    conv = build_model(ModelConfig(kind="conv", image_shape=(8, 8), latent_dim=3, conv_channels=(4, 8), conv_hidden=8))
    wide = build_model(ModelConfig(image_shape=(12, 12), latent_dim=7, hidden_sizes=(10, 6), likelihood="gaussian"))
    _save(folder, tiny_model, "b-tiny.pt", metrics={"test_elbo": -12.5, "nll": 11.0},
          train_config=TrainConfig(epochs=3), history=History(train_loss=[3.0], test_elbo=[-12.5]))
    _save(folder, conv, "a-conv.pt", dataset="mnist-5k")
    _save(folder, wide, "c-wide.pt", dataset="", class_names=[])
    torch.save(_classic_state_dict(), folder / "d-classic.pt")
    torch.save(_classic_state_dict(pixels=784), folder / "e-classic-mnist.pt")
    return folder


# ---------------------------------------------------------------- listing


def test_listing_matches_reading_each_file_fully(mixed_folder):
    infos = list_checkpoints(mixed_folder)
    assert infos == _listing_read_fully(mixed_folder)
    assert [i.name for i in infos] == ["a-conv", "b-tiny", "c-wide", "d-classic", "e-classic-mnist"]
    by_name = {info.name: info for info in infos}
    assert (by_name["a-conv"].kind, by_name["a-conv"].latent_dim, by_name["a-conv"].dataset) == ("conv", 3, "mnist-5k")
    assert by_name["b-tiny"].test_elbo == -12.5 and by_name["a-conv"].test_elbo is None
    assert by_name["c-wide"].dataset == "unknown" and by_name["c-wide"].latent_dim == 7
    assert by_name["c-wide"].likelihood == "gaussian" and by_name["a-conv"].likelihood == "bernoulli"
    assert by_name["b-tiny"].created == read_checkpoint(by_name["b-tiny"].path)["created"] != ""
    assert all(info.size_bytes == info.path.stat().st_size for info in infos)


def test_classic_state_dict_is_listed_through_the_full_loader(mixed_folder):
    by_name = {info.name: info for info in list_checkpoints(mixed_folder)}
    classic, classic_mnist = by_name["d-classic"], by_name["e-classic-mnist"]
    assert (classic.kind, classic.latent_dim, classic.dataset, classic.test_elbo, classic.created) == (
        "mlp", 3, "unknown", None, "")
    assert classic_mnist.dataset == "unknown"  # an imported model's dataset is asked for, never assumed (issue 14)
    with pytest.raises(CheckpointError, match="format"):
        read_info(mixed_folder / "d-classic.pt")  # not ours: only the fallback can list it


def test_files_in_our_format_are_listed_without_the_full_loader(mixed_folder, monkeypatch):
    def refuse(path):
        raise AssertionError(f"the full loader read {path}")

    (mixed_folder / "d-classic.pt").unlink()
    (mixed_folder / "e-classic-mnist.pt").unlink()
    monkeypatch.setattr("vae.io.checkpoints.read_checkpoint", refuse)
    assert [i.name for i in list_checkpoints(mixed_folder)] == ["a-conv", "b-tiny", "c-wide"]


def test_read_settings_keeps_settings_and_replaces_tensors(tmp_path, tiny_model):
    raw = read_settings(_save(tmp_path, tiny_model, "m.pt"))
    assert raw["format"] == FORMAT_NAME and raw["format_version"] == FORMAT_VERSION
    assert raw["model_config"] == tiny_model.config.to_dict() and raw["class_names"] == DIGIT_NAMES
    weights = raw["state_dict"]
    assert set(weights) == set(tiny_model.state_dict())
    assert all(isinstance(value, TensorStandIn) for value in weights.values())
    assert weights["fc_mu.weight"].shape == tuple(tiny_model.state_dict()["fc_mu.weight"].shape)


def test_each_bad_checkpoint_is_listed_as_unreadable_with_its_reason(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source, folder = tmp_path / "source", tmp_path / "models"
    source.mkdir()
    folder.mkdir()
    for kind, payload in make_bad_checkpoints(source).items():
        (folder / f"{kind}.pt").write_bytes(payload)
    assert list_checkpoints(folder) == []  # mismatched weights too: their shapes are checked without torch
    problems = {info.name: info.problem for info in scan_checkpoints(folder)}
    assert set(problems) == set(BAD_CHECKPOINT_MESSAGES)
    for kind, words in BAD_CHECKPOINT_MESSAGES.items():
        assert words in problems[kind] and problems[kind].startswith(kind)
    assert not (tmp_path / RAN_CODE_MARKER).exists()


@pytest.mark.slow
def test_listing_keeps_every_good_model_and_marks_each_hostile_one(tmp_path, tiny_model, hostile_files,
                                                                   load_bombs):
    """A file with odd fields, a settings bomb or a load bomb never stops the listing (issue 11)."""
    for name in ("a-good", "z-good"):
        _save(tmp_path, tiny_model, f"{name}.pt", metrics={"test_elbo": -3.0})
    expected = {**HOSTILE_MESSAGES, **LOAD_BOMB_MESSAGES}
    for kind, payload in {**hostile_files, **load_bombs}.items():
        (tmp_path / f"{kind}.pt").write_bytes(payload)
    good = list_checkpoints(tmp_path)
    assert [(info.name, info.test_elbo, info.problem) for info in good] == [("a-good", -3.0, ""), ("z-good", -3.0, "")]
    problems = {info.name: info.problem for info in scan_checkpoints(tmp_path) if info.problem}
    assert set(problems) == set(expected)
    for kind, words in expected.items():
        assert words in problems[kind], (kind, problems[kind])
    for kind in hostile_files:
        with pytest.raises(CheckpointError, match=HOSTILE_MESSAGES[kind]):
            read_info(tmp_path / f"{kind}.pt")


def test_listing_survives_any_error_in_one_file(tmp_path, tiny_model, monkeypatch):
    _save(tmp_path, tiny_model, "good.pt")
    _save(tmp_path, tiny_model, "odd.pt")
    real = catalog.read_settings

    def fails_on_odd(path):
        if Path(path).stem == "odd":
            raise ZeroDivisionError("a bug no one foresaw")
        return real(path)

    monkeypatch.setattr("vae.io.listing.read_settings", fails_on_odd)
    assert [info.name for info in list_checkpoints(tmp_path)] == ["good"]
    odd = [info for info in scan_checkpoints(tmp_path) if info.name == "odd"]
    assert odd[0].problem == "odd.pt could not be read: the file is truncated or corrupt. Save or download it again."


def test_the_check_reads_the_data_pkl_torch_would_read(tmp_path, tiny_model, monkeypatch):
    """torch.load reads the folder of the archive's first entry; a harmless data.pkl elsewhere must not pass a bomb."""
    good = zipfile.ZipFile(_save(tmp_path, tiny_model, "good.pt"))
    entries = {info.filename: good.read(info) for info in good.infolist()}
    bomb = b"\x80\x02c__builtin__\nbytearray\n\x8a\x05\x00\x00\x00\x80\x00\x85R."  # bytearray(2**31)
    (tmp_path / "decoy.pt").write_bytes(_zip_with({"bomb/byteorder": b"little", **entries, "bomb/data.pkl": bomb,
                                                   "bomb/version": b"3\n"}))
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: pytest.fail("torch.load read the bomb"))
    for read in (read_settings, read_checkpoint):
        with pytest.raises(CheckpointError, match="refused"):
            read(tmp_path / "decoy.pt")
    same_name_twice = {**entries, "ARCHIVE/data.pkl": bomb}
    (tmp_path / "twice.pt").write_bytes(_zip_with(same_name_twice))
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_settings(tmp_path / "twice.pt")


@pytest.mark.parametrize("change", ["settings-too-large", "storage-size-differs", "storage-record-missing",
                                    "unknown-storage-type", "sparse-tensor"])
def test_the_declared_sizes_are_checked_before_torch_reads_them(tmp_path, change):
    from conftest import _Storage, _Tensor, crafted_pickle, crafted_torch_zip

    weights = {"w": _Tensor(_Storage("0", 3), (3,))}
    records = {"0": bytes(12)}
    if change == "settings-too-large":
        payload = crafted_torch_zip(crafted_pickle({"x": "y" * (3 * 2**20)}), records)
    elif change == "storage-size-differs":
        payload = crafted_torch_zip(crafted_pickle(weights), {"0": bytes(16)})
    elif change == "storage-record-missing":
        payload = crafted_torch_zip(crafted_pickle(weights))
    elif change == "unknown-storage-type":
        payload = crafted_torch_zip(crafted_pickle({"w": _Tensor(_Storage("0", 3, "QInt8Storage"), (3,))}), records)
    else:
        payload = crafted_torch_zip(b"\x80\x02ctorch._utils\n_rebuild_sparse_tensor\n)R.")
    path = tmp_path / "crafted.pt"
    path.write_bytes(payload)
    with pytest.raises(CheckpointError):
        read_settings(path)
    assert list_checkpoints(tmp_path) == [] and scan_checkpoints(tmp_path)[0].problem


def test_the_runs_code_file_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "runs-code.pt"
    path.write_bytes(make_bad_checkpoints(tmp_path)["runs-code"])
    with pytest.raises(CheckpointError):
        read_settings(path)
    with pytest.raises(CheckpointError):
        read_info(path)
    assert [i.name for i in list_checkpoints(tmp_path)] == ["good"]
    assert not (tmp_path / RAN_CODE_MARKER).exists()


class _CallsTorch:
    """Unpickling this would call torch.save, writing a file."""

    def __reduce__(self):
        return (torch.save, ({"x": 1}, RAN_CODE_MARKER))


def test_the_settings_unpickler_calls_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    evil.write_bytes(_zip_with({"archive/data.pkl": pickle.dumps({"format": FORMAT_NAME, "x": RunsCode()}, 2)}))
    with pytest.raises(CheckpointError):
        read_settings(evil)
    torch_global = tmp_path / "torch-global.pt"
    torch_global.write_bytes(_zip_with({"archive/data.pkl": pickle.dumps({"x": _CallsTorch()}, 2)}))
    with pytest.raises(CheckpointError, match="run code"):  # torch.save is no tensor builder: refused, never called
        read_settings(torch_global)
    assert list_checkpoints(tmp_path) == []
    assert not (tmp_path / RAN_CODE_MARKER).exists()


@pytest.mark.parametrize("payload", [
    b"",
    np.random.default_rng(0).bytes(3000),
    _zip_with({"archive/version": b"3\n", "archive/data/0": b"\0" * 16}),
    _zip_with({"archive/nested/data.pkl": pickle.dumps({"format": FORMAT_NAME}, 2)}),
    pickle.dumps({"format": FORMAT_NAME, "format_version": 1}, 2),
], ids=["empty", "random-bytes", "zip-without-data-pkl", "data-pkl-too-deep", "plain-pickle"])
def test_unreadable_files_are_skipped(tmp_path, tiny_model, payload):
    _save(tmp_path, tiny_model, "good.pt")
    (tmp_path / "bad.pt").write_bytes(payload)
    assert [info.name for info in list_checkpoints(tmp_path)] == ["good"]
    with pytest.raises(CheckpointError):
        read_info(tmp_path / "bad.pt")


def test_a_folder_named_like_a_checkpoint_is_skipped(tmp_path, tiny_model):
    _save(tmp_path, tiny_model, "good.pt")
    (tmp_path / "folder.pt").mkdir()
    assert [info.name for info in list_checkpoints(tmp_path)] == ["good"]


def test_listing_a_missing_folder_is_empty(tmp_path):
    assert list_checkpoints(tmp_path / "nope") == []


def test_delete_removes_the_saved_codes_too(tmp_path, tiny_model):
    keep, gone = _save(tmp_path, tiny_model, "keep.pt"), _save(tmp_path, tiny_model, "gone.pt")
    codes = Codes(np.zeros((3, 2), np.float32), np.arange(3), ("0", "1", "2"), "digits")
    for path in (keep, gone):
        write_test_codes(path, codes, "digits:builtin")
    delete_checkpoint(tmp_path, "gone")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.codes.npz", "keep.pt"]
    assert not codes_path(gone).exists()


def test_delete_without_codes_and_of_a_missing_model(tmp_path, tiny_model):
    _save(tmp_path, tiny_model, "plain.pt")
    delete_checkpoint(tmp_path, "plain")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(CheckpointError, match="no model called"):
        delete_checkpoint(tmp_path, "plain")


# ---------------------------------------------------------------- lazy package

_CHILD = """
import json, sys
folder, path = sys.argv[1], sys.argv[2]
import vae
steps = {"import": "torch" in sys.modules}
assert issubclass(vae.VAEError, Exception)
infos = vae.list_checkpoints(folder)
codes = vae.read_test_codes(path, vae.dataset_version("digits"))
projection = vae.plane_projection(codes.means, codes.means.shape[1])
points = projection.to_2d(codes.means)
figure = vae.plots.latent_scatter(points, codes.labels, codes.class_names, vae.plots.axis_range(points[:, 0]),
                                  vae.plots.axis_range(points[:, 1]))  # the map, drawn from the saved codes
from vae import config, data, errors, files, images, plots, presets
from vae.analysis import diagnostics, disentanglement, likelihoods, overlays, projection as projection_module, selections
from vae.data import shapes
from vae.io import catalog, codes as codes_module, listing as listing_module, schema
steps["no-model"] = "torch" in sys.modules
result = {"steps": steps, "runtime_before": vae.runtime_loaded(), "names": [i.name for i in infos],
          "labels": codes.labels.tolist(),
          "points": sum(len(trace.x) for trace in figure.data if trace.name != plots.GRID_TRACE_NAME)}
model = vae.load_model(path)
result.update(runtime_after=vae.runtime_loaded(), torch_after="torch" in sys.modules, latent=model.latent_dim)
print(json.dumps(result))
"""


@pytest.mark.slow
def test_import_vae_and_its_numpy_parts_do_not_import_torch(tmp_path, tiny_model):
    path = _save(tmp_path, tiny_model, "tiny.pt")
    write_test_codes(path, Codes(np.ones((4, 2), np.float32), np.arange(4), ("a", "b", "c", "d"), "digits"),
                     "digits:builtin")
    result = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path), str(path)], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["steps"] == {"import": False, "no-model": False}
    assert report["runtime_before"] is False
    assert report["names"] == ["tiny"] and report["labels"] == [0, 1, 2, 3] and report["points"] == 4
    assert report["runtime_after"] is True and report["torch_after"] is True and report["latent"] == 2


def test_dir_lists_every_export_and_each_resolves():
    listed = dir(vae)
    for name in vae.__all__:
        assert name in listed
        assert getattr(vae, name) is not None
    assert {"data", "plots", "images", "files", "list_checkpoints", "read_test_codes", "runtime_loaded"} <= set(listed)


def test_editors_see_every_lazy_export_where_it_is_loaded_from():
    """The TYPE_CHECKING block of vae/__init__.py imports each name of _EXPORTS from the module it is loaded from."""
    tree = ast.parse((REPO_ROOT / "vae" / "__init__.py").read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    seen = {alias.name: node.module for node in block.body if isinstance(node, ast.ImportFrom) and node.module != "vae"
            for alias in node.names}
    modules = {alias.name for node in block.body if isinstance(node, ast.ImportFrom) and node.module == "vae"
               for alias in node.names}
    assert seen == vae._EXPORTS
    assert modules == set(vae._SUBMODULES)


def test_an_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        vae.no_such_thing  # noqa: B018
    assert not hasattr(vae, "torch")
    with pytest.raises(ImportError):
        from vae import no_such_module  # noqa: F401

