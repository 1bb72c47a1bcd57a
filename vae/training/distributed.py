"""Training in several processes under ``torchrun``: PyTorch DDP, gloo on the CPU and NCCL on GPUs.

Every process holds the whole dataset in memory and draws the same shuffled order and the same
noise as a single process would (same seed). Each global batch of ``batch_size`` images is split
into one contiguous share per process; each process computes the gradient of its share's summed
loss, DDP adds them up (its average times the number of processes), so every step is the
single-process step on the same images with the same noise, up to the order of float additions.
Process 0 (rank 0) reports progress and saves; the others only train.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from vae.models import BaseVAE


@dataclass(frozen=True)
class World:
    """The training processes of one run and this process's place among them (torchrun's environment)."""

    rank: int = 0  # this process, 0..size-1; 0 saves and reports
    size: int = 1  # processes in all (torchrun: nodes x processes per node)
    local_rank: int = 0  # this process on its machine: the GPU it uses

    @property
    def is_main(self) -> bool:
        """Whether this process reports progress and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether more than one process trains."""
        return self.size > 1

    def share(self, count: int) -> slice:
        """This process's rows of a batch of ``count``: contiguous, as even as possible (some may get none)."""
        per_process = -(-count // self.size)
        start = min(count, self.rank * per_process)
        return slice(start, min(count, start + per_process))


SINGLE = World()


def world_from_environment() -> World:
    """The world torchrun describes in RANK, WORLD_SIZE and LOCAL_RANK; one process when they are not set."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    return World(rank=int(os.environ["RANK"]), size=size, local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def device_for(world: World, name: str) -> torch.device:
    """The device this process trains on: its own GPU (LOCAL_RANK) under "auto" or "cuda" when there is one."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", world.local_rank) if world.distributed else torch.device("cuda")


def join(world: World, device: torch.device) -> None:
    """Join torchrun's process group (NCCL for GPUs, gloo for the CPU); nothing for a single process."""
    if not world.distributed or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=world.rank, world_size=world.size)


def leave(world: World) -> None:
    """Leave the process group (after the last collective call)."""
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def add_up(values: torch.Tensor, world: World) -> torch.Tensor:
    """The sum of ``values`` over every process (the tensor itself for a single process)."""
    if world.distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


class NoisyStep(nn.Module):
    """The training forward pass with the noise given, so every process can use its share of the global draw."""

    def __init__(self, model: BaseVAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, H, W) images and (B, D) standard normal noise -> logits (B, H, W), mu (B, D), logvar (B, D)."""
        mu, logvar = self.model.encode(images)
        z = mu + eps * torch.exp(0.5 * logvar)  # as BaseVAE.reparameterize, with this noise
        return self.model.decode_logits(z), mu, logvar


def wrap(model: BaseVAE, device: torch.device) -> nn.Module:
    """``model``'s training step under DDP (gradients added up across processes at each backward)."""
    return DistributedDataParallel(NoisyStep(model), device_ids=[device.index] if device.type == "cuda" else None)
