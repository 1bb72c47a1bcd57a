"""The command line: train, eval --json, info, and one-line errors."""
import json
import subprocess
import sys

import pytest
import torch

from conftest import BAD_CHECKPOINT_MESSAGES, make_bad_checkpoints
from vae.__main__ import main


def test_train_eval_info_round_trip(tmp_path, capsys):
    out = tmp_path / "digits.pt"
    code = main(["train", "--dataset", "digits", "--model", "tiny-mlp", "--latent-dim", "3", "--epochs", "1", "--out", str(out)])
    assert code == 0 and out.is_file()
    assert "test ELBO" in capsys.readouterr().out
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


@pytest.mark.parametrize("kind", sorted(BAD_CHECKPOINT_MESSAGES))
@pytest.mark.parametrize("command", ["eval", "info"])
def test_each_bad_checkpoint_gives_one_clear_line(tmp_path, capsys, monkeypatch, kind, command):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"{kind}.pt"
    path.write_bytes(make_bad_checkpoints(tmp_path)[kind])
    assert main([command, str(path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error:") and BAD_CHECKPOINT_MESSAGES[kind] in error
    assert error.count("\n") == 1 and "Traceback" not in error
    assert not (tmp_path / "ran-code-marker").exists()
