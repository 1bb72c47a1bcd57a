"""The command line: train, eval --json, info, codes, and one-line errors."""
import json
import math
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import BAD_CHECKPOINT_MESSAGES, HOSTILE_MESSAGES, RAN_CODE_MARKER, make_bad_checkpoints
from vae.__main__ import main
from vae.config import History
from vae.data import dataset_version, load_dataset
from vae.files import codes_path
from vae.io.checkpoints import load_model, save_checkpoint
from vae.io.codes import read_test_codes

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
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
    assert "processes   1 (one process; world_size)" in info


@pytest.mark.slow
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


@pytest.mark.slow
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
    assert not (tmp_path / RAN_CODE_MARKER).exists()


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


@pytest.mark.slow
@pytest.mark.parametrize("command", ["codes", "eval"])
def test_a_model_for_other_image_sizes_is_one_line_exit_2(tmp_path, tiny_model, capsys, command):
    path = save_checkpoint(tmp_path / "small.pt", tiny_model, dataset="mnist-5k", class_names=[str(i) for i in range(10)])
    assert main([command, str(path)]) == 2  # 8x8 model, 28x28 images
    error = capsys.readouterr().err
    assert error.startswith("error:") and "28x28" in error and "8x8" in error and error.count("\n") == 1
    assert not codes_path(path).exists()


