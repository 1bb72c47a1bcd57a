"""Background training jobs: progress, saving, cancelling, divergence, failures and name clashes."""
from __future__ import annotations

import time

import numpy as np
import pytest

import vae.training.loop
from conftest import make_loss_nan_after
from vae.config import ModelConfig, TrainConfig
from vae.data import Dataset, dataset_version, load_dataset
from vae.io.checkpoints import load_model, read_checkpoint
from vae.io.codes import read_test_codes
from vae.training import jobs

TIMEOUT_S = 30


@pytest.fixture
def random_dataset() -> Dataset:
    """300 train and 40 test random 8x8 images with two classes."""
    rng = np.random.default_rng(0)
    return Dataset(
        name="random", train_images=rng.random((300, 8, 8), dtype=np.float32), train_labels=rng.integers(0, 2, 300),
        test_images=rng.random((40, 8, 8), dtype=np.float32), test_labels=rng.integers(0, 2, 40),
        class_names=("a", "b"),
    )


@pytest.fixture
def small_model() -> ModelConfig:
    """A tiny MLP; the job replaces the image size with the dataset's."""
    return ModelConfig(kind="mlp", latent_dim=2, hidden_sizes=(16,))


def finished(job_id: str) -> jobs.JobSnapshot:
    """Wait for the job to end and return its final snapshot."""
    job = jobs.get_job(job_id)
    assert job is not None and job.wait(TIMEOUT_S), "the job did not finish in time"
    return job.snapshot()


