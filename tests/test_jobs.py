"""Background training jobs: each in its own process, progress on disk; saving, cancelling, divergence, failures,
name clashes, and runs seen from another server or after their process died."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import vae.training.loop
from conftest import make_loss_nan_after
from vae.config import ModelConfig, TrainConfig
from vae.data import Dataset, dataset_version, load_dataset
from vae.files import jobs_folder
from vae.io.checkpoints import load_model, read_checkpoint
from vae.io.codes import read_test_codes
from vae.training import jobs, progress, worker

TIMEOUT_S = 180  # a run's process imports torch first: seconds on a busy 2-core machine


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


@pytest.fixture
def runs_in_this_process(monkeypatch):
    """Run the training process's body (vae.training.worker.run_job) in a thread here, so monkeypatches reach it."""
    threads = []

    def launch(state_path):
        thread = threading.Thread(target=worker.run_job,
                                  args=(state_path.parent.parent, state_path.name.removesuffix(".json")), daemon=True)
        thread.start()
        threads.append(thread)
        return None

    monkeypatch.setattr(jobs, "launch_worker", launch)
    yield
    for thread in threads:
        thread.join(TIMEOUT_S)


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


@pytest.mark.slow
def test_job_on_digits_completes_and_saves_a_loadable_model(tmp_path, small_model):
    job_id = jobs.start_job("digits test!", "digits", small_model, TrainConfig(epochs=2, batch_size=256), tmp_path)
    snapshot = finished(job_id)
    assert snapshot.status == "completed", snapshot.message
    assert snapshot.progress == 1.0 and snapshot.epochs_done == 2
    assert snapshot.saved_name == "digits-test" and "digits-test" in snapshot.message
    assert set(snapshot.curves) == {"train_loss", "recon", "kl", "test_elbo"}
    assert snapshot.batch_curves["step"][-1] == pytest.approx(2.0)
    assert snapshot.preview.shape == (2, jobs.PREVIEW_COUNT, 8, 8) and snapshot.preview_epoch == 2
    assert snapshot.samples.shape == (jobs.PRIOR_SAMPLES, 8, 8) and 0 <= snapshot.samples.min() <= 1
    model = load_model(tmp_path / "digits-test.pt")
    # The live map: the test images' codes after the last epoch, on the model's own plane (2-D), in a fixed frame.
    digits = load_dataset("digits")
    np.testing.assert_allclose(snapshot.map_points, model.encode(digits.test_images)[0], rtol=1e-4, atol=1e-5)
    assert snapshot.map_frame == worker.LIVE_FRAME and snapshot.map_axis_titles == ("z1", "z2")
    assert np.array_equal(snapshot.map_labels, digits.test_labels) and snapshot.map_class_names == digits.class_names
    assert model.image_shape == (8, 8) and model.dataset == "digits"
    assert model.metrics["test_elbo"] == pytest.approx(snapshot.curves["test_elbo"][-1])
    assert model.history["status"] == "completed"
    # The map's codes are saved with it, so the app shows the new model without encoding its test images.
    codes = read_test_codes(tmp_path / "digits-test.pt", dataset_version("digits"))
    assert codes is not None and np.array_equal(codes.labels, digits.test_labels)
    np.testing.assert_allclose(codes.means, model.encode(digits.test_images)[0], rtol=1e-5, atol=1e-6)


def saved_files(folder) -> list[str]:
    """The files in a checkpoints folder, without the hidden folder of the runs' progress."""
    return sorted(path.name for path in folder.iterdir() if path.name != ".training")


@pytest.mark.slow
def test_a_dataset_the_app_cannot_name_gets_no_codes_file(tmp_path, random_dataset, small_model):
    snapshot = finished(jobs.start_job("unnamed", random_dataset, small_model, TrainConfig(epochs=1), tmp_path))
    assert snapshot.status == "completed"
    # "random" is no dataset the app can open, so no map codes; the time-lapse keeps its own labels.
    assert saved_files(tmp_path) == ["unnamed.pt", "unnamed.timelapse.npz"]
    assert not progress.data_file(tmp_path, snapshot.job_id).exists()  # the images handed over are removed


