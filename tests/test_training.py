"""Training: reproducible, improving, reporting, cancellable, and stopping on divergence."""
import threading

import numpy as np
import pytest
import torch

from conftest import make_loss_nan_after
from vae.analysis.metrics import check_codes
from vae.config import History, TrainConfig
from vae.errors import TrainingError
from vae.models import build_model
from vae.presets import model_config_for
from vae.training.loop import fit, train_model


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.slow
def test_seeded_training_is_reproducible(tiny_images, tiny_config, quick_train):
    first, history_a = train_model(tiny_images, tiny_images[:16], tiny_config, quick_train)
    second, history_b = train_model(tiny_images, tiny_images[:16], tiny_config, quick_train)
    assert torch.equal(_weights(first), _weights(second))
    assert history_a.train_loss == history_b.train_loss
    assert history_a.test_elbo == history_b.test_elbo


@pytest.mark.slow
def test_a_different_seed_gives_different_weights(tiny_images, tiny_config, quick_train):
    first, _ = train_model(tiny_images, tiny_images[:16], tiny_config, quick_train)
    other = TrainConfig(epochs=2, batch_size=16, seed=1)
    second, _ = train_model(tiny_images, tiny_images[:16], tiny_config, other)
    assert not torch.equal(_weights(first), _weights(second))


@pytest.mark.slow
def test_training_lowers_the_test_loss_on_mnist_5k():
    from vae.data import load_dataset

    data = load_dataset("mnist-5k")
    config = model_config_for("classic-mlp", data.image_shape)
    model = build_model(config, seed=0)
    from vae.analysis.metrics import test_elbo

    before = -test_elbo(model, data.test_images)
    history = fit(model, data.train_images, data.test_images, TrainConfig(epochs=3, seed=0))
    assert history.status == "completed" and history.epochs_done == 3
    after = -history.test_elbo[-1]
    assert after < before - 200  # an untrained net scores ~545 nats; 3 epochs reach well under 250
    assert history.test_elbo[-1] > history.test_elbo[0]


@pytest.mark.slow
def test_callback_reports_batches_and_epochs(tiny_images, tiny_config):
    events = []
    config = TrainConfig(epochs=2, batch_size=32, seed=0)
    _, history = train_model(tiny_images, tiny_images[:8], tiny_config, config, callback=events.append)
    batches = [e for e in events if e.kind == "batch"]
    epochs = [e for e in events if e.kind == "epoch"]
    assert len(batches) == 4 and len(epochs) == 2
    assert all(e.images_per_s > 0 and np.isfinite([e.loss, e.recon, e.kl]).all() for e in batches)
    assert [e.test_elbo for e in epochs] == history.test_elbo
    assert epochs[-1].progress == pytest.approx(1.0)
    assert history.train_loss[0] == pytest.approx(epochs[0].loss)
    assert all(abs(e.loss - (e.recon + e.kl)) < 1e-3 * max(1.0, abs(e.loss)) for e in events)


@pytest.mark.slow
def test_cancel_mid_epoch_keeps_the_last_finished_epoch(tiny_images, tiny_config):
    cancel = threading.Event()
    model = build_model(tiny_config, seed=0)
    snapshot = {}

    def stop_in_second_epoch(event):
        if event.kind == "epoch" and event.epoch == 1:
            snapshot["weights"] = _weights(model).clone()
        if event.kind == "batch" and event.epoch == 2 and event.batch == 2:
            cancel.set()

    history = fit(model, tiny_images, tiny_images[:8], TrainConfig(epochs=5, batch_size=8), stop_in_second_epoch, cancel)
    assert history.status == "cancelled" and history.epochs_done == 1
    assert "epoch 1" in history.message
    assert torch.equal(_weights(model), snapshot["weights"])


def test_a_cancel_function_is_accepted(tiny_images, tiny_config):
    history = fit(build_model(tiny_config), tiny_images, tiny_images, TrainConfig(epochs=2), cancel=lambda: True)
    assert history.status == "cancelled" and history.epochs_done == 0


