"""Model metrics: test ELBO, importance-sampled NLL (IWAE bound), kNN accuracy, active units, disentanglement, a check."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from vae.analysis.disentanglement import dci, mig
from vae.analysis.likelihoods import bernoulli_entropy_floor
from vae.analysis.scores import NOISE_BUDGET
from vae.analysis.scores import importance_sampled_nll as bounded_nll
from vae.data.dataset import require_image_size
from vae.models import BaseVAE
from vae.models.losses import kl_divergence, reconstruction_nll

if TYPE_CHECKING:  # only for hints: vae.analysis.latent and vae.data need nothing from here
    from vae.analysis.latent import LatentModel
    from vae.data.dataset import Dataset


def _as_images(model: BaseVAE, images: np.ndarray | torch.Tensor) -> torch.Tensor:
    device = next(model.parameters()).device
    return torch.as_tensor(images, dtype=torch.float32, device=device)


@torch.no_grad()
def test_elbo(
    model: BaseVAE, images: np.ndarray | torch.Tensor, beta: float = 1.0, seed: int = 0, batch_size: int = 1000
) -> float:
    """Mean ELBO per image in nats (higher is better), one sampled z per image.

    The sample is drawn explicitly, so the value is the true single-sample ELBO in
    train and eval mode alike.
    """
    data = _as_images(model, images)
    generator = torch.Generator(device=data.device).manual_seed(seed)
    total = 0.0
    for start in range(0, data.shape[0], batch_size):
        batch = data[start : start + batch_size]
        mu, logvar = model.encode(batch)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        logits = model.decode_logits(mu + eps * torch.exp(0.5 * logvar))
        recon = reconstruction_nll(logits, batch, model.config.likelihood, model.config.gaussian_std)
        total += float((recon + beta * kl_divergence(mu, logvar)).sum())
    return -total / max(data.shape[0], 1)


@torch.no_grad()
def importance_sampled_nll(
    model: BaseVAE, images: np.ndarray | torch.Tensor, samples: int = 100, seed: int = 0, batch_size: int = 50
) -> float:
    """-log p(x) estimated with the IWAE bound over ``samples`` draws from q(z|x), nats per image."""
    data = _as_images(model, images)
    generator = torch.Generator(device=data.device).manual_seed(seed)
    total = 0.0
    for start in range(0, data.shape[0], batch_size):
        batch = data[start : start + batch_size]  # (B, H, W)
        mu, logvar = model.encode(batch)  # (B, D)
        eps = torch.randn((samples, *mu.shape), generator=generator, device=mu.device)  # (K, B, D)
        z = mu + eps * torch.exp(0.5 * logvar)
        logits = model.decode_logits(z.flatten(0, 1))  # (K*B, H, W)
        targets = batch.expand(samples, *batch.shape).flatten(0, 1)
        log_px_z = -reconstruction_nll(logits, targets, model.config.likelihood, model.config.gaussian_std)
        log_pz = _standard_normal_log_density(z)
        log_qz = -0.5 * (eps.pow(2) + logvar + math.log(2 * math.pi)).sum(-1)
        log_w = log_px_z.view(samples, -1) + log_pz - log_qz  # (K, B)
        total += float((torch.logsumexp(log_w, dim=0) - math.log(samples)).sum())
    return -total / max(data.shape[0], 1)


def _standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dim."""
    return -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)


def knn_accuracy(
    train_points: np.ndarray, train_labels: np.ndarray, test_points: np.ndarray, test_labels: np.ndarray, k: int = 5
) -> float:
    """Fraction of test points whose k nearest train points (Euclidean) vote for their label."""
    train = torch.as_tensor(np.asarray(train_points, dtype=np.float32))
    test = torch.as_tensor(np.asarray(test_points, dtype=np.float32))
    labels = torch.as_tensor(np.asarray(train_labels, dtype=np.int64))
    k = min(k, train.shape[0])
    predictions = []
    for start in range(0, test.shape[0], 1024):
        distances = torch.cdist(test[start : start + 1024], train)  # (b, N)
        nearest = distances.topk(k, largest=False).indices  # (b, k), nearest first
        predictions.append(_vote(labels[nearest]))
    predicted = torch.cat(predictions).numpy() if predictions else np.zeros(0, dtype=np.int64)
    return float(np.mean(predicted == np.asarray(test_labels))) if len(predicted) else 0.0


