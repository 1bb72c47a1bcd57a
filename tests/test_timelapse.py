"""The training time-lapse: the test images' codes after each epoch, saved beside the checkpoint and read without torch."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import vae
from vae.analysis.projection import pca_projection
from vae.config import ModelConfig, TrainConfig
from vae.data import load_dataset
from vae.files import timelapse_path
from vae.io import timelapse as timelapse_io
from vae.io.timelapse import MAX_FRAMES, MAX_IMAGES, build_timelapse, frame_stride, read_timelapse, write_timelapse
from vae.models import build_model
from vae.training.recorder import EpochRecorder
from vae.training.run import run_training

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_codes_recorded_after_each_epoch_are_the_models_encoding_after_that_epoch(tmp_path):
    digits = load_dataset("digits")
    built, weights = [], {}

    def remember(event):  # the weights after each epoch, to rebuild the model of that epoch independently
        if event.kind == "epoch":
            weights[event.epoch] = {key: value.clone() for key, value in built[0].state_dict().items()}

    config = ModelConfig(kind="mlp", latent_dim=3, hidden_sizes=(32,))  # above 2 dims: a PCA plane
    outcome = run_training(digits, config, TrainConfig(epochs=3, batch_size=128, seed=0), tmp_path / "m.pt",
                           callback=remember, on_built=built.append)
    assert outcome.timelapse_path == timelapse_path(tmp_path / "m.pt")
    recorded = read_timelapse(tmp_path / "m.pt")
    assert recorded.epochs.tolist() == [1, 2, 3] and recorded.latent_dim == 3
    assert np.array_equal(recorded.labels, digits.test_labels[:MAX_IMAGES]) and recorded.dataset == "digits"
    encodings = []
    for epoch in (1, 2, 3):
        model = build_model(ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=3, hidden_sizes=(32,)))
        model.load_state_dict(weights[epoch])
        with torch.no_grad():
            encodings.append(model.eval().encode(torch.as_tensor(digits.test_images[:MAX_IMAGES]))[0].numpy())
    for frame, expected in enumerate(encodings):
        np.testing.assert_allclose(recorded.codes[frame], expected, rtol=1e-3, atol=1e-3)  # stored as float16
        np.testing.assert_allclose(recorded.points[frame], recorded.projection.to_2d(expected), atol=1e-4)
    # The one plane is the PCA plane of the last epoch's codes, computed here independently.
    np.testing.assert_allclose(np.abs(recorded.projection.axes @ pca_projection(encodings[-1]).axes.T), np.eye(2),
                               atol=1e-4)
    x_min, x_max, y_min, y_max = recorded.frame
    inside = ((recorded.points[..., 0] >= x_min) & (recorded.points[..., 0] <= x_max)
              & (recorded.points[..., 1] >= y_min) & (recorded.points[..., 1] <= y_max))
    assert inside.mean() >= 0.99  # one frame holds every epoch's codes


def fake_timelapse(frames: int = 4, count: int = 50, latent_dim: int = 3, seed: int = 0) -> vae.Timelapse:
    rng = np.random.default_rng(seed)
    codes = [rng.standard_normal((count, latent_dim)).astype(np.float32) * (1 + epoch) for epoch in range(frames)]
    return build_timelapse(list(range(1, frames + 1)), codes, rng.integers(0, 3, count), ("a", "b", "c"), "digits")


@pytest.fixture
def saved(tmp_path) -> tuple[Path, vae.Timelapse]:
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"the checkpoint's bytes")
    timelapse = fake_timelapse()
    write_timelapse(checkpoint, timelapse)
    return checkpoint, timelapse


def test_a_timelapse_round_trips(saved):
    checkpoint, written = saved
    read = read_timelapse(checkpoint)
    assert read is not None and read.class_names == ("a", "b", "c") and read.dataset == "digits"
    for field in ("epochs", "points", "labels", "indices"):
        assert np.array_equal(getattr(read, field), getattr(written, field)), field
    np.testing.assert_allclose(read.codes, written.codes, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(read.projection.axes, written.projection.axes)
    assert read.frame == written.frame and read.projection.labels == ("PCA 1", "PCA 2")


def rewrite(path: Path, **changes) -> None:
    """Write the time-lapse file again with some arrays replaced (None: left out)."""
    with np.load(path) as stored:
        arrays = {key: stored[key] for key in stored.files}
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


DAMAGE = {
    "garbage": lambda path: path.write_bytes(b"not a zip at all"),
    "empty": lambda path: path.write_bytes(b""),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),
    "flipped bytes": lambda path: path.write_bytes(bytes(b ^ 0xFF if 200 <= i < 260 else b
                                                         for i, b in enumerate(path.read_bytes()))),
    "missing points": lambda path: rewrite(path, points=None),
    "NaN point": lambda path: rewrite(path, points=np.full((4, 50, 2), np.nan, np.float32)),
    "epochs going back": lambda path: rewrite(path, epochs=np.array([1, 3, 2, 4])),
    "points of other images": lambda path: rewrite(path, points=np.zeros((4, 49, 2), np.float32)),
    "codes of another size": lambda path: rewrite(path, codes=np.zeros((4, 50, 5), np.float16)),
    "an empty frame": lambda path: rewrite(path, frame=np.array([1.0, 1.0, 0.0, 1.0])),
    "another format": lambda path: rewrite(path, format=np.array(99)),
    "labels as text": lambda path: rewrite(path, labels=np.array(["x"] * 50)),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_timelapse_is_refused(saved, damage):
    checkpoint, _ = saved
    DAMAGE[damage](timelapse_path(checkpoint))
    assert read_timelapse(checkpoint) is None


def test_a_timelapse_of_another_version_of_the_checkpoint_is_stale(saved):
    checkpoint, _ = saved
    checkpoint.write_bytes(b"the checkpoint, trained again")
    assert read_timelapse(checkpoint) is None
    assert read_timelapse(checkpoint.with_name("other.pt")) is None  # no file at all


def test_oversized_files_are_refused_before_they_are_read(saved, monkeypatch):
    checkpoint, _ = saved
    monkeypatch.setattr(timelapse_io, "MAX_FILE_BYTES", 1000)
    loaded = []
    monkeypatch.setattr(timelapse_io.np, "load", lambda *args, **kwargs: loaded.append(args))
    assert read_timelapse(checkpoint) is None and loaded == []


@pytest.mark.slow
def test_long_runs_keep_every_kth_epoch_and_the_last():
    assert frame_stride(10) == 1 and frame_stride(MAX_FRAMES - 1) == 1 and frame_stride(MAX_FRAMES) == 2
    model = build_model(ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=2, hidden_sizes=(4,)), seed=0)
    images = np.random.default_rng(0).random((5, 8, 8), dtype=np.float32)
    for epochs, stopped_after in ((1000, 1000), (450, 450), (450, 5)):
        recorder = EpochRecorder(images, np.zeros(5), ("all",), "x", epochs, seed=0)
        recorder.attach(model)
        for epoch in range(1, stopped_after + 1):
            recorder.record(epoch)
        kept = recorder.timelapse().epochs.tolist()
        stride = frame_stride(epochs)
        assert len(kept) <= MAX_FRAMES and kept[-1] == stopped_after and kept[0] == 1
        assert all(later - earlier == stride for earlier, later in zip(kept[:-2], kept[1:-1]))


@pytest.mark.slow
def test_full_codes_are_kept_only_within_the_budget():
    assert fake_timelapse(frames=MAX_FRAMES, count=MAX_IMAGES, latent_dim=20).codes is not None  # 8.0 MB
    large = fake_timelapse(frames=MAX_FRAMES, count=MAX_IMAGES, latent_dim=64)  # would be 25.6 MB
    assert large.codes is None and large.points.shape == (MAX_FRAMES, MAX_IMAGES, 2)


def test_a_2d_model_is_shown_on_its_own_plane():
    flat = fake_timelapse(latent_dim=2)
    assert flat.projection.labels == ("z1", "z2")
    np.testing.assert_allclose(flat.points, flat.codes, atol=1e-6)


_CHILD = """
import json, sys
import vae
from vae.training import jobs, progress
timelapse = vae.read_timelapse(sys.argv[1])
job = jobs.get_job("0" * 32, sys.argv[2])
print(json.dumps({"torch": "torch" in sys.modules, "epochs": timelapse.epochs.tolist(), "job": job is None,
                  "running": len(jobs.running_jobs(sys.argv[2]))}))
"""


@pytest.mark.slow
def test_the_timelapse_and_the_runs_are_read_without_torch(saved, tmp_path):
    checkpoint, _ = saved
    result = subprocess.run([sys.executable, "-c", _CHILD, str(checkpoint), str(tmp_path)], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == {"torch": False, "epochs": [1, 2, 3, 4], "job": True, "running": 0}


def test_deleting_a_model_removes_its_timelapse(saved):
    checkpoint, _ = saved
    other = checkpoint.with_name("other.pt")
    other.write_bytes(b"another model")
    write_timelapse(other, fake_timelapse(seed=1))
    vae.delete_checkpoint(checkpoint.parent, "model")
    assert sorted(path.name for path in checkpoint.parent.iterdir()) == ["other.pt", "other.timelapse.npz"]