def fit_remembering_each_epoch(model, images, config):
    """Fit ``model``; the history, and its weights before training (key 0) and after each finished epoch."""
    weights = {0: _weights(model).clone()}

    def remember(event):
        if event.kind == "epoch":
            weights[event.epoch] = _weights(model).clone()

    return fit(model, images, images[:8], config, remember), weights


@pytest.mark.slow
def test_divergence_stops_with_a_message_and_keeps_the_last_good_model(tiny_images, tiny_config):
    model = build_model(tiny_config, seed=0)
    fit(model, tiny_images, tiny_images[:8], TrainConfig(epochs=1, batch_size=8))
    history, weights = fit_remembering_each_epoch(model, tiny_images,
                                                  TrainConfig(epochs=50, batch_size=8, learning_rate=10.0))
    assert history.status == "diverged"
    assert "learning rate" in history.message
    kept = _weights(model)
    assert torch.isfinite(kept).all()
    assert torch.equal(kept, weights[history.epochs_done])  # the last finished epoch's, or the weights it started with


@pytest.mark.slow
@pytest.mark.parametrize("good_epochs", [0, 1, 3])
def test_a_loss_that_blows_up_in_any_epoch_keeps_the_last_finished_epoch(tiny_images, tiny_config, monkeypatch,
                                                                        good_epochs):
    batches = len(tiny_images) // 16  # per epoch, at batch size 16
    make_loss_nan_after(monkeypatch, good_batches=good_epochs * batches + 1)  # the next epoch blows up at batch 2
    model = build_model(tiny_config, seed=0)
    history, weights = fit_remembering_each_epoch(model, tiny_images, TrainConfig(epochs=10, batch_size=16))
    assert history.status == "diverged" and history.epochs_done == good_epochs
    assert f"epoch {good_epochs} was kept" in history.message if good_epochs else "untrained" in history.message
    assert torch.equal(_weights(model), weights[good_epochs])


def test_nan_data_stops_training(tiny_images, tiny_config):
    broken = tiny_images.copy()
    broken[3, 2, 2] = np.nan
    history = fit(build_model(tiny_config), broken, tiny_images[:8], TrainConfig(epochs=1, batch_size=64))
    assert history.status == "diverged" and history.epochs_done == 0


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(batch_size=0), dict(learning_rate=0), dict(beta=-1), dict(device="tpu"),
                                 dict(kl_warmup=-1), dict(kl_warmup=10_001), dict(kl_warmup=1.5), dict(free_bits=-0.1),
                                 dict(free_bits=10.5), dict(free_bits=float("nan")), dict(free_bits="1")])
def test_bad_training_settings_raise_readable_errors(bad):
    with pytest.raises(TrainingError):
        TrainConfig(**bad)


def test_history_round_trips_through_a_dict():
    history = History(train_loss=[3.0, 2.0], test_elbo=[-3.0, -2.5], status="cancelled", message="stopped")
    assert History.from_dict(history.to_dict()) == history


# --------------------------------------------------------------------------- judging a finished run


def digits_codes(preset: str, epochs: int, latent_dim: int = 2) -> np.ndarray:
    """Train ``preset`` on the offline 8x8 digits for ``epochs`` and return its test images' mean codes."""
    from vae.data import load_dataset
    from vae.analysis.latent import LatentModel

    data = load_dataset("digits")
    config = model_config_for(preset, data.image_shape, latent_dim)
    model, _ = train_model(data.train_images, data.test_images, config, TrainConfig(epochs=epochs, seed=0))
    return LatentModel(module=model, dataset=data.name).encode(data.test_images)[0]


@pytest.mark.slow
def test_a_two_epoch_run_is_judged_useless_with_a_hint():
    means = digits_codes("conv-2d", epochs=2)
    check = check_codes(means, epochs_done=2)
    varying = int((means.var(axis=0) > 0.01).sum())  # independent count of the code numbers that vary
    assert varying < 2 and check.active_units == varying and check.latent_dim == 2
    assert not check.useful and check.spread == pytest.approx(float(means.std(axis=0).max()), rel=1e-6)
    assert check.spread < 0.1  # a tiny blob
    assert "this run had 2" in check.advice and "try 20 or more" in check.advice and "look alike" in check.advice