def _vote(neighbour_labels: torch.Tensor) -> torch.Tensor:
    """Majority label per row; ties go to the label of the nearer neighbour."""
    classes = int(neighbour_labels.max()) + 1
    counts = torch.zeros(neighbour_labels.shape[0], classes)
    weights = 1.0 + 1e-3 * torch.arange(neighbour_labels.shape[1], 0, -1, dtype=torch.float32)
    counts.scatter_add_(1, neighbour_labels, weights.expand_as(neighbour_labels).contiguous())
    return counts.argmax(dim=1)


ACTIVE_VARIANCE = 0.01  # a dim whose mean code varies less than this across images is inactive (Burda et al.)
MIN_USEFUL_ACTIVE_UNITS = 2  # a map needs codes that vary in two directions (one for a 1-D model)
SHORT_RUN_EPOCHS = 20  # below this many epochs, "train longer" is the first advice


def active_units(means: np.ndarray, threshold: float = ACTIVE_VARIANCE) -> int:
    """Latent dims whose posterior mean varies across the data by more than ``threshold`` (Burda et al.)."""
    return int((np.asarray(means).var(axis=0) > threshold).sum())


@dataclass(frozen=True)
class CodeCheck:
    """Whether a model's codes tell its images apart, with advice in plain words when they do not."""

    active_units: int  # code numbers that vary across the test images
    latent_dim: int
    spread: float  # standard deviation of the codes along the code number that varies most
    useful: bool
    advice: str  # "" when useful


def check_codes(means: np.ndarray, epochs_done: int, beta: float = 1.0) -> CodeCheck:
    """Judge a trained model by its test images' mean codes (N, D): do they vary enough to draw a map?

    A model whose codes barely move from image to image (fewer than two active units) shows one
    small cluster on the map and decodes every point to nearly the same grey picture; the advice
    says so and what to change. Fewer than two codes cannot be judged and count as useful.
    """
    codes = np.asarray(means, np.float64)
    codes = codes.reshape(len(codes), -1)
    latent_dim = codes.shape[1]
    finite = codes[np.isfinite(codes).all(axis=1)]
    if len(finite) < 2:
        return CodeCheck(latent_dim, latent_dim, 0.0, True, "")
    active = active_units(finite)
    spread = float(np.sqrt(finite.var(axis=0).max()))
    useful = active >= min(MIN_USEFUL_ACTIVE_UNITS, latent_dim)
    advice = "" if useful else _advice(active, latent_dim, epochs_done, beta)
    return CodeCheck(active, latent_dim, spread, useful, advice)


def _advice(active: int, latent_dim: int, epochs_done: int, beta: float) -> str:
    """Why the model is not useful yet and what to try, for a non-programmer."""
    varying = "none" if active == 0 else f"only {active}"
    hints = []
    if epochs_done < SHORT_RUN_EPOCHS:
        hints.append(f"Train it for more epochs (passes over the images): this run had {epochs_done}; try {SHORT_RUN_EPOCHS} or more.")
    if beta > 1:
        hints.append(f"Lower the KL weight (beta, now {beta:g}) towards 1.")
    if not hints:
        hints.append("Try a learning rate of 0.001, a different model, or more epochs.")
    return (f"This model has not learned to tell the pictures apart yet: {varying} of its {latent_dim} code numbers "
            f"change from picture to picture, so its map is one small cluster and the pictures it draws all look "
            f"alike (blurry, often plain grey). " + " ".join(hints))


KNN_MAX_TRAIN = 10_000  # train codes the kNN vote searches (bounds memory and time on big sets)
NLL_BATCH = 50  # images per batch of the NLL: importance_sampled_nll's, so its figures stay the same
DCI_MAX_CODES = 1000  # DCI's classifiers take about 10 s per 1,000 codes with six factors on one core


