"""The command line: train, eval --json, info, codes, and one-line errors."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import BAD_CHECKPOINT_MESSAGES, make_bad_checkpoints
from vae.__main__ import main
from vae.checkpoints import load_model, save_checkpoint
from vae.codes import codes_path, read_test_codes
from vae.data import dataset_version, load_dataset


def test_train_eval_info_round_trip(tmp_path, capsys):
    out = tmp_path / "digits.pt"
    code = main(["train", "--dataset", "digits", "--model", "tiny-mlp", "--latent-dim", "3", "--epochs", "1", "--out", str(out)])
    assert code == 0 and out.is_file()
    assert "test ELBO" in capsys.readouterr().out
    saved = read_test_codes(out, dataset_version("digits"))  # train also saves the map's codes
    assert saved is not None and saved.means.shape == (len(load_dataset("digits").test_labels), 3)
    assert main(["eval", str(out), "--json", "--samples", "5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dataset"] == "digits" and result["latent_dim"] == 3
    assert 0.0 <= result["knn_accuracy"] <= 1.0 and result["nll"] > 0
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "digits" in info and '"latent_dim": 3' in info and "epoch    1" in info


def test_custom_hidden_sizes(tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert main(["train", "--dataset", "digits", "--model", "mlp", "--hidden", "32,16", "--epochs", "1", "--out", str(out)]) == 0
    raw = torch.load(out, weights_only=True)
    assert raw["model_config"]["hidden_sizes"] == [32, 16]


def test_user_errors_print_one_line_and_exit_2(tmp_path, capsys):
    assert main(["train", "--dataset", "nope", "--epochs", "1", "--out", str(tmp_path / "x.pt")]) == 2
    assert "mnist-5k" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    assert main(["eval", str(bad)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error:") and "corrupt" in error and "Traceback" not in error
    assert main(["train", "--dataset", "digits", "--latent-dim", "99", "--epochs", "1", "--out", str(tmp_path / "y.pt")]) == 2


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "vae", "--help"], capture_output=True, text=True, check=True)
    assert "train" in result.stdout and "eval" in result.stdout and "info" in result.stdout
    assert "codes" in result.stdout


@pytest.mark.parametrize("kind", sorted(BAD_CHECKPOINT_MESSAGES))
@pytest.mark.parametrize("command", ["eval", "info", "codes"])
def test_each_bad_checkpoint_gives_one_clear_line(tmp_path, capsys, monkeypatch, kind, command):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"{kind}.pt"
    path.write_bytes(make_bad_checkpoints(tmp_path)[kind])
    assert main([command, str(path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error:") and BAD_CHECKPOINT_MESSAGES[kind] in error
    assert error.count("\n") == 1 and "Traceback" not in error
    assert not (tmp_path / "ran-code-marker").exists()


def test_codes_saves_the_test_images_codes_beside_the_checkpoint(tmp_path, tiny_model, capsys):
    path = save_checkpoint(tmp_path / "digits.pt", tiny_model, dataset="digits", class_names=[str(i) for i in range(10)])
    assert read_test_codes(path, dataset_version("digits")) is None
    assert main(["codes", str(path)]) == 0
    assert str(codes_path(path)) in capsys.readouterr().out
    digits = load_dataset("digits")
    saved = read_test_codes(path, dataset_version("digits"))
    assert saved is not None and saved.dataset == "digits" and saved.class_names == digits.class_names
    np.testing.assert_array_equal(saved.labels, digits.test_labels)
    np.testing.assert_array_equal(saved.means, load_model(path).encode(digits.test_images)[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.codes.npz", "digits.pt"]


def test_codes_of_a_checkpoint_without_a_dataset_is_one_line_exit_2(tmp_path, tiny_model, capsys):
    path = save_checkpoint(tmp_path / "nodata.pt", tiny_model, dataset="", class_names=[])
    assert main(["codes", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error:") and "dataset" in error
    assert error.count("\n") == 1 and "Traceback" not in error
    assert not codes_path(path).exists()


@pytest.mark.parametrize("command", ["codes", "eval"])
def test_a_model_for_other_image_sizes_is_one_line_exit_2(tmp_path, tiny_model, capsys, command):
    path = save_checkpoint(tmp_path / "small.pt", tiny_model, dataset="mnist-5k", class_names=[str(i) for i in range(10)])
    assert main([command, str(path)]) == 2  # 8x8 model, 28x28 images
    error = capsys.readouterr().err
    assert error.startswith("error:") and "(28, 28)" in error and error.count("\n") == 1
    assert not codes_path(path).exists()


def test_codes_of_a_missing_file_is_one_line_exit_2(tmp_path, capsys):
    assert main(["codes", str(tmp_path / "nope.pt")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error:") and error.count("\n") == 1
