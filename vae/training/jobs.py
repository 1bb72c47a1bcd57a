"""The app's background training runs: each in its own lower-priority process, its progress on disk (no torch here).

``start_job`` writes the run's state file beside the checkpoints (vae.training.progress) and starts
``python -m vae.training.worker`` on it; the process trains through vae.training.run and keeps the file
up to date. Everything else reads the files, so a browser session keeps only the run's id (a string):
a reload, a restart of the server, or another server sharing the checkpoints folder finds the same
runs, and a run whose process is gone shows as interrupted. Names in training and the MAX_RUNNING_JOBS
cap are read from disk too.
"""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vae.config import ModelConfig, TrainConfig
from vae.data.dataset import Dataset
from vae.data.registry import dataset_version
from vae.errors import VAEError
from vae.files import checkpoint_path, sanitize_name, write_atomically
from vae.presets import for_images
from vae.training import progress
from vae.training.progress import MAX_RUNNING_JOBS, PREVIEW_COUNT, PRIOR_SAMPLES

STATUSES = ("running", *progress.FINAL_STATUSES)
POLL_S = 0.05  # how often wait() looks at the state file
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding vae/: on the process's PYTHONPATH

__all__ = ["MAX_RUNNING_JOBS", "PREVIEW_COUNT", "PRIOR_SAMPLES", "STATUSES", "JobError", "JobSnapshot", "TrainingJob", "check_capacity",
           "check_name_free", "get_job", "name_in_training", "running_jobs", "start_job"]


class JobError(VAEError):
    """A training job cannot start: its name is taken, it would replace a model without permission, or no room."""


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a job's progress: plain values and numpy arrays only."""

    job_id: str
    name: str  # sanitized model name; the file is ``name + ".pt"``
    dataset: str
    status: str  # one of STATUSES
    message: str
    progress: float  # 0..1 over the whole run
    epoch: int  # epoch being trained (1-based), 0 before the first batch
    epochs: int
    batch: int
    batches: int
    images_per_s: float
    elapsed_s: float
    curves: dict[str, list[float]]  # per finished epoch: train_loss, recon, kl, test_elbo
    batch_curves: dict[str, list[float]]  # thinned per batch: step (in epochs), loss, recon, kl
    preview: np.ndarray | None  # (2, PREVIEW_COUNT, H, W) in [0, 1]: originals over reconstructions
    preview_epoch: int  # epoch the previews were made after (0: before training)
    samples: np.ndarray | None  # (64, H, W) in [0, 1]: the same prior noise decoded after that epoch
    map_points: np.ndarray | None  # (N, 2) the test images' codes on a plane fixed for the run, after map_epoch
    map_labels: np.ndarray | None  # (N,)
    map_class_names: tuple[str, ...]
    map_frame: tuple[float, float, float, float] | None  # x_min, x_max, y_min, y_max: fixed for the whole run
    map_axis_titles: tuple[str, str]
    saved_name: str | None  # model name written, None when nothing was saved
    saved_path: str | None
    advice: str  # why the saved model is not useful yet and what to try (vae.analysis.metrics.check_codes); "" when fine

    @property
    def running(self) -> bool:
        """True until the job has finished, one way or another."""
        return self.status == "running"

    @property
    def epochs_done(self) -> int:
        """Number of finished epochs."""
        return len(self.curves["train_loss"])


class TrainingJob:
    """One run of a checkpoints folder, read from its files; ``process`` when this server started it."""

    def __init__(self, folder: str | Path, job_id: str, process: subprocess.Popen | None = None) -> None:
        self.folder, self.job_id, self.process = Path(folder), job_id, process

    def _state(self) -> dict | None:
        return progress.read_state(self.folder, self.job_id)

    @property
    def running(self) -> bool:
        """True while the run has not ended (and its process lives)."""
        state = self._state()
        return state is not None and progress.current_status(state) == "running"

    def snapshot(self) -> JobSnapshot:
        """The run's progress now, from its state file and previews."""
        state = self._state()
        if state is None:
            raise JobError("This training run's progress can no longer be read (its files were removed).")
        return snapshot_of(self.folder, state)

    def cancel(self) -> None:
        """Ask the run to stop after the current batch; the last finished epoch is kept.

        The stop file reaches the process from any server; a process of this machine also gets SIGTERM.
        """
        state = self._state()
        if state is None or progress.current_status(state) != "running":
            return
        progress.request_stop(self.folder, self.job_id)
        pid = state.get("pid")
        if progress.on_this_machine(state) and isinstance(pid, int) and pid != os.getpid():
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass  # ended meanwhile

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (or ``timeout`` seconds pass); True when it has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)
        return True