@pytest.mark.slow
def test_snapshot_is_plain_and_a_copy(tmp_path, random_dataset, small_model):
    snapshot = finished(jobs.start_job("plain", random_dataset, small_model, TrainConfig(epochs=1), tmp_path))
    snapshot.curves["train_loss"].append(123.0)
    snapshot.preview[:] = 0
    again = jobs.get_job(snapshot.job_id).snapshot()
    assert 123.0 not in again.curves["train_loss"] and again.preview.any()
    assert all(isinstance(value, float) for values in again.curves.values() for value in values)


@pytest.mark.slow
def test_cancel_keeps_the_last_finished_epoch(tmp_path, random_dataset, small_model):
    job_id = jobs.start_job("stopped", random_dataset, small_model, TrainConfig(epochs=500, batch_size=100), tmp_path)
    wait_for(job_id, lambda s: s.epochs_done >= 1)
    jobs.get_job(job_id).cancel()
    snapshot = finished(job_id)
    assert snapshot.status == "cancelled" and snapshot.saved_name == "stopped"
    assert "stopped" in snapshot.message.lower() and snapshot.progress < 1.0
    history = read_checkpoint(tmp_path / "stopped.pt")["history"]
    assert history["status"] == "cancelled" and len(history["train_loss"]) >= 1


@pytest.mark.slow
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


@pytest.mark.slow
def test_unknown_dataset_fails_with_its_message(tmp_path, small_model):
    snapshot = finished(jobs.start_job("bad-data", "no-such-set", small_model, TrainConfig(epochs=1), tmp_path))
    assert snapshot.status == "failed"
    assert "Unknown dataset 'no-such-set'" in snapshot.message
    assert not list(tmp_path.glob("*.pt"))


