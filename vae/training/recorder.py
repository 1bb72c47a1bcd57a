"""What training records after each epoch: the test images' codes (the time-lapse) and, for the app, previews.

After every finished epoch :class:`EpochRecorder` encodes the first vae.io.timelapse.MAX_IMAGES test
images (their latent means); at the end it gives the :class:`~vae.io.timelapse.Timelapse` saved
beside the checkpoint. With ``previews`` on (the app's runs), each epoch also gives an
:class:`EpochFrame`: the reconstructions of a few fixed test images and PRIOR_SAMPLES images
decoded from fixed noise, so the Train page shows the same pictures improving.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vae.io.timelapse import MAX_IMAGES, Timelapse, build_timelapse, frame_stride
from vae.models import BaseVAE
from vae.training.progress import PREVIEW_COUNT, PRIOR_SAMPLES


@dataclass(frozen=True)
class EpochFrame:
    """The model after one epoch, as numpy arrays."""

    epoch: int  # 0: the untrained model
    codes: np.ndarray  # (N, D) latent means of the first N test images
    originals: np.ndarray | None  # (PREVIEW_COUNT, H, W) test images, when previews are on
    reconstructions: np.ndarray | None  # (PREVIEW_COUNT, H, W)
    samples: np.ndarray | None  # (PRIOR_SAMPLES, H, W) decoded from the fixed noise


class EpochRecorder:
    """Encode the test images after each epoch; keep every k-th epoch and the last for the time-lapse."""

    def __init__(self, test_images: np.ndarray, test_labels: np.ndarray, class_names: tuple[str, ...],
                 dataset: str, epochs: int, seed: int, previews: bool = False) -> None:
        self.images = np.asarray(test_images[:MAX_IMAGES], np.float32)
        self.labels = np.asarray(test_labels[: len(self.images)], np.int64)
        self.class_names = tuple(str(name) for name in class_names)
        self.dataset = dataset
        self.stride = frame_stride(epochs)
        self.previews = previews
        self.seed = seed
        self.model: BaseVAE | None = None
        self.kept: list[tuple[int, np.ndarray]] = []
        self.latest: tuple[int, np.ndarray] | None = None

    def attach(self, model: BaseVAE) -> EpochFrame:
        """Follow ``model`` from now on; returns the untrained model's frame (epoch 0, not kept in the time-lapse)."""
        self.model = model
        self.noise = torch.from_numpy(  # fixed for the whole run: the samples change only as the decoder learns
            np.random.default_rng(self.seed).standard_normal((PRIOR_SAMPLES, model.config.latent_dim), np.float32))
        return self._frame(0)

    def record(self, epoch: int) -> EpochFrame:
        """The model's frame after ``epoch``; its codes are kept for the time-lapse every ``stride`` epochs."""
        frame = self._frame(epoch)
        self.latest = (epoch, frame.codes)
        if (epoch - 1) % self.stride == 0:
            self.kept.append(self.latest)
        return frame

    def timelapse(self) -> Timelapse | None:
        """The recorded frames (the last finished epoch always among them); None when no epoch finished."""
        if self.latest is None or not len(self.images):
            return None
        frames = self.kept if self.kept and self.kept[-1][0] == self.latest[0] else [*self.kept, self.latest]
        return build_timelapse([epoch for epoch, _ in frames], [codes for _, codes in frames], self.labels,
                               self.class_names, self.dataset)

    @torch.no_grad()
    def _frame(self, epoch: int) -> EpochFrame:
        model = self.model
        assert model is not None, "attach a model first"
        was_training = model.training
        model.eval()
        try:
            device = next(model.parameters()).device
            codes = _encode(model, self.images, device)
            if not self.previews:
                return EpochFrame(epoch, codes, None, None, None)
            originals = self.images[:PREVIEW_COUNT]
            reconstructions = _decode(model, torch.from_numpy(codes[:PREVIEW_COUNT]), device)
            samples = _decode(model, self.noise, device)
        finally:
            model.train(was_training)
        return EpochFrame(epoch, codes, originals, reconstructions, samples)


def _encode(model: BaseVAE, images: np.ndarray, device: torch.device) -> np.ndarray:
    if not len(images):
        return np.zeros((0, model.config.latent_dim), np.float32)
    mu, _ = model.encode(torch.as_tensor(images, device=device))
    return mu.float().cpu().numpy()


def _decode(model: BaseVAE, codes: torch.Tensor, device: torch.device) -> np.ndarray:
    images = model.decode(codes.to(device)).float().cpu().numpy()
    return np.nan_to_num(images, nan=0.5).clip(0.0, 1.0)