def disentanglement_scores(
    means: np.ndarray, dataset: "Dataset", with_dci: bool = False, seed: int = 0
) -> dict[str, float]:
    """How well single code numbers carry the dataset's known factors; {} for a dataset without factors.

    Args:
        means: (N, D) codes of the dataset's test images, in their order.
        dataset: A dataset with ``test_factors`` (the colour shapes).
        with_dci: Also the DCI scores, on the first DCI_MAX_CODES codes (seconds of work).
        seed: Seed of DCI's split and classifiers.

    Returns:
        ``mig`` (0..1, higher is better), and with DCI ``dci_disentanglement``, ``dci_completeness`` and
        ``dci_informativeness`` (0..1, higher is better).
    """
    if dataset.test_factors is None or len(dataset.test_factors) != len(means):
        return {}
    scores = {"mig": mig(means, dataset.test_factors)}
    if with_dci:
        result = dci(means[:DCI_MAX_CODES], dataset.test_factors[:DCI_MAX_CODES], seed=seed)
        scores.update({f"dci_{key}": float(result[key])
                       for key in ("disentanglement", "completeness", "informativeness")})
    return scores


def evaluate(
    model: "LatentModel", dataset: "Dataset", nll_samples: int = 100, max_images: int = 500, seed: int = 0,
    with_dci: bool = False,
) -> dict[str, float]:
    """All quality numbers of a model on a dataset, as plain floats.

    Args:
        model: The LatentModel to judge.
        dataset: The data it was trained on (images must match ``model.image_dims``).
        nll_samples: Importance samples per image for the NLL estimate (IWAE bound), 1 to 5,000 (the papers'
            k); memory stays bounded (vae.analysis.scores.importance_sampled_nll), time grows with it.
        max_images: Test images used for the test ELBO and the NLL (the first ones).
        seed: Seed of the sampled latents.
        with_dci: Also the DCI scores when the dataset has known factors (see :func:`disentanglement_scores`).

    Returns:
        test_elbo and nll (nats per image; ELBO higher is better, NLL lower is better), elbo_nll_gap
        (-ELBO minus NLL: what the encoder's approximate codes cost, at least 0 on average), entropy_floor
        (the smallest -log p(x|z) a Bernoulli likelihood allows on the same images: their pixels' entropy,
        vae.analysis.likelihoods), knn_accuracy (0..1, k=5 on the posterior means), active_units and
        latent_dim (counts), images and nll_samples (what the ELBO and NLL used); for a dataset with
        known factors (the colour shapes) also mig, and the dci_ scores when asked.

    Raises:
        DataError: the dataset's images are not the size the model reads.
    """
    require_image_size(dataset.test_images, model.image_dims, dataset.name)
    test = np.asarray(dataset.test_images[:max_images], np.float32)
    test_means, _ = model.encode(dataset.test_images)
    train_means, _ = model.encode(dataset.train_images[:KNN_MAX_TRAIN])
    elbo = test_elbo(model.module, test, beta=1.0, seed=seed)
    batch = max(1, min(NLL_BATCH, NOISE_BUDGET // (nll_samples * model.latent_dim)))
    nll = float(np.mean(bounded_nll(model, test, nll_samples, seed, batch_size=batch))) if len(test) else 0.0
    return {
        "test_elbo": elbo,
        "nll": nll,
        "elbo_nll_gap": -elbo - nll,
        "entropy_floor": float(np.mean(bernoulli_entropy_floor(test))) if len(test) else 0.0,
        "knn_accuracy": knn_accuracy(train_means, dataset.train_labels[:KNN_MAX_TRAIN], test_means,
                                     dataset.test_labels, k=5),
        "active_units": float(active_units(test_means)),
        "latent_dim": float(model.latent_dim),
        "images": float(len(test)),
        "nll_samples": float(nll_samples),
        **disentanglement_scores(test_means, dataset, with_dci, seed),
    }
