"""Training in several processes: ``python -m vae train`` under torchrun (DDP, gloo on the CPU), and world_size."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vae.io.checkpoints import read_checkpoint, save_checkpoint
from vae.io.schema import MAX_WORLD_SIZE, validate_checkpoint
from vae.errors import CheckpointError
from vae.training.distributed import World

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAIN = ["train", "--dataset", "digits", "--model", "classic-mlp", "--latent-dim", "2", "--epochs", "8",
         "--batch-size", "64", "--seed", "0"]
# How far the two runs' test ELBO (nats per image, on the first 500 digits test images) may differ, and their weights.
# Both runs see the same batches in the same order with the same noise (vae.training.distributed): each of the 2
# processes takes half of every batch of 64 and DDP adds the halves' gradients, so only the order of float additions
# differs. Measured over these 8 epochs: weights within 3e-7 of each other and the same ELBO to 1e-10, while two
# single-process runs with seeds 0 and 1 end 0.15 nats (and weights 1.45) apart. 0.01 nats is 15 times below what
# another seed gives (a run that trained each process on the whole batch, or on half of the data, fails it), and far
# above rounding drift, which could grow with other BLAS thread counts but not by four orders of magnitude.
ELBO_TOLERANCE = 0.01
WEIGHT_TOLERANCE = 1e-3


def run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}  # as torchrun sets it: one thread per process
    result = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
                            env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.mark.slow
def test_torchrun_with_two_processes_trains_as_one_process_does_and_saves_once(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    single = run("-m", "vae", *TRAIN, "--out", str(tmp_path / "one" / "model.pt"))
    double = run("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "vae", *TRAIN,
                 "--out", str(tmp_path / "two" / "model.pt"))
    saved_lines = [line for line in double.stdout.splitlines() if line.startswith("saved ") and "model.pt (" in line]
    assert len(saved_lines) == 1 and "trained by 2 processes" in saved_lines[0], double.stdout  # process 0 alone
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["model.codes.npz", "model.pt",
                                                                    "model.timelapse.npz"]
    one, two = read_checkpoint(tmp_path / "one" / "model.pt"), read_checkpoint(tmp_path / "two" / "model.pt")
    assert one["world_size"] == 1 and two["world_size"] == 2
    assert len(two["history"]["train_loss"]) == 8 and two["train_config"]["batch_size"] == 64
    difference = abs(one["metrics"]["test_elbo"] - two["metrics"]["test_elbo"])
    assert difference <= ELBO_TOLERANCE, (one["metrics"]["test_elbo"], two["metrics"]["test_elbo"])
    largest = max(float((one["state_dict"][key] - two["state_dict"][key]).abs().max()) for key in one["state_dict"])
    assert largest <= WEIGHT_TOLERANCE
    assert one["metrics"]["test_elbo"] > -35  # it learned: untrained, 64 pixels at about 0.69 nats each give -45
    info = run("-m", "vae", "info", str(tmp_path / "two" / "model.pt")).stdout
    assert "processes   2 (torchrun; world_size)" in info


def test_each_process_takes_its_share_of_a_batch():
    for count in (0, 1, 2, 63, 64, 65, 128):
        for size in (1, 2, 3, 8):
            shares = [World(rank=rank, size=size).share(count) for rank in range(size)]
            rows = [row for share in shares for row in range(count)[share]]
            assert rows == list(range(count))  # every row once, in order: contiguous shares
            lengths = [share.stop - share.start for share in shares]
            assert max(lengths) - min(lengths) <= -(-count // size)  # as even as the split allows
            assert max(lengths) == -(-count // size) or count == 0


def payload(tiny_model, **extra) -> dict:
    return {"format": "vae-latent-explorer", "format_version": 1, "model_config": tiny_model.config.to_dict(),
            "state_dict": tiny_model.state_dict(), **extra}


def test_world_size_is_checked_and_old_files_read_as_one_process(tiny_model, tmp_path):
    assert validate_checkpoint(payload(tiny_model), "old.pt")["world_size"] == 1  # saved before it was recorded
    assert validate_checkpoint(payload(tiny_model, world_size=4), "four.pt")["world_size"] == 4
    for bad in (0, -1, MAX_WORLD_SIZE + 1, 1.5, True, "2", [2]):
        with pytest.raises(CheckpointError, match="world_size"):
            validate_checkpoint(payload(tiny_model, world_size=bad), "bad.pt")
    path = save_checkpoint(tmp_path / "two.pt", tiny_model, dataset="digits", class_names=(), world_size=2)
    assert read_checkpoint(path)["world_size"] == 2
    assert torch.load(path, weights_only=True)["world_size"] == 2