@pytest.mark.slow
def test_a_longer_run_is_judged_useful():
    means = digits_codes("classic-mlp", epochs=20)
    check = check_codes(means, epochs_done=20)
    assert int((means.var(axis=0) > 0.01).sum()) == 2 == check.active_units
    assert check.useful and check.advice == ""


def test_the_judgement_follows_the_spread_of_the_codes():
    rng = np.random.default_rng(0)
    blob = 0.3 + 0.02 * rng.standard_normal((500, 16))
    spread = np.concatenate([rng.standard_normal((500, 2)), blob[:, :14]], axis=1)
    assert not check_codes(blob, epochs_done=50).useful and check_codes(spread, epochs_done=50).useful
    assert "Try a learning rate" in check_codes(blob, epochs_done=50).advice  # long enough: other hints
    assert "KL weight (beta, now 4)" in check_codes(blob, epochs_done=50, beta=4.0).advice
    assert check_codes(rng.standard_normal((200, 1)), epochs_done=1).useful  # a 1-D model needs one varying number
    assert check_codes(blob[:1], epochs_done=1).useful  # one image cannot be judged


# --------------------------------------------------------------------------- against posterior collapse


def test_old_training_settings_load_with_warm_up_and_free_bits_off():
    old = {"epochs": 3, "batch_size": 32, "learning_rate": 0.001, "beta": 1.0, "seed": 0, "device": "auto"}
    config = TrainConfig.from_dict(old)
    assert (config.kl_warmup, config.free_bits) == (0, 0.0)
    new = TrainConfig(kl_warmup=5, free_bits=0.25)
    assert TrainConfig.from_dict(new.to_dict()) == new


def test_each_epoch_trains_with_the_warm_up_beta_and_the_free_bits(tiny_images, tiny_config, monkeypatch):
    import vae.training.loop

    real_loss, seen = vae.training.loop.vae_loss, []

    def spy(logits, images, mu, logvar, likelihood, gaussian_std, beta, free_bits):
        seen.append((beta, free_bits))
        return real_loss(logits, images, mu, logvar, likelihood, gaussian_std, beta, free_bits=free_bits)

    monkeypatch.setattr(vae.training.loop, "vae_loss", spy)
    config = TrainConfig(epochs=5, batch_size=32, beta=2.0, kl_warmup=3, free_bits=0.5)  # 64 images: 2 batches
    fit(build_model(tiny_config, seed=0), tiny_images, tiny_images[:8], config)
    assert seen == [(b, 0.5) for b in (0.0, 0.0, 2 / 3, 2 / 3, 4 / 3, 4 / 3, 2.0, 2.0, 2.0, 2.0)]


@pytest.mark.slow
def test_free_bits_keep_units_active_where_a_heavy_kl_weight_collapses_them():
    """beta = 8 on the 8x8 digits collapses every dim (active units 0); a floor of 1 nat per dim keeps them."""
    from vae.analysis.diagnostics import kl_per_dimension
    from vae.analysis.latent import LatentModel
    from vae.analysis.metrics import active_units
    from vae.config import ModelConfig
    from vae.data import load_dataset

    data = load_dataset("digits")
    config = ModelConfig(kind="mlp", image_shape=data.image_shape, latent_dim=8, hidden_sizes=(64,))
    counts, kls = [], []
    for free_bits in (0.0, 1.0):
        train = TrainConfig(epochs=6, batch_size=64, beta=8.0, free_bits=free_bits, seed=0)
        module, _ = train_model(data.train_images, data.test_images, config, train)
        means, logvars = LatentModel(module=module).encode(data.test_images)
        counts.append(active_units(means))
        kls.append(kl_per_dimension(means, logvars).kl)
    assert counts[0] <= 1 < counts[1], counts
    assert kls[1].sum() > 10 * kls[0].sum()
