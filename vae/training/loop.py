"""Training loop over preloaded tensors: seeded, cancellable, reporting through a callback."""
from __future__ import annotations

import copy
import math
import threading
import time
from typing import Callable

import numpy as np
import torch

from vae.analysis.metrics import test_elbo
from vae.config import History, ModelConfig, TrainConfig, TrainEvent
from vae.models import BaseVAE, build_model
from vae.models.losses import vae_loss, warmup_beta

CancelFlag = threading.Event | Callable[[], bool] | None
# torch.manual_seed is process-wide: two runs building models at once (the app's jobs) would mix their seeds.
_BUILD_LOCK = threading.Lock()


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when asked for or available under "auto", else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def train_model(
    train_images: np.ndarray,
    test_images: np.ndarray,
    model_config: ModelConfig,
    train_config: TrainConfig,
    callback: Callable[[TrainEvent], None] | None = None,
    cancel: CancelFlag = None,
    on_built: Callable[[BaseVAE], None] | None = None,
) -> tuple[BaseVAE, History]:
    """Build a model seeded by ``train_config.seed`` and fit it; returns it on the CPU.

    ``on_built`` is called with the new model before the first batch (the app previews it).
    """
    with _BUILD_LOCK:
        model = build_model(model_config, seed=train_config.seed)
    if on_built:
        on_built(model)
    history = fit(model, train_images, test_images, train_config, callback, cancel)
    return model.cpu().eval(), history


def fit(
    model: BaseVAE,
    train_images: np.ndarray | torch.Tensor,
    test_images: np.ndarray | torch.Tensor,
    config: TrainConfig,
    callback: Callable[[TrainEvent], None] | None = None,
    cancel: CancelFlag = None,
) -> History:
    """Train ``model`` in place on (N, H, W) images in [0, 1].

    Batches are slices of one shuffled index over tensors already on the device,
    so no per-sample DataLoader work is done. A set ``cancel`` flag, or a loss that
    turns NaN/inf, stops the run and restores the weights of the last finished epoch.
    """
    device = pick_device(config.device)
    model.to(device)
    train = torch.as_tensor(train_images, dtype=torch.float32, device=device)
    test = torch.as_tensor(test_images, dtype=torch.float32, device=device)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    optimizer = _make_optimizer(model, config.learning_rate)
    history = History()
    last_good = copy.deepcopy(model.state_dict())
    for epoch in range(1, config.epochs + 1):
        outcome = _run_epoch(model, optimizer, train, config, epoch, generator, callback, cancel)
        if isinstance(outcome, str):
            model.load_state_dict(last_good)
            history.status, history.message = _stop_reason(outcome, config, history.epochs_done)
            break
        elbo = test_elbo(model, test, beta=1.0, seed=config.seed)
        _record(history, outcome, elbo)
        last_good = copy.deepcopy(model.state_dict())
        if callback:
            fields = {k: v for k, v in outcome.items() if k != "seconds"}
            callback(TrainEvent(test_elbo=elbo, **fields))
    model.eval()
    return history


def _run_epoch(model, optimizer, train, config, epoch, generator, callback, cancel) -> dict | str:
    """One pass over shuffled batches: the epoch's means, or "cancelled"/"diverged"."""
    model.train()
    count = train.shape[0]
    batches = math.ceil(count / config.batch_size)
    order = torch.randperm(count, generator=generator, device=train.device)
    sums = [0.0, 0.0, 0.0]  # total, recon, kl over the epoch, in float64
    start = time.perf_counter()
    for batch in range(1, batches + 1):
        if _is_set(cancel):
            return "cancelled"
        # index_select copies the rows several times faster than train[rows] (advanced indexing).
        images = train.index_select(0, order[(batch - 1) * config.batch_size : batch * config.batch_size])
        logits, mu, logvar = model(images, generator)
        loss = _objective(model, logits, images, mu, logvar, config, epoch)
        values = torch.stack([loss.total, loss.recon, loss.kl]).tolist()  # the batch's one host sync
        if not all(map(math.isfinite, values)):
            return "diverged"
        optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        optimizer.step()
        sums = [total + value for total, value in zip(sums, values)]
        if callback:
            seen = min(batch * config.batch_size, count)
            speed = seen / max(time.perf_counter() - start, 1e-9)
            per_image = [value / images.shape[0] for value in values]
            callback(TrainEvent("batch", epoch, config.epochs, batch, batches, *per_image, speed))
    seconds = time.perf_counter() - start
    loss_mean, recon_mean, kl_mean = (total / count for total in sums)
    return dict(kind="epoch", epoch=epoch, epochs=config.epochs, batch=batches, batches=batches,
                loss=loss_mean, recon=recon_mean, kl=kl_mean, images_per_s=count / seconds, seconds=seconds)


def _objective(model, logits, images, mu, logvar, config: TrainConfig, epoch: int):
    """The batch's loss: the negative ELBO, its KL weighted by the warm-up's beta and floored by free bits."""
    beta = warmup_beta(config.beta, epoch, config.kl_warmup)
    return vae_loss(logits, images, mu, logvar, model.config.likelihood, model.config.gaussian_std, beta,
                    free_bits=config.free_bits)


def _record(history: History, outcome: dict, elbo: float) -> None:
    history.train_loss.append(outcome["loss"])
    history.recon.append(outcome["recon"])
    history.kl.append(outcome["kl"])
    history.test_elbo.append(elbo)
    history.images_per_s.append(outcome["images_per_s"])
    history.seconds.append(outcome["seconds"])


def _stop_reason(outcome: str, config: TrainConfig, epochs_done: int) -> tuple[str, str]:
    kept = f"The model from epoch {epochs_done} was kept." if epochs_done else "No epoch finished, so the model is untrained."
    if outcome == "cancelled":
        return "cancelled", f"Training was stopped. {kept}"
    return "diverged", f"Training stopped: {divergence_advice(config.learning_rate)} {kept}"


def divergence_advice(learning_rate: float) -> str:
    """What a loss that blew up means and what to do, for a non-programmer."""
    return (f"the loss became infinite or not-a-number, which usually means the learning rate ({learning_rate:g}) "
            f"is too high. Try 0.001.")


def _is_set(cancel: CancelFlag) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def _make_optimizer(model: BaseVAE, learning_rate: float) -> torch.optim.Optimizer:
    """Adam with the fused kernel where this torch build has it (fewer passes over the weights)."""
    try:
        return torch.optim.Adam(model.parameters(), lr=learning_rate, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(model.parameters(), lr=learning_rate, foreach=True)
