"""Background training jobs: a thread per run (vae.training.run), a thread-safe progress snapshot, a process-wide registry.

A browser session keeps only a job id (a string); the job itself lives in this module's
registry, so a page can rerun, poll and stop it without holding models or tensors.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vae.config import ModelConfig, TrainConfig, TrainEvent
from vae.data.dataset import Dataset
from vae.data.registry import load_dataset
from vae.errors import VAEError
from vae.files import checkpoint_path, sanitize_name
from vae.models import BaseVAE
from vae.training.run import run_training

logger = logging.getLogger(__name__)

PREVIEW_COUNT = 8  # test images shown as originals over reconstructions after every epoch
MAX_CURVE_POINTS = 1000  # batch-level curve is thinned to about this many points
MAX_FINISHED_JOBS = 50  # finished jobs kept in the registry for late polls
# Training runs at once on this server. Each run keeps about one CPU core busy (torch uses more when free),
# so on the 2-core machine this app is sized for, a third run would slow every page and every run.
MAX_RUNNING_JOBS = 2
STATUSES = ("running", "completed", "cancelled", "diverged", "failed")


class JobError(VAEError):
    """A training job cannot start: its name is taken or would replace a model without permission."""


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
    preview: np.ndarray | None  # (2, PREVIEW_COUNT, H, W): originals over reconstructions
    preview_epoch: int  # epoch the preview was made after (0: before training)
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


@dataclass
class _Progress:
    """Mutable state behind the lock; only the training thread writes it."""

    status: str = "running"
    message: str = "Loading the dataset..."
    progress: float = 0.0
    event: TrainEvent | None = None
    curves: dict[str, list[float]] = field(
        default_factory=lambda: {"train_loss": [], "recon": [], "kl": [], "test_elbo": []}
    )
    batch_curves: dict[str, list[float]] = field(
        default_factory=lambda: {"step": [], "loss": [], "recon": [], "kl": []}
    )
    preview: np.ndarray | None = None
    preview_epoch: int = 0
    saved_path: Path | None = None
    advice: str = ""
    finished_at: float | None = None


class TrainingJob:
    """Train one model in a daemon thread and save it atomically when it ends.

    Args:
        name: Model name; sanitized, and the checkpoint goes to ``checkpoint_path(folder, name)``.
        dataset: A dataset name for ``vae.data.load_dataset`` or a ready Dataset.
        model_config: Architecture; its ``image_shape`` and ``channels`` are replaced by the dataset's.
        train_config: Epochs, batch size, learning rate, beta, seed, device.
        folder: Where checkpoints live.
        overwrite: Allow replacing an existing checkpoint of the same name.
    """

    def __init__(
        self,
        name: str,
        dataset: str | Dataset,
        model_config: ModelConfig,
        train_config: TrainConfig,
        folder: str | Path,
        overwrite: bool = False,
    ) -> None:
        self.job_id = uuid.uuid4().hex
        self.name = sanitize_name(name)
        self.target = checkpoint_path(folder, self.name)
        self.dataset_name = str(dataset) if isinstance(dataset, str) else str(dataset.name)
        self.overwrite = overwrite
        self._dataset_source = dataset
        self._model_config = model_config
        self._train_config = train_config
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._state = _Progress()
        self._started_at = time.monotonic()
        self._curve_stride = 1
        self._thread = threading.Thread(target=self._run, name=f"vae-train-{self.name}", daemon=True)

    def start(self) -> "TrainingJob":
        """Begin training in the background; returns self."""
        self._started_at = time.monotonic()
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the run to stop after the current batch; the last finished epoch is kept."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (or ``timeout`` seconds pass); True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        """True while the job has not reached a final status."""
        with self._lock:
            return self._state.status == "running"

    def snapshot(self) -> JobSnapshot:
        """A consistent copy of the progress, safe to read from any thread."""
        with self._lock:
            state = self._state
            event = state.event
            end = state.finished_at or time.monotonic()
            return JobSnapshot(
                job_id=self.job_id, name=self.name, dataset=self.dataset_name, status=state.status,
                message=state.message, progress=state.progress,
                epoch=event.epoch if event else 0, epochs=self._train_config.epochs,
                batch=event.batch if event else 0, batches=event.batches if event else 0,
                images_per_s=event.images_per_s if event else 0.0, elapsed_s=end - self._started_at,
                curves={key: list(values) for key, values in state.curves.items()},
                batch_curves={key: list(values) for key, values in state.batch_curves.items()},
                preview=None if state.preview is None else state.preview.copy(),
                preview_epoch=state.preview_epoch,
                saved_name=state.saved_path.stem if state.saved_path else None,
                saved_path=str(state.saved_path) if state.saved_path else None,
                advice=state.advice,
            )

    # --- the training thread -------------------------------------------------------------

    def _run(self) -> None:
        """Thread body: every outcome, errors included, ends in a final status and message."""
        try:
            self._train()
        except VAEError as error:
            self._finish("failed", str(error))
        except Exception as error:  # anything else must still reach the page as a message
            logger.exception("Training job %s (%s) failed", self.job_id, self.name)
            self._finish("failed", f"Training failed unexpectedly ({type(error).__name__}: {error}). "
                                   f"Try other settings; if it happens again, report it.")

    def _train(self) -> None:
        dataset = self._load_dataset()
        preview_images = dataset.test_images[:PREVIEW_COUNT]
        built: list[BaseVAE] = []

        def on_built(model: BaseVAE) -> None:
            built.append(model)
            self._set_preview(model, preview_images, epoch=0)
            batches = -(-len(dataset.train_images) // self._train_config.batch_size)
            self._curve_stride = max(1, (batches * self._train_config.epochs) // MAX_CURVE_POINTS)
            self._set_message(f"Training on {len(dataset.train_images):,} images...")

        def on_event(event: TrainEvent) -> None:
            if event.kind == "epoch":
                self._set_preview(built[0], preview_images, epoch=event.epoch)
            self._record(event)

        outcome = run_training(dataset, self._model_config, self._train_config, self.target,
                               is_taken=None if self.overwrite else self._is_taken, callback=on_event,
                               cancel=self._cancel, on_built=on_built)
        self._finish(outcome.status, outcome.message, saved_path=outcome.path, advice=outcome.advice)

    def _load_dataset(self) -> Dataset:
        # Duck-typed on purpose: Streamlit may reload vae.data, making an old Dataset fail isinstance.
        if isinstance(self._dataset_source, str):
            return load_dataset(self._dataset_source)
        return self._dataset_source

    def _set_message(self, message: str) -> None:
        with self._lock:
            self._state.message = message

    def _record(self, event: TrainEvent) -> None:
        """Store one callback event (called on the training thread for every batch and epoch)."""
        with self._lock:
            state = self._state
            state.event = event
            state.progress = event.progress
            if event.kind == "epoch":
                for key, value in (("train_loss", event.loss), ("recon", event.recon), ("kl", event.kl),
                                   ("test_elbo", event.test_elbo)):
                    state.curves[key].append(float(value))
                state.message = f"Epoch {event.epoch} of {event.epochs} done."
                return
            step = (event.epoch - 1) * event.batches + event.batch
            if step % self._curve_stride == 0 or event.batch == event.batches:
                for key, value in (("step", step / event.batches), ("loss", event.loss), ("recon", event.recon),
                                   ("kl", event.kl)):
                    state.batch_curves[key].append(float(value))

    def _set_preview(self, model: BaseVAE, images: np.ndarray, epoch: int) -> None:
        """Originals over mean reconstructions, (2, N, H, W), computed without touching training state."""
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                device = next(model.parameters()).device
                batch = torch.as_tensor(images, dtype=torch.float32, device=device)
                mu, _ = model.encode(batch)
                recon = model.decode(mu).cpu().numpy()
        finally:
            model.train(was_training)
        preview = np.stack([np.asarray(images, np.float32), np.nan_to_num(recon, nan=0.5)])
        with self._lock:
            self._state.preview = preview
            self._state.preview_epoch = epoch

    def _is_taken(self, name: str) -> bool:
        """Whether the name ``name`` is used: a file has it, or another running job will write it."""
        folder = self.target.parent
        return checkpoint_path(folder, name).exists() or (name != self.name and name_in_training(name, folder))

    def _finish(self, status: str, message: str, saved_path: Path | None = None, advice: str = "") -> None:
        with self._lock:
            self._state.status = status
            self._state.message = message
            self._state.saved_path = saved_path
            self._state.advice = advice
            self._state.finished_at = time.monotonic()
            if status == "completed":
                self._state.progress = 1.0


# --- registry ------------------------------------------------------------------------------

_JOBS: dict[str, TrainingJob] = {}
_REGISTRY_LOCK = threading.Lock()


def start_job(
    name: str,
    dataset: str | Dataset,
    model_config: ModelConfig,
    train_config: TrainConfig,
    folder: str | Path,
    overwrite: bool = False,
) -> str:
    """Start a TrainingJob in the background and return its id (a string to keep in session state).

    Raises:
        JobError: MAX_RUNNING_JOBS runs are going already, another running job writes the same
            file, or the file exists and ``overwrite`` is False.
        CheckpointError: The name has no usable letters or digits.
    """
    job = TrainingJob(name, dataset, model_config, train_config, folder, overwrite)
    with _REGISTRY_LOCK:
        check_capacity()
        check_name_free(job.name, folder, overwrite)
        _forget_old_jobs()
        _JOBS[job.job_id] = job
        job.start()
    return job.job_id


def check_capacity() -> None:
    """Raise JobError when MAX_RUNNING_JOBS runs are going on this server already."""
    running = sum(job.running for job in list(_JOBS.values()))
    if running >= MAX_RUNNING_JOBS:
        raise JobError(f"This server trains at most {MAX_RUNNING_JOBS} models at once, and {running} are being "
                       f"trained right now. Wait until one of them finishes (or stop yours), then start again.")


def name_in_training(name: str, folder: str | Path) -> bool:
    """Whether a running job will write the model called ``name`` in ``folder``."""
    target = checkpoint_path(folder, name)
    return any(job.target == target and job.running for job in list(_JOBS.values()))


def check_name_free(name: str, folder: str | Path, overwrite: bool = False) -> None:
    """Raise JobError when a model called ``name`` is being trained, or exists and may not be replaced."""
    target = checkpoint_path(folder, name)
    if name_in_training(name, folder):
        raise JobError(f"A model called {target.stem} is being trained right now. Pick another name, "
                       f"or wait until that run ends.")
    if target.exists() and not overwrite:
        raise JobError(f"A model called {target.stem} already exists. Pick another name, or allow replacing it.")


def get_job(job_id: str | None) -> TrainingJob | None:
    """The job with this id, or None when it is unknown (for example after the app restarted)."""
    if not job_id:
        return None
    with _REGISTRY_LOCK:
        return _JOBS.get(str(job_id))


def running_jobs() -> list[TrainingJob]:
    """Jobs still training, oldest first."""
    with _REGISTRY_LOCK:
        return [job for job in _JOBS.values() if job.running]


def _forget_old_jobs() -> None:
    """Keep the registry small: drop the oldest finished jobs beyond MAX_FINISHED_JOBS (lock held)."""
    finished = [job_id for job_id, job in _JOBS.items() if not job.running]
    for job_id in finished[: max(0, len(finished) - MAX_FINISHED_JOBS)]:
        del _JOBS[job_id]
