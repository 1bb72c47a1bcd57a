"""Training loop over preloaded tensors: seeded, cancellable, reporting through a callback; one process or several.

Per epoch, outside the training steps, the loop does only this: the test ELBO of the first
EPOCH_TEST_IMAGES test images (the same images every epoch, so the curve compares epochs; the
whole test set is measured once at the end, vae.training.run), an in-place copy of the weights
(kept in case the next epoch is stopped or blows up), and one progress report.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Callable

import numpy as np
import torch

from vae.analysis.metrics import test_elbo
from vae.config import History, ModelConfig, TrainConfig, TrainEvent
from vae.models import BaseVAE, build_model
from vae.models.losses import vae_loss
from vae.training.distributed import SINGLE, World, add_up, device_for, join, wrap

CancelFlag = threading.Event | Callable[[], bool] | None
# torch.manual_seed is process-wide: two runs building models at once (the app's jobs) would mix their seeds.
_BUILD_LOCK = threading.Lock()
# The per-epoch test ELBO reads this many test images (all of them up to 1,000: digits, mnist-5k). Over 10,000
# MNIST test images it took 0.1 s an epoch (5% of a classic-mlp epoch); 1,000 still give a steady curve.
EPOCH_TEST_IMAGES = 1000


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when asked for or available under "auto", else the CPU."""
    return device_for(SINGLE, name)


def train_model(
    train_images: np.ndarray,
    test_images: np.ndarray,
    model_config: ModelConfig,
    train_config: TrainConfig,
    callback: Callable[[TrainEvent], None] | None = None,
    cancel: CancelFlag = None,
    on_built: Callable[[BaseVAE], None] | None = None,
    world: World = SINGLE,
) -> tuple[BaseVAE, History]:
    """Build a model seeded by ``train_config.seed`` and fit it; returns it on the CPU.

    ``on_built`` is called with the new model before the first batch (the app previews it).
    Every process of a ``world`` builds the same model from the same seed.
    """
    with _BUILD_LOCK:
        model = build_model(model_config, seed=train_config.seed)
    if on_built:
        on_built(model)
    history = fit(model, train_images, test_images, train_config, callback, cancel, world)
    return model.cpu().eval(), history


def fit(
    model: BaseVAE,
    train_images: np.ndarray | torch.Tensor,
    test_images: np.ndarray | torch.Tensor,
    config: TrainConfig,
    callback: Callable[[TrainEvent], None] | None = None,
    cancel: CancelFlag = None,
    world: World = SINGLE,
) -> History:
    """Train ``model`` in place on (N, H, W) images in [0, 1].

    Batches are slices of one shuffled index over tensors already on the device,
    so no per-sample DataLoader work is done. A set ``cancel`` flag, or a loss that
    turns NaN/inf, stops the run and restores the weights of the last finished epoch.
    Under torchrun (``world`` of several processes) each process trains on its share of
    every batch (vae.training.distributed) and all of them stop together.
    """
    device = device_for(world, config.device)
    join(world, device)
    model.to(device)
    train = torch.as_tensor(train_images, dtype=torch.float32, device=device)
    test = torch.as_tensor(test_images[:EPOCH_TEST_IMAGES], dtype=torch.float32, device=device)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    step = wrap(model, device) if world.distributed else model
    optimizer = _make_optimizer(model, config.learning_rate)
    history = History()
    last_good = _copy_weights(model)
    for epoch in range(1, config.epochs + 1):
        outcome = _run_epoch(step, model, optimizer, train, config, epoch, generator, callback, cancel, world)
        if isinstance(outcome, str):
            _restore_weights(model, last_good)
            history.status, history.message = _stop_reason(outcome, config, history.epochs_done)
            break
        elbo = test_elbo(model, test, beta=1.0, seed=config.seed)
        _record(history, outcome, elbo)
        _keep_weights(last_good, model)
        if callback:
            fields = {k: v for k, v in outcome.items() if k != "seconds"}
            callback(TrainEvent(test_elbo=elbo, **fields))
    model.eval()
    return history


