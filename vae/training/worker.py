"""The training process of one app run: ``python -m vae.training.worker <state file>``, started by vae.training.jobs.

It lowers its own priority (os.nice) and uses its share of the cores, so the web server stays quick; trains
through vae.training.run (the one orchestrator) and writes its progress to the run's state file
(vae.training.progress). Stop arrives as SIGTERM or SIGINT, or as the run's stop file (from any server).
torch is imported only after the first state write, so the page shows the process alive at once.
"""
from __future__ import annotations

import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from vae.analysis.projection import Projection, dims_projection, pca_projection
from vae.config import ModelConfig, TrainConfig, TrainEvent
from vae.data.dataset import Dataset
from vae.data.registry import load_dataset
from vae.errors import VAEError
from vae.files import checkpoint_path
from vae.images import to_uint8
from vae.io.timelapse import MAX_IMAGES
from vae.training import progress

LOGGER = logging.getLogger(__name__)
WORKER_NICENESS = 10  # added to the server's priority: the scheduler serves the web server first
STOP_CHECK_S = 0.25  # how often the stop file is looked for
MAX_CURVE_POINTS = 1000  # the batch-level curve is thinned to about this many points
LIVE_FRAME = (-4.0, 4.0, -4.0, 4.0)  # the Train page's map: fixed at 4 prior standard deviations on each axis


def main(argv: list[str] | None = None) -> int:
    """Run the job whose state file is the one argument; the exit status is 0 whatever the outcome (it is in the file)."""
    state_path = Path((argv if argv is not None else sys.argv[1:])[0])
    lower_priority()
    signalled = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: signalled.set())
    import torch

    torch.set_num_threads(threads_per_run())
    run_job(state_path.parent.parent, state_path.name.removesuffix(".json"), signalled)
    return 0


def lower_priority() -> None:
    """Nice the process; on Linux also the idle policy: it trains only on what the web server leaves free."""
    try:
        os.nice(WORKER_NICENESS)
    except OSError:  # not allowed here: train at the same priority
        LOGGER.info("Could not lower the training process's priority")
    if hasattr(os, "SCHED_IDLE"):  # set before torch starts its threads, which inherit it
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError:
            LOGGER.info("Could not give the training process the idle scheduling policy")


