"""Colour through the app's training process and torchrun: RGB models, their previews, prior samples and time-lapse,
and the grey choice, checked against the saved model's own encoding and decoding."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae.analysis.latent import LatentModel
from vae.config import ModelConfig, TrainConfig
from vae.data import Dataset, load_dataset, save_user_dataset
from vae.data.dataset import LUMINANCE
from vae.images import to_uint8
from vae.io.checkpoints import load_model, read_checkpoint
from vae.io.timelapse import MAX_IMAGES, read_timelapse
from vae.training import jobs, progress

pytestmark = pytest.mark.slow  # each test trains in a process of its own (it imports torch first)

REPO_ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 180  # a run's process imports torch first: seconds on a busy 2-core machine
SIDE = 12  # pixels: small colour pictures, so a run takes a few seconds
UPLOAD = "colours"
EPOCHS = 2
SEED = 3
PIXEL_TOLERANCE = 1 / 255 + 1e-4  # previews are stored as whole 0..255 levels
CODE_TOLERANCE = 2e-2  # the time-lapse keeps codes as float16


def coloured_pictures(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(count, SIDE, SIDE, 3) uint8 pictures: a square of one of three strong colours on black, and its colour."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, count)
    images = np.zeros((count, SIDE, SIDE, 3), np.uint8)
    for index, (label, top, left) in enumerate(zip(labels, rng.integers(0, 6, count), rng.integers(0, 6, count))):
        images[index, top:top + 6, left:left + 6, label] = 255
    return images, labels


@pytest.fixture
def colour_upload(tmp_path, monkeypatch) -> str:
    """A stored colour upload in this test's data root, which the training process finds through VAE_DATA_ROOT."""
    root = tmp_path / "data"
    monkeypatch.setenv("VAE_DATA_ROOT", str(root))
    images, labels = coloured_pictures(240)
    source = tmp_path / "colours.npz"
    np.savez(source, images=images, labels=labels, class_names=np.array(["red", "green", "blue"]))
    return save_user_dataset(source, UPLOAD)


@pytest.fixture(autouse=True)
def no_run_left_behind():
    """Stop every run a test started, even when it failed half-way (no training process outlives the test)."""
    before = set(jobs._STARTED)
    yield
    for job_id in set(jobs._STARTED) - before:
        job = jobs.get_job(job_id)
        if job is not None and job.running:
            job.cancel()
            job.wait(TIMEOUT_S)


def train_through_the_worker(folder: Path, dataset: str | Dataset, name: str) -> tuple[jobs.JobSnapshot, dict]:
    """Train a tiny MLP in the app's training process; the final snapshot and the run's state file."""
    job_id = jobs.start_job(name, dataset, ModelConfig(kind="mlp", latent_dim=2, hidden_sizes=(32,)),
                            TrainConfig(epochs=EPOCHS, batch_size=32, learning_rate=3e-3, seed=SEED), folder)
    job = jobs.get_job(job_id)
    assert job is not None and job.wait(TIMEOUT_S), "the run did not end in time"
    snapshot = job.snapshot()
    assert snapshot.status == "completed", snapshot.message
    state = progress.read_state(folder, job_id)
    assert state is not None
    return snapshot, state


def prior_noise(latent_dim: int) -> np.ndarray:
    """The fixed codes the run decodes after every epoch (vae.training.recorder: the run's seed)."""
    return np.random.default_rng(SEED).standard_normal((progress.PRIOR_SAMPLES, latent_dim), np.float32)


def assert_previews_are_the_models(snapshot: jobs.JobSnapshot, model: LatentModel, test_images: np.ndarray) -> None:
    """Originals, reconstructions and prior samples: each as the saved model (its last epoch) draws them."""
    count = progress.PREVIEW_COUNT
    assert snapshot.preview is not None and snapshot.preview.shape == (2, count, *model.image_dims)
    assert snapshot.preview_epoch == EPOCHS
    np.testing.assert_array_equal(snapshot.preview[0], to_uint8(test_images[:count]) / np.float32(255))
    np.testing.assert_allclose(snapshot.preview[1], model.reconstruct(test_images[:count]), atol=PIXEL_TOLERANCE)
    assert snapshot.samples is not None and snapshot.samples.shape == (progress.PRIOR_SAMPLES, *model.image_dims)
    np.testing.assert_allclose(snapshot.samples, model.decode(prior_noise(model.latent_dim)), atol=PIXEL_TOLERANCE)