@pytest.mark.slow
def test_unexpected_errors_become_failed_too(tmp_path, random_dataset, small_model, monkeypatch,
                                            runs_in_this_process):
    def broken_fit(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(vae.training.loop, "fit", broken_fit)
    snapshot = finished(jobs.start_job("broken", random_dataset, small_model, TrainConfig(epochs=1), tmp_path))
    assert snapshot.status == "failed" and "boom" in snapshot.message and "Traceback" not in snapshot.message


@pytest.mark.slow
def test_divergence_keeps_the_last_good_epoch(tmp_path, random_dataset, small_model, monkeypatch,
                                              runs_in_this_process):
    make_loss_nan_after(monkeypatch, good_batches=3)  # 300 images / batch 100 = 3 batches: epoch 1 is fine
    train = TrainConfig(epochs=5, batch_size=100)
    snapshot = finished(jobs.start_job("blown", random_dataset, small_model, train, tmp_path))
    assert snapshot.status == "diverged" and snapshot.saved_name == "blown"
    assert "learning rate" in snapshot.message and "saved as blown" in snapshot.message
    assert len(read_checkpoint(tmp_path / "blown.pt")["history"]["train_loss"]) == 1


@pytest.mark.slow
def test_divergence_in_the_first_epoch_saves_nothing(tmp_path, random_dataset, small_model, monkeypatch,
                                                      runs_in_this_process):
    make_loss_nan_after(monkeypatch, good_batches=0)
    snapshot = finished(jobs.start_job("blown", random_dataset, small_model, TrainConfig(epochs=2), tmp_path))
    assert snapshot.status == "diverged" and snapshot.saved_name is None
    assert "Nothing was saved" in snapshot.message and not list(tmp_path.glob("*.pt"))


@pytest.mark.slow
def test_two_jobs_at_once_write_their_own_files(tmp_path, random_dataset, small_model):
    train = TrainConfig(epochs=3, batch_size=100)
    first = jobs.start_job("first", random_dataset, small_model, train, tmp_path)
    second = jobs.start_job("second", random_dataset, small_model, train, tmp_path)
    assert {finished(first).status, finished(second).status} == {"completed"}
    assert saved_files(tmp_path) == ["first.pt", "first.timelapse.npz", "second.pt",
                                     "second.timelapse.npz"]  # no temp files left
    for name in ("first", "second"):
        assert load_model(tmp_path / f"{name}.pt").history["status"] == "completed"


@pytest.mark.slow
def test_a_name_in_training_is_refused(tmp_path, random_dataset, small_model):
    job_id = jobs.start_job("taken", random_dataset, small_model, TrainConfig(epochs=500, batch_size=100), tmp_path)
    try:
        with pytest.raises(jobs.JobError, match="being trained right now"):
            jobs.start_job("taken", random_dataset, small_model, TrainConfig(epochs=1), tmp_path)
    finally:
        jobs.get_job(job_id).cancel()
        finished(job_id)


@pytest.mark.slow
def test_an_existing_model_is_replaced_only_when_allowed(tmp_path, random_dataset, small_model):
    train = TrainConfig(epochs=1)
    finished(jobs.start_job("mine", random_dataset, small_model, train, tmp_path))
    with pytest.raises(jobs.JobError, match="already exists"):
        jobs.start_job("mine", random_dataset, small_model, train, tmp_path)
    before = (tmp_path / "mine.pt").stat().st_mtime_ns
    snapshot = finished(jobs.start_job("mine", random_dataset, small_model, train, tmp_path, overwrite=True))
    assert snapshot.saved_name == "mine" and (tmp_path / "mine.pt").stat().st_mtime_ns != before


@pytest.mark.slow
def test_a_file_that_appears_during_training_is_not_clobbered(tmp_path, random_dataset, small_model):
    job_id = jobs.start_job("late", random_dataset, small_model, TrainConfig(epochs=500, batch_size=100), tmp_path)
    (tmp_path / "late.pt").write_bytes(b"someone else's model")
    wait_for(job_id, lambda s: s.epochs_done >= 1)
    jobs.get_job(job_id).cancel()
    snapshot = finished(job_id)
    assert snapshot.saved_name == "late-2"
    assert (tmp_path / "late.pt").read_bytes() == b"someone else's model"


def test_unknown_job_ids_give_none(tmp_path):
    assert jobs.get_job("no-such-id") is None and jobs.get_job(None) is None
    assert jobs.get_job("0" * 32, tmp_path) is None  # a well-formed id with no run
    for hostile in ("../../etc/passwd", "/etc/passwd", "..", "A" * 32, "0" * 31 + "/", ""):  # a link's text
        assert jobs.get_job(hostile, tmp_path) is None


@pytest.mark.slow
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


@pytest.mark.slow
def test_at_most_max_running_jobs_train_at_once(tmp_path, random_dataset, small_model):
    assert jobs.MAX_RUNNING_JOBS == 2  # the documented cap for the 2-core machine the app is sized for
    running = long_jobs(tmp_path, random_dataset, small_model, jobs.MAX_RUNNING_JOBS)
    try:
        assert len(jobs.running_jobs(tmp_path)) == jobs.MAX_RUNNING_JOBS
        with pytest.raises(jobs.JobError, match=f"at most {jobs.MAX_RUNNING_JOBS} models at once"):
            jobs.start_job("one-too-many", random_dataset, small_model, TrainConfig(epochs=1), tmp_path)
        assert not (tmp_path / "one-too-many.pt").exists() and len(jobs.running_jobs(tmp_path)) == jobs.MAX_RUNNING_JOBS
        jobs.get_job(running[0]).cancel()
        finished(running[0])
        snapshot = finished(jobs.start_job("one-too-many", random_dataset, small_model, TrainConfig(epochs=1),
                                           tmp_path))  # a place came free
        assert snapshot.status == "completed"
    finally:
        for job_id in running:
            jobs.get_job(job_id).cancel()
            finished(job_id)


@pytest.mark.slow
def test_a_model_that_learned_nothing_gets_advice(tmp_path, random_dataset, small_model):
    # Random noise has nothing to learn: after one epoch every code is about the same.
    snapshot = finished(jobs.start_job("noise", random_dataset, small_model, TrainConfig(epochs=1), tmp_path))
    means = load_model(tmp_path / "noise.pt").encode(random_dataset.test_images)[0]
    assert (means.var(axis=0) > 0.01).sum() < 2  # fewer than two code numbers vary: measured independently
    assert snapshot.status == "completed"
    assert "has not learned" in snapshot.advice and "more epochs" in snapshot.advice and "had 1" in snapshot.advice


# --------------------------------------------------------------------------- the run's own process, its files on disk


def wait_for_pid(job_id: str, timeout: float = TIMEOUT_S) -> int:
    """The pid the run's process wrote into its state once it runs."""
    job = jobs.get_job(job_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = progress.read_state(job.folder, job_id)
        if isinstance(state.get("pid"), int):
            return state["pid"]
        time.sleep(0.05)
    raise AssertionError("the run's process never reported")


@pytest.mark.slow
def test_a_run_trains_in_its_own_lower_priority_process(tmp_path, random_dataset, small_model):
    job_id = long_jobs(tmp_path, random_dataset, small_model, 1)[0]
    pid = wait_for_pid(job_id)
    assert pid != os.getpid()
    assert b"vae.training.worker" in open(f"/proc/{pid}/cmdline", "rb").read()
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + worker.WORKER_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, pid) == expected  # the scheduler serves the web server first
    if hasattr(os, "SCHED_IDLE"):  # Linux: it runs only when the server leaves a core idle
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE
    snapshot = wait_for(job_id, lambda s: s.epochs_done >= 1)
    assert snapshot.running
    jobs.get_job(job_id).cancel()  # SIGTERM to the process: it stops after the batch and keeps the last epoch
    snapshot = finished(job_id)
    assert snapshot.status == "cancelled" and snapshot.saved_name == "long-0"
    assert len(read_checkpoint(tmp_path / "long-0.pt")["history"]["train_loss"]) >= 1


@pytest.mark.slow
def test_another_server_sees_the_run_on_disk_and_stops_it(tmp_path, random_dataset, small_model, monkeypatch):
    job_id = long_jobs(tmp_path, random_dataset, small_model, 1)[0]
    wait_for(job_id, lambda s: s.epochs_done >= 1)
    monkeypatch.setattr(jobs, "_STARTED", {})  # a restarted server, or a replica: it started nothing itself
    assert jobs.get_job(job_id) is None  # without the folder, nothing is known
    job = jobs.get_job(job_id, tmp_path)  # the ?job= link and the checkpoints folder are enough
    assert job is not None and job.running and [j.job_id for j in jobs.running_jobs(tmp_path)] == [job_id]
    assert jobs.name_in_training("long-0", tmp_path)
    progress.request_stop(tmp_path, job_id)  # what a server on another machine can do: no signal, only the file
    assert job.wait(TIMEOUT_S)
    snapshot = job.snapshot()
    assert snapshot.status == "cancelled" and snapshot.saved_name == "long-0" and (tmp_path / "long-0.pt").is_file()


@pytest.mark.slow
def test_a_run_whose_process_was_killed_shows_as_interrupted(tmp_path, random_dataset, small_model):
    job_id = long_jobs(tmp_path, random_dataset, small_model, 1)[0]
    wait_for(job_id, lambda s: s.epochs_done >= 1)
    os.kill(wait_for_pid(job_id), signal.SIGKILL)  # no chance to write anything more
    snapshot = finished(job_id)
    assert snapshot.status == "interrupted" and snapshot.saved_name is None
    assert "ended without finishing" in snapshot.message and snapshot.epochs_done >= 1
    assert progress.read_state(tmp_path, job_id)["status"] == "running"  # the file still says so: the check is live
    assert jobs.running_jobs(tmp_path) == [] and not jobs.name_in_training("long-0", tmp_path)
    assert not (tmp_path / "long-0.pt").exists()


def write_fake_state(folder, name: str, **changes) -> str:
    """A run's state file as a server or a training process would leave it; returns its id."""
    job_id = os.urandom(16).hex()
    state = progress.new_state(job_id, name, "digits", {}, 10)
    state.update(changes)
    path = progress.state_file(folder, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state))
    if "updated" in changes:
        os.utime(path, (changes["updated"], changes["updated"]))
    return job_id