def snapshot_of(folder: Path, state: dict) -> JobSnapshot:
    """A JobSnapshot from a run's state and its latest previews."""
    status = progress.current_status(state)
    preview = progress.read_preview(folder, state["job_id"])
    originals, reconstructions = preview.get("originals"), preview.get("reconstructions")
    points = preview.get("map_points")
    frame = preview.get("map_frame")
    saved = state.get("saved_name") if isinstance(state.get("saved_name"), str) else None
    end = time.time() if status == "running" else _number(state.get("finished"), state["updated"])
    return JobSnapshot(
        job_id=state["job_id"], name=state["name"], dataset=state["dataset"], status=status,
        message=progress.INTERRUPTED_MESSAGE if status == "interrupted" else state["message"],
        progress=float(state["progress"]), epoch=state["epoch"], epochs=state["epochs"], batch=state["batch"],
        batches=state["batches"], images_per_s=float(state["images_per_s"]), elapsed_s=max(0.0, end - state["started"]),
        curves={key: _floats(values) for key, values in state["curves"].items()},
        batch_curves={key: _floats(values) for key, values in state["batch_curves"].items()},
        preview=_pictures(np.stack([originals, reconstructions])) if originals is not None else None,
        preview_epoch=int(preview.get("epoch", state["preview_epoch"])),
        samples=_pictures(preview["samples"]) if "samples" in preview else None,
        map_points=None if points is None else points.astype(np.float32),
        map_labels=None if points is None else preview["map_labels"].astype(np.int64),
        map_class_names=tuple(str(name) for name in preview.get("map_class_names", ())),
        map_frame=None if frame is None else tuple(float(value) for value in frame),
        map_axis_titles=tuple(str(t) for t in preview.get("map_axis_titles", ("z1", "z2"))),
        saved_name=saved, saved_path=str(checkpoint_path(folder, saved)) if saved else None,
        advice=state["advice"],
    )


def _floats(values: list) -> list[float]:
    return [math.nan if value is None else float(value) for value in values]  # JSON keeps no NaN: it wrote None