def _run_epoch(step, model, optimizer, train, config, epoch, generator, callback, cancel, world) -> dict | str:
    """One pass over shuffled batches: the epoch's means, or "cancelled"/"diverged"."""
    model.train()
    count = train.shape[0]
    batches = math.ceil(count / config.batch_size)
    order = torch.randperm(count, generator=generator, device=train.device)
    sums = [0.0, 0.0, 0.0]  # total, recon, kl over the epoch, in float64
    start = time.perf_counter()
    for batch in range(1, batches + 1):
        rows = order[(batch - 1) * config.batch_size : batch * config.batch_size]
        if world.distributed:
            values, loss, stop = _shared_batch(step, model, train, rows, config, generator, cancel, world)
            if stop:
                return "cancelled"
        else:
            if _is_set(cancel):
                return "cancelled"
            # index_select copies the rows several times faster than train[rows] (advanced indexing).
            images = train.index_select(0, rows)
            logits, mu, logvar = model(images, generator)
            loss = vae_loss(logits, images, mu, logvar, model.config.likelihood, model.config.gaussian_std, config.beta)
            values = torch.stack([loss.total, loss.recon, loss.kl]).tolist()  # the batch's one host sync
        if not all(map(math.isfinite, values)):
            return "diverged"
        optimizer.zero_grad(set_to_none=True)
        # DDP averages the processes' gradients: scaled by their number, it adds up the shares' summed losses.
        (loss.total * world.size if world.distributed else loss.total).backward()
        optimizer.step()
        sums = [total + value for total, value in zip(sums, values)]
        if callback:
            seen = min(batch * config.batch_size, count)
            speed = seen / max(time.perf_counter() - start, 1e-9)
            per_image = [value / rows.shape[0] for value in values]
            callback(TrainEvent("batch", epoch, config.epochs, batch, batches, *per_image, speed))
    seconds = time.perf_counter() - start
    loss_mean, recon_mean, kl_mean = (total / count for total in sums)
    return dict(kind="epoch", epoch=epoch, epochs=config.epochs, batch=batches, batches=batches,
                loss=loss_mean, recon=recon_mean, kl=kl_mean, images_per_s=count / seconds, seconds=seconds)


def _shared_batch(step, model, train, rows, config, generator, cancel, world) -> tuple[list[float], object, bool]:
    """This process's share of one global batch: the batch's summed values over all processes, its loss, and
    whether any process was asked to stop (decided together, so no process waits for one that left)."""
    count = rows.shape[0]
    # The whole batch's noise, drawn as a single process draws it; each process takes its own rows.
    eps = torch.randn((count, model.config.latent_dim), generator=generator, device=train.device)
    mine = world.share(count)
    images = train.index_select(0, rows[mine])
    logits, mu, logvar = step(images, eps[mine])
    loss = vae_loss(logits, images, mu, logvar, model.config.likelihood, model.config.gaussian_std, config.beta)
    stop = torch.tensor(float(_is_set(cancel)), device=train.device)
    shared = add_up(torch.stack([loss.total.detach(), loss.recon.detach(), loss.kl.detach(), stop]), world).tolist()
    return shared[:3], loss, shared[3] > 0


def _copy_weights(model: BaseVAE) -> list[torch.Tensor]:
    return [tensor.detach().clone() for tensor in model.state_dict().values()]


@torch.no_grad()
def _keep_weights(kept: list[torch.Tensor], model: BaseVAE) -> None:
    """Copy the weights into the tensors kept (no new memory each epoch)."""
    for copy, tensor in zip(kept, model.state_dict().values()):
        copy.copy_(tensor)


@torch.no_grad()
def _restore_weights(model: BaseVAE, kept: list[torch.Tensor]) -> None:
    for tensor, copy in zip(model.state_dict().values(), kept):
        tensor.copy_(copy)


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
