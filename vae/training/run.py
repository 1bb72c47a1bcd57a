"""The one training run, from settings to saved files: build, train, evaluate, save the checkpoint, its map's codes and
its time-lapse, and judge whether the model learned anything. The command line (``python -m vae train``, also under
torchrun) and the app's background jobs (vae.training.worker) both train through :func:`run_training`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vae.analysis.latent import LatentModel
from vae.analysis.metrics import check_codes, evaluate, test_elbo
from vae.config import History, ModelConfig, TrainConfig, TrainEvent
from vae.data.dataset import Dataset
from vae.errors import VAEError
from vae.files import checkpoint_path, next_free_name
from vae.io.checkpoints import save_checkpoint
from vae.io.codes import TestCodes, encode_test_codes, save_codes
from vae.io.timelapse import Timelapse, write_timelapse
from vae.models import BaseVAE
from vae.presets import for_images
from vae.training.distributed import SINGLE, World
from vae.training.loop import CancelFlag, divergence_advice, train_model
from vae.training.recorder import EpochFrame, EpochRecorder

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    """How a training run ended and what it saved."""

    status: str  # "completed", "cancelled" or "diverged", as History.status
    message: str  # how the run ended and what was saved, in words
    history: History
    path: Path | None  # the checkpoint written; None when no epoch finished (nothing is saved then)
    codes_path: Path | None  # its map's codes; None when its dataset cannot be opened by name, or the write failed
    metrics: dict[str, float]
    advice: str  # why the model is not useful yet and what to try (vae.analysis.metrics.check_codes); "" when fine
    timelapse_path: Path | None = None  # the test images' codes after each epoch; None when not written


def run_training(
    dataset: Dataset,
    model_config: ModelConfig,
    train_config: TrainConfig,
    target: str | Path,
    *,
    is_taken: Callable[[str], bool] | None = None,
    measure: bool = False,
    callback: Callable[[TrainEvent], None] | None = None,
    cancel: CancelFlag = None,
    on_built: Callable[[BaseVAE], None] | None = None,
    on_frame: Callable[[EpochFrame], None] | None = None,
    world: World = SINGLE,
) -> RunOutcome:
    """Train a new model on ``dataset`` and save it as ``target``, with the codes of its test images beside it.

    Args:
        dataset: The images; the model is built for their size and colour (``image_shape`` and ``channels`` replaced).
        model_config: The architecture.
        train_config: Epochs, batch size, learning rate, beta, seed, device.
        target: The checkpoint file to write.
        is_taken: None replaces ``target``. Otherwise a name it says is taken is not written: the model
            goes to the next free name beside it (``name-2``, ``name-3``..., see vae.files.next_free_name).
        measure: Also measure the NLL, the kNN accuracy and the active units (vae.analysis.metrics.evaluate,
            seconds of work); else the metrics are the test ELBO of the whole test set.
        callback: Called with every progress report (vae.training.loop.fit).
        cancel: A flag that stops the run after the current batch; the last finished epoch is kept.
        on_built: Called with the freshly built, seeded model before training starts.
        on_frame: Called with the untrained model's previews, then after every epoch (vae.training.recorder).
        world: The processes of a torchrun launch; process 0 alone reports, saves and returns the files.

    Returns:
        The outcome. When no epoch finished (stopped or diverged at once) nothing is saved; other processes
        than the first save nothing either.
    """
    config = for_images(model_config, dataset.image_shape, dataset.channels)
    recorder = EpochRecorder(dataset.test_images, dataset.test_labels, tuple(dataset.class_names), dataset.name,
                             train_config.epochs, train_config.seed, previews=on_frame is not None)
    hooks = _recording_hooks(recorder, callback, on_built, on_frame) if world.is_main else (None, None)
    module, history = train_model(dataset.train_images, dataset.test_images, config, train_config, hooks[0], cancel,
                                  hooks[1], world)
    if history.epochs_done == 0 or not world.is_main:
        message = nothing_saved_message(history.status, train_config) if history.epochs_done == 0 else ""
        return RunOutcome(history.status, message, history, None, None, {}, "")
    model = LatentModel(module=module, dataset=dataset.name, class_names=tuple(dataset.class_names))
    metrics = (evaluate(model, dataset) if measure
               else {"test_elbo": test_elbo(module, dataset.test_images, beta=1.0, seed=train_config.seed)})
    path = Path(target) if is_taken is None else free_path(Path(target), is_taken)
    save_checkpoint(path, module, dataset=dataset.name, class_names=dataset.class_names, train_config=train_config,
                    history=history, metrics=metrics, world_size=world.size)
    codes = encode_test_codes(model, dataset.test_images, dataset.test_labels, tuple(dataset.class_names),
                              dataset.name)
    advice = check_codes(codes.means, history.epochs_done, train_config.beta).advice
    return RunOutcome(history.status, saved_message(history, path, Path(target)), history, path,
                      save_map_codes(path, codes), metrics, advice, save_timelapse(path, recorder.timelapse()))


def _recording_hooks(recorder: EpochRecorder, callback, on_built, on_frame) -> tuple[Callable, Callable]:
    """The loop's callback and on_built: the recorder follows the model and records each epoch before it is reported."""

    def built(module: BaseVAE) -> None:
        first = recorder.attach(module)
        if on_built:
            on_built(module)
        if on_frame:
            on_frame(first)

    def report(event: TrainEvent) -> None:
        frame = recorder.record(event.epoch) if event.kind == "epoch" else None
        if callback:
            callback(event)
        if frame is not None and on_frame:
            on_frame(frame)

    return report, built


def save_timelapse(path: Path, timelapse: Timelapse | None) -> Path | None:
    """Save the per-epoch codes beside the new checkpoint (vae.io.timelapse); optional, like the map's codes."""
    if timelapse is None:
        return None
    try:
        return write_timelapse(path, timelapse)
    except (VAEError, OSError, ValueError):
        LOGGER.warning("Could not save the time-lapse of %s", path, exc_info=True)
        return None


def free_path(target: Path, is_taken: Callable[[str], bool]) -> Path:
    """``target``, or ``name-2``, ``name-3``... beside it: the first name that ``is_taken`` says is free."""
    return checkpoint_path(target.parent, next_free_name(target.stem, is_taken))


def save_map_codes(path: Path, codes: TestCodes) -> Path | None:
    """Save the test images' codes beside the new checkpoint, so its map opens without encoding them.

    Optional: when the dataset cannot be opened by name, or the write fails, nothing is saved and
    the app encodes the images itself when it first shows the model.
    """
    try:
        return save_codes(path, codes)
    except (VAEError, OSError):
        LOGGER.warning("Could not save the test-image codes of %s", path, exc_info=True)
        return None


def saved_message(history: History, path: Path, target: Path) -> str:
    """How a run that saved its model ended, and under which name (``path`` differs from ``target`` when it was taken)."""
    renamed = "" if path == target else f" (the name {target.stem} was taken meanwhile)"
    if history.status == "completed":
        return f"Training finished after {history.epochs_done} epochs. Saved as {path.stem}{renamed}."
    return f"{history.message} It was saved as {path.stem}{renamed}."


def nothing_saved_message(status: str, train_config: TrainConfig) -> str:
    """Why a run that finished no epoch saved nothing."""
    if status == "cancelled":
        return "Training was stopped before the first epoch finished, so nothing was saved."
    return f"Training stopped in the first epoch: {divergence_advice(train_config.learning_rate)} Nothing was saved."