def test_codes_of_a_missing_file_is_one_line_exit_2(tmp_path, capsys):
    assert main(["codes", str(tmp_path / "nope.pt")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error:") and error.count("\n") == 1


# ------------------------------------------------------------------ hostile files and bad numbers (issue 11)

ESCAPES = "\x1b[31mRED\x1b]0;pwned\x07\x9b2J\u202eevil\u200b\r"


@pytest.mark.parametrize("kind", sorted(HOSTILE_MESSAGES))
def test_each_hostile_checkpoint_gives_one_clear_line(tmp_path, capsys, hostile_files, kind):
    path = tmp_path / f"{kind}.pt"
    path.write_bytes(hostile_files[kind])
    for command in ("info", "eval", "codes"):
        assert main([command, str(path)]) == 2
        error = capsys.readouterr().err
        assert error.startswith("error:") and HOSTILE_MESSAGES[kind] in error
        assert error.count("\n") == 1 and "Traceback" not in error


@pytest.mark.parametrize("argv", [
    ["train", "--dataset", "digits", "--seed", str(2**70)],
    ["train", "--dataset", "digits", "--seed", "2**70"],
    ["train", "--dataset", "digits", "--seed", "-1"],
    ["train", "--dataset", "digits", "--epochs", "-3"],
    ["train", "--dataset", "digits", "--epochs", "1e3"],
    ["train", "--dataset", "digits", "--batch-size", str(10**9)],
    ["train", "--dataset", "digits", "--lr", "nan"],
    ["train", "--dataset", "digits", "--lr", "inf"],
    ["train", "--dataset", "digits", "--beta", "-inf"],
    ["train", "--dataset", "digits", "--latent-dim", "0"],
    ["train", "--dataset", "digits", "--latent-dim", "99999999999999999999999"],
    ["train", "--dataset", "digits", "--model", "mlp", "--hidden", "16,abc"],
    ["train", "--dataset", "digits", "--model", "mlp", "--hidden", "300000"],
    ["train", "--dataset", "digits", "--model", "mlp", "--hidden", ",".join(["4"] * 20_000)],
    ["train", "--dataset", "digits", "--likelihood", "poisson"],
    ["train", "--dataset", "digits", "--model", "transformer"],
    ["train", "--dataset", "digits"],  # no --out
    ["train", "--dataset", "digits", "--unknown-option", "1"],
    ["eval", "PATH", "--samples", "0"],
    ["eval", "PATH", "--samples", str(2**70)],
    ["eval", "PATH", "--samples", "5001"],
    ["train", "--dataset", "digits", "--kl-warmup", "-1"],
    ["train", "--dataset", "digits", "--kl-warmup", "2.5"],
    ["train", "--dataset", "digits", "--free-bits", "-0.5"],
    ["train", "--dataset", "digits", "--free-bits", "11"],
    ["train", "--dataset", "digits", "--free-bits", "nan"],
    ["fly"],
    [],
])
def test_every_bad_input_gives_one_error_line_and_exit_2(tmp_path, capsys, tiny_model, argv):
    checkpoint = save_checkpoint(tmp_path / "m.pt", tiny_model, dataset="digits", class_names=list("0123456789"))
    if argv[:1] == ["train"] and "--unknown-option" not in argv and argv != ["train", "--dataset", "digits"]:
        argv = [*argv, "--out", str(tmp_path / "out.pt")]
    argv = [str(checkpoint) if part == "PATH" else part for part in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err and not (tmp_path / "out.pt").exists()


def test_an_unwritable_output_folder_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(["train", "--dataset", "digits", "--model", "tiny-mlp", "--epochs", "1",
                 "--out", str(blocker / "model.pt")])
    error = capsys.readouterr().err
    assert code == 2 and error.startswith("error: ") and error.count("\n") == 1 and "Traceback" not in error


def _escaping_checkpoint(folder, model):
    return save_checkpoint(folder / "escapes.pt", model, dataset=f"digits{ESCAPES}",
                           class_names=[f"class{ESCAPES}{i}" for i in range(10)],
                           history=History(train_loss=[1.0], test_elbo=[-2.0], message=f"done{ESCAPES}"),
                           metrics={f"score{ESCAPES}": 1.0})


@pytest.mark.slow
def test_info_prints_no_control_characters(tmp_path, tiny_model):
    """A checkpoint's strings could recolour the terminal, set its title or hide text; info prints them inert."""
    path = _escaping_checkpoint(tmp_path, tiny_model)
    result = subprocess.run([sys.executable, "-m", "vae", "info", str(path)], capture_output=True, text=True,
                            cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    visible = "[31mRED]0;pwned2Jevil"  # what is left of the escapes: the printable characters
    assert f"digits{visible}" in result.stdout and f"done{visible}" in result.stdout
    assert f"class{visible}9" in result.stdout and f"score{visible} = 1" in result.stdout
    controls = [char for char in result.stdout if char != "\n" and unicodedata.category(char) in ("Cc", "Cf")]
    assert controls == []
    # file, dataset, classes, created, model, training, processes, one epoch, the message, one metric: a "\r" or a
    # newline inside a value never starts a line of its own
    assert len(result.stdout.splitlines()) == 10


@pytest.mark.slow
def test_a_bad_number_in_a_real_process_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vae", "train", "--dataset", "digits", "--seed", str(2**70),
                             "--out", str(tmp_path / "x.pt")], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and "seed" in result.stderr


@pytest.mark.slow
def test_train_with_warm_up_free_bits_and_continuous_bernoulli_keeps_them_in_the_checkpoint(tmp_path, capsys):
    out = tmp_path / "cb.pt"
    assert main(["train", "--dataset", "digits", "--model", "mlp", "--hidden", "16", "--latent-dim", "2", "--epochs", "2",
                 "--likelihood", "continuous-bernoulli", "--kl-warmup", "3", "--free-bits", "0.25",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "continuous-bernoulli" in printed and "entropy floor" not in printed  # a density: no Bernoulli floor
    model = load_model(out)
    assert model.config.likelihood == "continuous-bernoulli"
    assert (model.train_config.kl_warmup, model.train_config.free_bits) == (3, 0.25)


def test_eval_says_the_grey_images_entropy_floor_and_the_gap(tmp_path, capsys, tiny_model):
    """The 8x8 digits are grey levels: eval names their Bernoulli entropy floor, computed here with scipy."""
    from scipy.stats import bernoulli

    path = save_checkpoint(tmp_path / "m.pt", tiny_model, dataset="digits", class_names=list("0123456789"))
    assert main(["eval", str(path), "--samples", "3"]) == 0
    printed = capsys.readouterr().out
    test = load_dataset("digits").test_images[:500].astype(np.float64)
    floor = float(np.mean(bernoulli(np.clip(test, 0, 1)).entropy().reshape(len(test), -1).sum(axis=1)))
    assert f"entropy floor  {floor:.2f} nats/image" in printed and "grey levels, not binary" in printed
    assert main(["eval", str(path), "--samples", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert math.isclose(result["entropy_floor"], floor, rel_tol=1e-9) and result["nll_samples"] == 3
    assert math.isclose(result["elbo_nll_gap"], -result["test_elbo"] - result["nll"], abs_tol=1e-9)
    line = next(text for text in printed.splitlines() if text.startswith("above floor"))
    assert math.isclose(float(line.split()[2]), -result["test_elbo"] - floor, abs_tol=0.006)


def test_eval_samples_reach_5000_through_the_bounded_estimate(tmp_path, capsys, tiny_model, monkeypatch):
    """--samples 5000 is accepted and reaches vae.analysis.scores' batched estimate (memory bounded), not the
    unbatched one."""
    import vae.analysis.metrics

    seen = []
    real = vae.analysis.metrics.bounded_nll

    def spy(model, images, samples, seed, batch_size):
        seen.append((samples, batch_size))
        return real(model, images[:2], samples, seed, batch_size=batch_size)

    monkeypatch.setattr(vae.analysis.metrics, "bounded_nll", spy)
    monkeypatch.setattr(vae.analysis.metrics, "importance_sampled_nll", None)  # must not be called
    path = save_checkpoint(tmp_path / "m.pt", tiny_model, dataset="digits", class_names=list("0123456789"))
    assert main(["eval", str(path), "--samples", "5000", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["nll_samples"] == 5000
    samples, batch = seen[0]
    assert samples == 5000 and batch * samples * tiny_model.config.latent_dim <= vae.analysis.scores.NOISE_BUDGET