def threads_per_run() -> int:
    """torch threads for one run: the cores shared among the runs that may go at once (1 on a 2-core machine)."""
    return max(1, (os.cpu_count() or 1) // progress.MAX_RUNNING_JOBS)


def run_job(checkpoints: Path, job_id: str, signalled: threading.Event | None = None) -> None:
    """Train run ``job_id`` of the folder ``checkpoints``; every outcome, errors included, ends in its state file."""
    reporter = Reporter(checkpoints, job_id)
    reporter.begin()
    try:
        train(reporter, signalled)
    except VAEError as error:
        reporter.finish("failed", str(error))
    except Exception as error:  # anything else must still reach the page as a message
        LOGGER.exception("Training run %s (%s) failed", job_id, reporter.name)
        reporter.finish("failed", f"Training failed unexpectedly ({type(error).__name__}: {error}). "
                                  f"Try other settings; if it happens again, report it.")
    finally:
        reporter.close()


def train(reporter: "Reporter", signalled: threading.Event | None) -> None:
    from vae.training.run import run_training  # imports torch

    spec = reporter.state["spec"]
    dataset = load_images(reporter.checkpoints, reporter.job_id, spec)
    train_config = TrainConfig.from_dict(spec["train_config"])
    reporter.prepare(dataset, train_config)
    outcome = run_training(dataset, ModelConfig.from_dict(spec["model_config"]), train_config,
                           checkpoint_path(reporter.checkpoints, reporter.name),
                           is_taken=None if spec["overwrite"] else reporter.is_taken, callback=reporter.on_event,
                           cancel=reporter.stop_check(signalled), on_frame=reporter.on_frame)
    reporter.finish(outcome.status, outcome.message, outcome.path, outcome.advice)


def load_images(checkpoints: Path, job_id: str, spec: dict) -> Dataset:
    """The run's dataset: by name, or from the file the server handed over (removed once read)."""
    if not spec.get("data_file"):
        return load_dataset(spec["dataset"])
    path = progress.data_file(checkpoints, job_id)
    with np.load(path, allow_pickle=False) as saved:
        dataset = Dataset(name=str(saved["name"]), train_images=saved["train_images"], train_labels=saved["train_labels"],
                          test_images=saved["test_images"], test_labels=saved["test_labels"],
                          class_names=tuple(str(name) for name in saved["class_names"]))
    path.unlink(missing_ok=True)
    return dataset


class Reporter:
    """The run's state, kept in memory and written to its file: throttled, atomically, with a heartbeat."""

    def __init__(self, checkpoints: Path, job_id: str) -> None:
        state = progress.read_state(checkpoints, job_id)
        if state is None:
            raise VAEError("This training run's state file is missing or damaged.")
        self.checkpoints, self.job_id, self.state, self.name = Path(checkpoints), job_id, state, state["name"]
        self.lock = threading.Lock()
        self.last_write = 0.0
        self.curve_stride, self.next_step = 1, 0
        self.labels, self.class_names = np.zeros(0, np.int64), np.array([], dtype=str)
        self.plane: Projection | None = None
        self.stopping, self.stop_checked = False, 0.0
        self.closed = threading.Event()
        self.heartbeat = threading.Thread(target=self._beat, name=f"vae-heartbeat-{job_id[:8]}", daemon=True)

    def begin(self) -> None:
        """Say this process runs the job (its pid, start time and machine), then keep the state fresh."""
        pid = os.getpid()
        self._update(pid=pid, pid_start=progress.process_start(pid), host=socket.gethostname(),
                     message="Loading the images...")
        self.heartbeat.start()

    def prepare(self, dataset: Dataset, config: TrainConfig) -> None:
        batches = -(-len(dataset.train_images) // config.batch_size)
        self.curve_stride = max(1, (batches * config.epochs) // MAX_CURVE_POINTS)
        self.labels = np.asarray(dataset.test_labels[:MAX_IMAGES], np.int64)
        self.class_names = np.array([str(name) for name in dataset.class_names], dtype=str)
        self._update(message=f"Training on {len(dataset.train_images):,} images...")

    def on_event(self, event: TrainEvent) -> None:
        """Record one progress report; written at once after an epoch, else at most every PROGRESS_WRITE_S."""
        with self.lock:
            state = self.state
            state.update(progress=event.progress, epoch=event.epoch, epochs=event.epochs, batch=event.batch,
                         batches=event.batches, images_per_s=float(event.images_per_s))
            if event.kind == "epoch":
                for key, value in (("train_loss", event.loss), ("recon", event.recon), ("kl", event.kl),
                                   ("test_elbo", event.test_elbo)):
                    state["curves"][key].append(_finite(value))
                state["message"] = f"Epoch {event.epoch} of {event.epochs} done."
            else:
                self._add_batch_point(event)
            if event.kind == "epoch" or time.monotonic() - self.last_write >= progress.PROGRESS_WRITE_S:
                self._write()

    def _add_batch_point(self, event: TrainEvent) -> None:
        step = (event.epoch - 1) * event.batches + event.batch
        if step >= self.next_step or event.batch == event.batches:
            self.next_step = step + self.curve_stride
            for key, value in (("step", step / event.batches), ("loss", event.loss), ("recon", event.recon),
                               ("kl", event.kl)):
                self.state["batch_curves"][key].append(_finite(value))

    def on_frame(self, frame) -> None:
        """The previews after an epoch (vae.training.recorder.EpochFrame); the map from the first epoch on."""
        arrays = {"epoch": np.array(frame.epoch), "originals": to_uint8(frame.originals),
                  "reconstructions": to_uint8(frame.reconstructions), "samples": to_uint8(frame.samples)}
        if frame.epoch >= 1 and len(frame.codes):
            if self.plane is None:  # fixed after the first epoch, so the motion on the page reads
                latent_dim = frame.codes.shape[1]
                self.plane = dims_projection(latent_dim) if latent_dim <= 2 else pca_projection(frame.codes)
            arrays.update(map_points=self.plane.to_2d(frame.codes), map_labels=self.labels[: len(frame.codes)],
                          map_class_names=self.class_names, map_frame=np.array(LIVE_FRAME),
                          map_axis_titles=np.array(list(self.plane.labels), dtype=str))
        try:
            progress.write_preview(self.checkpoints, self.job_id, arrays)
        except OSError:
            LOGGER.warning("Could not write the previews of run %s", self.job_id, exc_info=True)
            return
        self._update(preview_epoch=int(frame.epoch))

    def finish(self, status: str, message: str, path: Path | None = None, advice: str = "") -> None:
        changes = dict(status=status, message=message, saved_name=path.stem if path else None, advice=advice,
                       finished=time.time())
        if status == "completed":
            changes["progress"] = 1.0
        self._update(**changes)

    def close(self) -> None:
        self.closed.set()
        self.heartbeat.join(timeout=5)

    def is_taken(self, name: str) -> bool:
        """Whether ``name`` is used: a file has it, or another run going on in the folder will write it."""
        return checkpoint_path(self.checkpoints, name).exists() or (
            name != self.name and name in progress.names_in_training(self.checkpoints, exclude=self.job_id))

    def stop_check(self, signalled: threading.Event | None) -> Callable[[], bool]:
        """The loop's cancel flag: a signal, or the stop file (looked for every STOP_CHECK_S)."""

        def asked() -> bool:
            if not self.stopping and signalled is not None and signalled.is_set():
                self.stopping = True
            now = time.monotonic()
            if not self.stopping and now - self.stop_checked >= STOP_CHECK_S:
                self.stop_checked = now
                self.stopping = progress.stop_requested(self.checkpoints, self.job_id)
            return self.stopping

        return asked

    def _update(self, **changes) -> None:
        with self.lock:
            self.state.update(changes)
            self._write()

    def _write(self) -> None:
        """Write the state (lock held); a full disk must not stop training."""
        try:
            progress.write_state(self.checkpoints, self.state)
        except (OSError, ValueError):
            LOGGER.warning("Could not write the progress of run %s", self.job_id, exc_info=True)
        self.last_write = time.monotonic()

    def _beat(self) -> None:
        while not self.closed.wait(progress.HEARTBEAT_S / 2):
            with self.lock:
                if time.monotonic() - self.last_write >= progress.HEARTBEAT_S:
                    self._write()


def _finite(value: float | None) -> float | None:
    """A curve value for JSON, which has no NaN or infinity: those become None (a gap in the curve)."""
    return float(value) if value is not None and math.isfinite(value) else None


if __name__ == "__main__":
    sys.exit(main())