def test_a_colour_model_trained_in_the_worker_gives_rgb_previews_samples_and_a_timelapse(tmp_path, colour_upload):
    snapshot, state = train_through_the_worker(tmp_path / "checkpoints", colour_upload, "rgb")
    path = tmp_path / "checkpoints" / f"{snapshot.saved_name}.pt"
    model = load_model(path)
    dataset = load_dataset(colour_upload)
    assert model.channels == 3 and model.image_dims == (SIDE, SIDE, 3) and model.dataset == colour_upload
    assert state["dataset"] == colour_upload
    assert_previews_are_the_models(snapshot, model, dataset.test_images)
    redrawn = snapshot.preview[1]
    assert np.abs(redrawn[..., 0] - redrawn[..., 1]).max() > 0.1  # in colour: the channels differ
    followed = min(len(dataset.test_images), MAX_IMAGES)
    assert snapshot.map_points is not None and snapshot.map_points.shape == (followed, 2)  # the Train page's map
    timelapse = read_timelapse(path)
    assert timelapse is not None and timelapse.epochs.tolist() == list(range(1, EPOCHS + 1))
    assert timelapse.codes is not None and timelapse.codes.shape == (EPOCHS, followed, 2)
    np.testing.assert_allclose(timelapse.codes[-1], model.encode(dataset.test_images[:followed])[0],
                               atol=CODE_TOLERANCE)


def test_the_grey_choice_reaches_the_worker_by_name_and_trains_a_grey_model(tmp_path, colour_upload):
    grey_name = f"{colour_upload}:grey"
    snapshot, state = train_through_the_worker(tmp_path / "checkpoints", grey_name, "grey")
    model = load_model(tmp_path / "checkpoints" / f"{snapshot.saved_name}.pt")
    assert model.channels == 1 and model.dataset == grey_name and state["dataset"] == grey_name
    colour = load_dataset(colour_upload).test_images
    grey = np.clip(colour @ LUMINANCE, 0, 1)  # the luminance of each pixel, computed here
    np.testing.assert_allclose(load_dataset(grey_name).test_images, grey, atol=1e-6)
    assert_previews_are_the_models(snapshot, model, grey)


def test_a_colour_dataset_made_in_memory_is_handed_over_and_the_state_says_colour(tmp_path):
    images, labels = coloured_pictures(200, seed=1)
    pictures = images.astype(np.float32) / 255
    dataset = Dataset(name="made-here", train_images=pictures[:160], train_labels=labels[:160],
                      test_images=pictures[160:], test_labels=labels[160:], class_names=("red", "green", "blue"))
    snapshot, state = train_through_the_worker(tmp_path / "checkpoints", dataset, "in-memory")
    built = ModelConfig.from_dict(state["spec"]["model_config"])
    assert state["spec"]["data_file"] and built.channels == 3 and built.image_shape == (SIDE, SIDE)
    assert not progress.data_file(tmp_path / "checkpoints", state["job_id"]).exists()  # read, then removed
    model = load_model(tmp_path / "checkpoints" / f"{snapshot.saved_name}.pt")
    assert model.config.to_dict() == built.to_dict()
    assert_previews_are_the_models(snapshot, model, dataset.test_images)


def test_torchrun_trains_a_colour_model_and_saves_it_once(tmp_path, colour_upload):
    out = tmp_path / "run" / "rgb.pt"
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}  # as torchrun sets it; VAE_DATA_ROOT holds the upload
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "vae", "train",
         "--dataset", colour_upload, "--model", "mlp", "--latent-dim", "2", "--epochs", "2", "--batch-size", "32",
         "--out", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    saved_lines = [line for line in result.stdout.splitlines() if line.startswith("saved ") and "rgb.pt (" in line]
    assert len(saved_lines) == 1 and "trained by 2 processes" in saved_lines[0], result.stdout  # process 0 alone
    saved = read_checkpoint(out)
    assert saved["world_size"] == 2 and saved["model_config"]["channels"] == 3
    assert sorted(p.name for p in out.parent.iterdir()) == ["rgb.codes.npz", "rgb.pt", "rgb.timelapse.npz"]
    model = load_model(out)
    assert model.channels == 3 and model.dataset == colour_upload
    timelapse = read_timelapse(out)  # the codes of the colour test pictures after each epoch
    assert timelapse is not None and timelapse.epochs.tolist() == [1, 2]