def ended_pid() -> int:
    """The pid of a process that has finished (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_stale_state_file_is_an_interrupted_run(tmp_path):
    now = time.time()
    dead = write_fake_state(tmp_path, "dead", pid=ended_pid())  # this machine, its process gone (server restarted)
    silent = write_fake_state(tmp_path, "silent", host="replica-2", updated=now - 2 * progress.STALE_AFTER_S)
    alive = write_fake_state(tmp_path, "alive", host="replica-2", pid=1)  # another machine, fresh heartbeat
    mine = write_fake_state(tmp_path, "mine", pid=os.getpid(), pid_start=progress.process_start(os.getpid()))
    reused = write_fake_state(tmp_path, "reused", pid=os.getpid(), pid_start="1")  # same pid, another process
    statuses = {job_id: jobs.get_job(job_id, tmp_path).snapshot().status for job_id in (dead, silent, alive, mine, reused)}
    assert statuses == {dead: "interrupted", silent: "interrupted", alive: "running", mine: "running",
                        reused: "interrupted"}
    assert jobs.get_job(dead, tmp_path).snapshot().message == progress.INTERRUPTED_MESSAGE
    assert sorted(job.job_id for job in jobs.running_jobs(tmp_path)) == sorted([alive, mine])


def test_runs_of_another_server_count_towards_the_cap_and_hold_their_names(tmp_path, small_model):
    for name in ("theirs-1", "theirs-2"):
        write_fake_state(tmp_path, name, host="replica-2", pid=1)
    assert jobs.name_in_training("theirs-1", tmp_path) and not jobs.name_in_training("mine", tmp_path)
    with pytest.raises(jobs.JobError, match="being trained right now"):
        jobs.check_name_free("theirs-2", tmp_path)
    with pytest.raises(jobs.JobError, match=f"at most {jobs.MAX_RUNNING_JOBS} models at once"):
        jobs.start_job("mine", "digits", small_model, TrainConfig(epochs=1), tmp_path)
    assert len(progress.job_ids(tmp_path)) == 2  # nothing was started


def test_a_damaged_state_file_is_no_run(tmp_path):
    job_id = write_fake_state(tmp_path, "fine")
    for damage in (b"", b"{", b"[]", b'{"format": 1}', json.dumps({"format": 1, "job_id": job_id}).encode(), b"\xff" * 9):
        progress.state_file(tmp_path, job_id).write_bytes(damage)
        assert jobs.get_job(job_id, tmp_path) is None and jobs.running_jobs(tmp_path) == []


def test_finished_runs_are_cleaned_up_after_a_while(tmp_path):
    now = time.time()
    old = write_fake_state(tmp_path, "old", status="completed", finished=now - 2 * progress.FINISHED_KEEP_S)
    recent = write_fake_state(tmp_path, "recent", status="cancelled", finished=now - 60)
    gone = write_fake_state(tmp_path, "gone", pid=ended_pid(), updated=now - 2 * progress.FINISHED_KEEP_S)
    running = write_fake_state(tmp_path, "running", pid=os.getpid(), started=now - 2 * progress.FINISHED_KEEP_S)
    for job_id in (old, gone):
        progress.preview_file(tmp_path, job_id).write_bytes(b"preview")
        progress.stop_file(tmp_path, job_id).write_bytes(b"stop")
    assert sorted(progress.clean_old_jobs(tmp_path, now=now)) == sorted([old, gone])
    left = sorted(path.name for path in jobs_folder(tmp_path).iterdir())
    assert left == sorted([f"{recent}.json", f"{running}.json"])