def wait_for(job_id: str, condition, timeout: float = TIMEOUT_S) -> jobs.JobSnapshot:
    """Poll the snapshot until ``condition(snapshot)`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snapshot = jobs.get_job(job_id).snapshot()
        if condition(snapshot):
            return snapshot
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


def test_job_on_digits_completes_and_saves_a_loadable_model(tmp_path, small_model):
    job_id = jobs.start_job("digits test!", "digits", small_model, TrainConfig(epochs=2, batch_size=256), tmp_path)
    snapshot = finished(job_id)
    assert snapshot.status == "completed", snapshot.message
    assert snapshot.progress == 1.0 and snapshot.epochs_done == 2
    assert snapshot.saved_name == "digits-test" and "digits-test" in snapshot.message
    assert set(snapshot.curves) == {"train_loss", "recon", "kl", "test_elbo"}
    assert snapshot.batch_curves["step"][-1] == pytest.approx(2.0)
    assert snapshot.preview.shape == (2, jobs.PREVIEW_COUNT, 8, 8) and snapshot.preview_epoch == 2
    model = load_model(tmp_path / "digits-test.pt")
    assert model.image_shape == (8, 8) and model.dataset == "digits"
    assert model.metrics["test_elbo"] == pytest.approx(snapshot.curves["test_elbo"][-1])
    assert model.history["status"] == "completed"
    # The map's codes are saved with it, so the app shows the new model without encoding its test images.
    codes = read_test_codes(tmp_path / "digits-test.pt", dataset_version("digits"))
    digits = load_dataset("digits")
    assert codes is not None and np.array_equal(codes.labels, digits.test_labels)
    np.testing.assert_allclose(codes.means, model.encode(digits.test_images)[0], rtol=1e-5, atol=1e-6)


def test_a_dataset_the_app_cannot_name_gets_no_codes_file(tmp_path, random_dataset, small_model):
    snapshot = finished(jobs.start_job("unnamed", random_dataset, small_model, TrainConfig(epochs=1), tmp_path))
    assert snapshot.status == "completed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unnamed.pt"]  # "random" is no dataset the app can open


def test_snapshot_is_plain_and_a_copy(tmp_path, random_dataset, small_model):
    snapshot = finished(jobs.start_job("plain", random_dataset, small_model, TrainConfig(epochs=1), tmp_path))
    snapshot.curves["train_loss"].append(123.0)
    snapshot.preview[:] = 0
    again = jobs.get_job(snapshot.job_id).snapshot()
    assert 123.0 not in again.curves["train_loss"] and again.preview.any()
    assert all(isinstance(value, float) for values in again.curves.values() for value in values)


def test_cancel_keeps_the_last_finished_epoch(tmp_path, random_dataset, small_model):
    job_id = jobs.start_job("stopped", random_dataset, small_model, TrainConfig(epochs=500, batch_size=100), tmp_path)
    wait_for(job_id, lambda s: s.epochs_done >= 1)
    jobs.get_job(job_id).cancel()
    snapshot = finished(job_id)
    assert snapshot.status == "cancelled" and snapshot.saved_name == "stopped"
    assert "stopped" in snapshot.message.lower() and snapshot.progress < 1.0
    history = read_checkpoint(tmp_path / "stopped.pt")["history"]
    assert history["status"] == "cancelled" and len(history["train_loss"]) >= 1


def test_cancel_before_the_first_epoch_saves_nothing(tmp_path, small_model):
    rng = np.random.default_rng(1)
    big = Dataset("big", rng.random((20_000, 8, 8), dtype=np.float32), np.zeros(20_000, np.int64),
                  rng.random((10, 8, 8), dtype=np.float32), np.zeros(10, np.int64), ("all",))
    job_id = jobs.start_job("never", big, small_model, TrainConfig(epochs=5, batch_size=1), tmp_path)
    jobs.get_job(job_id).cancel()
    snapshot = finished(job_id)
    assert snapshot.status == "cancelled" and snapshot.saved_name is None
    assert "nothing was saved" in snapshot.message
    assert not list(tmp_path.glob("*.pt"))


def test_unknown_dataset_fails_with_its_message(tmp_path, small_model):
    snapshot = finished(jobs.start_job("bad-data", "no-such-set", small_model, TrainConfig(epochs=1), tmp_path))
    assert snapshot.status == "failed"
    assert "Unknown dataset 'no-such-set'" in snapshot.message
    assert not list(tmp_path.glob("*.pt"))


def test_unexpected_errors_become_failed_too(tmp_path, random_dataset, small_model, monkeypatch):
    def broken_fit(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(vae.training.loop, "fit", broken_fit)
    snapshot = finished(jobs.start_job("broken", random_dataset, small_model, TrainConfig(epochs=1), tmp_path))
    assert snapshot.status == "failed" and "boom" in snapshot.message and "Traceback" not in snapshot.message


def test_divergence_keeps_the_last_good_epoch(tmp_path, random_dataset, small_model, monkeypatch):
    make_loss_nan_after(monkeypatch, good_batches=3)  # 300 images / batch 100 = 3 batches: epoch 1 is fine
    train = TrainConfig(epochs=5, batch_size=100)
    snapshot = finished(jobs.start_job("blown", random_dataset, small_model, train, tmp_path))
    assert snapshot.status == "diverged" and snapshot.saved_name == "blown"
    assert "learning rate" in snapshot.message and "saved as blown" in snapshot.message
    assert len(read_checkpoint(tmp_path / "blown.pt")["history"]["train_loss"]) == 1


def test_divergence_in_the_first_epoch_saves_nothing(tmp_path, random_dataset, small_model, monkeypatch):
    make_loss_nan_after(monkeypatch, good_batches=0)
    snapshot = finished(jobs.start_job("blown", random_dataset, small_model, TrainConfig(epochs=2), tmp_path))
    assert snapshot.status == "diverged" and snapshot.saved_name is None
    assert "Nothing was saved" in snapshot.message and not list(tmp_path.glob("*.pt"))


def test_two_jobs_at_once_write_their_own_files(tmp_path, random_dataset, small_model):
    train = TrainConfig(epochs=3, batch_size=100)
    first = jobs.start_job("first", random_dataset, small_model, train, tmp_path)
    second = jobs.start_job("second", random_dataset, small_model, train, tmp_path)
    assert {finished(first).status, finished(second).status} == {"completed"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.pt", "second.pt"]  # no temp files left
    for name in ("first", "second"):
        assert load_model(tmp_path / f"{name}.pt").history["status"] == "completed"


def test_a_name_in_training_is_refused(tmp_path, random_dataset, small_model):
    job_id = jobs.start_job("taken", random_dataset, small_model, TrainConfig(epochs=500, batch_size=100), tmp_path)
    try:
        with pytest.raises(jobs.JobError, match="being trained right now"):
            jobs.start_job("taken", random_dataset, small_model, TrainConfig(epochs=1), tmp_path)
    finally:
        jobs.get_job(job_id).cancel()
        finished(job_id)


def test_an_existing_model_is_replaced_only_when_allowed(tmp_path, random_dataset, small_model):
    train = TrainConfig(epochs=1)
    finished(jobs.start_job("mine", random_dataset, small_model, train, tmp_path))
    with pytest.raises(jobs.JobError, match="already exists"):
        jobs.start_job("mine", random_dataset, small_model, train, tmp_path)
    before = (tmp_path / "mine.pt").stat().st_mtime_ns
    snapshot = finished(jobs.start_job("mine", random_dataset, small_model, train, tmp_path, overwrite=True))
    assert snapshot.saved_name == "mine" and (tmp_path / "mine.pt").stat().st_mtime_ns != before


def test_a_file_that_appears_during_training_is_not_clobbered(tmp_path, random_dataset, small_model):
    job_id = jobs.start_job("late", random_dataset, small_model, TrainConfig(epochs=500, batch_size=100), tmp_path)
    (tmp_path / "late.pt").write_bytes(b"someone else's model")
    wait_for(job_id, lambda s: s.epochs_done >= 1)
    jobs.get_job(job_id).cancel()
    snapshot = finished(job_id)
    assert snapshot.saved_name == "late-2"
    assert (tmp_path / "late.pt").read_bytes() == b"someone else's model"


def test_unknown_job_ids_give_none():
    assert jobs.get_job("no-such-id") is None and jobs.get_job(None) is None


def test_a_numbered_name_moves_on_to_the_next_number(tmp_path, random_dataset, small_model):
    (tmp_path / "late.pt").write_bytes(b"first")
    job_id = jobs.start_job("late-2", random_dataset, small_model, TrainConfig(epochs=500, batch_size=100), tmp_path)
    (tmp_path / "late-2.pt").write_bytes(b"appeared during training")
    wait_for(job_id, lambda s: s.epochs_done >= 1)
    jobs.get_job(job_id).cancel()
    snapshot = finished(job_id)
    assert snapshot.saved_name == "late-3"  # not late-2-2
    assert "late-3" in snapshot.message and (tmp_path / "late-2.pt").read_bytes() == b"appeared during training"


def long_jobs(tmp_path, dataset, model, count: int) -> list[str]:
    """Start ``count`` runs that go on until cancelled."""
    return [jobs.start_job(f"long-{number}", dataset, model, TrainConfig(epochs=10_000, batch_size=100), tmp_path)
            for number in range(count)]


def test_at_most_max_running_jobs_train_at_once(tmp_path, random_dataset, small_model):
    assert jobs.MAX_RUNNING_JOBS == 2  # the documented cap for the 2-core machine the app is sized for
    running = long_jobs(tmp_path, random_dataset, small_model, jobs.MAX_RUNNING_JOBS)
    try:
        assert len(jobs.running_jobs()) == jobs.MAX_RUNNING_JOBS
        with pytest.raises(jobs.JobError, match=f"at most {jobs.MAX_RUNNING_JOBS} models at once"):
            jobs.start_job("one-too-many", random_dataset, small_model, TrainConfig(epochs=1), tmp_path)
        assert not (tmp_path / "one-too-many.pt").exists() and len(jobs.running_jobs()) == jobs.MAX_RUNNING_JOBS
        jobs.get_job(running[0]).cancel()
        finished(running[0])
        snapshot = finished(jobs.start_job("one-too-many", random_dataset, small_model, TrainConfig(epochs=1),
                                           tmp_path))  # a place came free
        assert snapshot.status == "completed"
    finally:
        for job_id in running:
            jobs.get_job(job_id).cancel()
            finished(job_id)


def test_a_model_that_learned_nothing_gets_advice(tmp_path, random_dataset, small_model):
    # Random noise has nothing to learn: after one epoch every code is about the same.
    snapshot = finished(jobs.start_job("noise", random_dataset, small_model, TrainConfig(epochs=1), tmp_path))
    means = load_model(tmp_path / "noise.pt").encode(random_dataset.test_images)[0]
    assert (means.var(axis=0) > 0.01).sum() < 2  # fewer than two code numbers vary: measured independently
    assert snapshot.status == "completed"
    assert "has not learned" in snapshot.advice and "more epochs" in snapshot.advice and "had 1" in snapshot.advice