def _number(value: object, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _pictures(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float32) / 255.0  # stored as uint8 (vae.images.to_uint8)


# --- starting and finding runs -------------------------------------------------------------

_STARTED: dict[str, tuple[Path, subprocess.Popen | None]] = {}  # runs this server started: id -> (folder, process)
_START_LOCK = threading.Lock()


def start_job(
    name: str,
    dataset: str | Dataset,
    model_config: ModelConfig,
    train_config: TrainConfig,
    folder: str | Path,
    overwrite: bool = False,
) -> str:
    """Start a run in its own process and return its id (a string to keep in session state and in the link).

    ``model_config`` is built for the dataset's image size and colour (grey or RGB): at once for a Dataset,
    in the training process (vae.training.run) for a dataset's name, which may end in ``:grey``.

    Raises:
        JobError: MAX_RUNNING_JOBS runs are going in this folder already, another running job writes the
            same file, the file exists and ``overwrite`` is False, or the process could not start.
        CheckpointError: The name has no usable letters or digits.
    """
    name = sanitize_name(name)
    folder = checkpoint_path(folder, name).parent
    job_id = uuid.uuid4().hex
    if isinstance(dataset, Dataset):  # the state file then says what is built: this size, grey or colour
        model_config = for_images(model_config, dataset.image_shape, dataset.channels)
    with _START_LOCK:
        progress.clean_old_jobs(folder)
        check_capacity(folder)
        check_name_free(name, folder, overwrite)
        spec = {"model_config": model_config.to_dict(), "train_config": train_config.to_dict(),
                "dataset": _dataset_name(dataset), "data_file": _hand_over(dataset, folder, job_id),
                "overwrite": bool(overwrite)}
        progress.write_state(folder, progress.new_state(job_id, name, spec["dataset"], spec, train_config.epochs))
        try:
            process = launch_worker(progress.state_file(folder, job_id))
        except OSError as error:
            progress.remove_job(folder, job_id)
            raise JobError(f"The training process could not be started ({error.strerror or error}).") from None
        _STARTED[job_id] = (folder, process)
    return job_id


def launch_worker(state_path: Path) -> subprocess.Popen:
    """Start ``python -m vae.training.worker <state file>``; a thread reaps it when it ends (no zombie is left)."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), environment.get("PYTHONPATH")]))
    process = subprocess.Popen([sys.executable, "-m", "vae.training.worker", str(state_path)], env=environment,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # its warnings go to our stderr
    threading.Thread(target=process.wait, name="vae-train-reaper", daemon=True).start()
    return process


def _dataset_name(dataset: str | Dataset) -> str:
    return str(dataset) if isinstance(dataset, str) else str(dataset.name)


def _hand_over(dataset: str | Dataset, folder: Path, job_id: str) -> str | None:
    """Images the process cannot load by name (made in memory) go to a file it reads; None for a name."""
    if isinstance(dataset, str) or dataset_version(dataset.name):
        return None
    arrays = {"name": np.array(str(dataset.name)), "train_images": np.asarray(dataset.train_images, np.float32),
              "train_labels": np.asarray(dataset.train_labels, np.int64),
              "test_images": np.asarray(dataset.test_images, np.float32),
              "test_labels": np.asarray(dataset.test_labels, np.int64),
              "class_names": np.array([str(name) for name in dataset.class_names], dtype=str)}
    path = progress.data_file(folder, job_id)
    write_atomically(path, lambda handle: np.savez(handle, **arrays))
    return path.name


def check_capacity(folder: str | Path) -> None:
    """Raise JobError when MAX_RUNNING_JOBS runs are going in this checkpoints folder already (read from disk)."""
    running = len(progress.running_states(folder))
    if running >= MAX_RUNNING_JOBS:
        raise JobError(f"This server trains at most {MAX_RUNNING_JOBS} models at once, and {running} are being "
                       f"trained right now. Wait until one of them finishes (or stop yours), then start again.")


def name_in_training(name: str, folder: str | Path) -> bool:
    """Whether a running job will write the model called ``name`` in ``folder``."""
    return sanitize_name(name) in progress.names_in_training(folder)


def check_name_free(name: str, folder: str | Path, overwrite: bool = False) -> None:
    """Raise JobError when a model called ``name`` is being trained, or exists and may not be replaced."""
    target = checkpoint_path(folder, name)
    if name_in_training(name, folder):
        raise JobError(f"A model called {target.stem} is being trained right now. Pick another name, "
                       f"or wait until that run ends.")
    if target.exists() and not overwrite:
        raise JobError(f"A model called {target.stem} already exists. Pick another name, or allow replacing it.")


def get_job(job_id: str | None, folder: str | Path | None = None) -> TrainingJob | None:
    """The run with this id in ``folder`` (default: where this server started it), or None when there is none."""
    if not progress.valid_job_id(job_id):
        return None
    started = _STARTED.get(job_id)
    where = Path(folder) if folder is not None else started[0] if started else None
    if where is None or progress.read_state(where, job_id) is None:
        return None
    return TrainingJob(where, job_id, started[1] if started and started[0] == where.resolve() else None)


def running_jobs(folder: str | Path | None = None) -> list[TrainingJob]:
    """Runs going on in ``folder`` (default: every folder this server started runs in), oldest first."""
    folders = [Path(folder)] if folder is not None else sorted({where for where, _ in _STARTED.values()})
    return [TrainingJob(where, state["job_id"]) for where in folders for state in progress.running_states(where)]
