"""Metrics: ELBO, IWAE NLL, kNN accuracy and active units."""
import numpy as np
import pytest

from vae.analysis import metrics
from vae.analysis.metrics import active_units, importance_sampled_nll, knn_accuracy
from vae.models.losses import vae_loss


def test_elbo_is_the_negative_loss_with_a_sampled_z(tiny_model, tiny_images):
    elbo = metrics.test_elbo(tiny_model, tiny_images, seed=0)
    assert elbo == metrics.test_elbo(tiny_model, tiny_images, seed=0)
    assert elbo < 0 and np.isfinite(elbo)
    import torch

    with torch.no_grad():
        images = torch.from_numpy(tiny_images)
        mu, logvar = tiny_model.encode(images)
        logits = tiny_model.decode_logits(mu)
        at_mean = vae_loss(logits, images, mu, logvar).total.item() / len(images)
    assert abs(-elbo - at_mean) < 0.05 * abs(at_mean)  # sampling noise is small for an untrained net


def test_iwae_bound_is_tighter_than_the_elbo(tiny_model, tiny_images):
    elbo = metrics.test_elbo(tiny_model, tiny_images, seed=0)
    nll_1 = importance_sampled_nll(tiny_model, tiny_images, samples=1, seed=0)
    nll_50 = importance_sampled_nll(tiny_model, tiny_images, samples=50, seed=0)
    assert nll_50 <= nll_1 + 1e-3
    assert nll_50 <= -elbo + 0.5


def test_knn_accuracy_on_separable_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 10], [-10, 10]])
    train_labels = np.repeat(np.arange(3), 30)
    train = centres[train_labels] + rng.standard_normal((90, 2))
    test_labels = np.repeat(np.arange(3), 10)
    test = centres[test_labels] + rng.standard_normal((30, 2))
    assert knn_accuracy(train, train_labels, test, test_labels, k=5) == 1.0
    assert knn_accuracy(train, train_labels, test, (test_labels + 1) % 3, k=5) == 0.0


def test_knn_ties_go_to_the_nearer_neighbour():
    train = np.array([[0.0], [1.0], [5.0], [6.0]])
    labels = np.array([0, 1, 1, 0])
    assert knn_accuracy(train, labels, np.array([[0.1]]), np.array([0]), k=4) == 1.0


def test_active_units_counts_dims_with_varying_means():
    rng = np.random.default_rng(0)
    means = np.stack([rng.standard_normal(500), 0.01 * rng.standard_normal(500), np.full(500, 3.0)], axis=1)
    assert active_units(means) == 1
    assert active_units(means, threshold=1e-6) == 2


@pytest.mark.slow
def test_evaluate_on_mnist_5k_after_training():
    from vae.data import load_dataset
    from vae.config import TrainConfig
    from vae.presets import model_config_for
    from vae.analysis.latent import LatentModel
    from vae.analysis.metrics import evaluate
    from vae.training.loop import train_model

    data = load_dataset("mnist-5k")
    module, _ = train_model(data.train_images, data.test_images, model_config_for("conv-2d"), TrainConfig(epochs=2))
    scores = evaluate(LatentModel(module), data, nll_samples=20, max_images=200)
    assert {"test_elbo", "nll", "knn_accuracy", "active_units"} <= set(scores)
    assert scores["knn_accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert scores["nll"] < -scores["test_elbo"] + 1
    assert 1 <= scores["active_units"] <= 2


@pytest.mark.slow
def test_evaluate_reports_the_gap_and_the_grey_images_floor():
    """The gap is -ELBO - NLL of the same figures; the floor is scipy's Bernoulli entropy of the same images."""
    from scipy import stats

    from vae.analysis.latent import LatentModel
    from vae.data import load_dataset

    digits = load_dataset("digits")
    model = LatentModel(module=_digits_model())
    result = metrics.evaluate(model, digits, nll_samples=7, max_images=40)
    test = digits.test_images[:40].astype(np.float64)
    floor = stats.bernoulli(np.clip(test, 0, 1)).entropy().reshape(40, -1).sum(axis=1).mean()
    assert result["entropy_floor"] == pytest.approx(floor, rel=1e-9)
    assert result["elbo_nll_gap"] == pytest.approx(-result["test_elbo"] - result["nll"], abs=1e-9)
    assert result["nll_samples"] == 7 and result["images"] == 40
    unbatched = importance_sampled_nll(model.module, test.astype(np.float32), samples=7, seed=0)
    assert result["nll"] == pytest.approx(unbatched, abs=1e-3)  # the bounded estimate draws the same codes


def _digits_model():
    from vae.config import ModelConfig
    from vae.models import build_model

    return build_model(ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=3, hidden_sizes=(16,)), seed=0).eval()
