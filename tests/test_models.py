"""Model shapes, presets and the eval-mode mean."""
import pytest
import torch

from vae.config import ModelConfig
from vae.errors import TrainingError
from vae.models import ConvVAE, MLPVAE, build_model, count_parameters
from vae.presets import PRESETS, model_config_for


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("shape", [(28, 28), (8, 8)])
def test_preset_output_shapes(preset, shape):
    config = model_config_for(preset, shape)
    model = build_model(config, seed=0)
    images = torch.rand(5, *shape)
    logits, mu, logvar = model(images)
    assert logits.shape == (5, *shape)
    assert mu.shape == logvar.shape == (5, config.latent_dim)
    decoded = model.decode(mu)
    assert decoded.shape == (5, *shape)
    assert float(decoded.detach().min()) >= 0 and float(decoded.detach().max()) <= 1


def test_presets_match_their_recipes():
    classic = build_model(PRESETS["classic-mlp"])
    assert isinstance(classic, MLPVAE) and classic.config.latent_dim == 20
    assert classic.encoder[0].in_features == 784 and classic.encoder[0].out_features == 400
    assert classic.config.likelihood == "bernoulli"
    tiny = PRESETS["tiny-mlp"]
    assert tiny.latent_dim == 4 and tiny.likelihood == "gaussian" and tiny.hidden_sizes[0] == 64
    conv = build_model(PRESETS["conv-2d"])
    assert isinstance(conv, ConvVAE) and conv.config.latent_dim == 2
    assert 100_000 <= count_parameters(conv) <= 500_000


def test_odd_image_sizes_decode_to_the_input_size():
    model = build_model(ModelConfig(kind="conv", image_shape=(13, 17), latent_dim=3))
    assert model.decode(torch.zeros(2, 3)).shape == (2, 13, 17)


@pytest.mark.parametrize("latent_dim", [1, 64])
def test_latent_dim_limits(latent_dim):
    model = build_model(ModelConfig(latent_dim=latent_dim))
    assert model.encode(torch.rand(2, 28, 28))[0].shape == (2, latent_dim)


@pytest.mark.parametrize("bad", [dict(latent_dim=0), dict(latent_dim=65), dict(kind="rnn"), dict(likelihood="poisson")])
def test_bad_model_settings_raise_readable_errors(bad):
    with pytest.raises(TrainingError):
        ModelConfig(**bad)


def test_unknown_preset_lists_choices():
    with pytest.raises(TrainingError, match="classic-mlp"):
        model_config_for("resnet")


def test_eval_mode_uses_the_mean_and_training_samples():
    model = build_model(ModelConfig(image_shape=(8, 8), hidden_sizes=(8,)), seed=0)
    images = torch.rand(3, 8, 8)
    mu, logvar = model.encode(images)
    model.eval()
    assert torch.equal(model.reparameterize(mu, logvar), mu)
    model.train()
    assert not torch.equal(model.reparameterize(mu, logvar), mu)


def test_reparameterization_draws_from_a_standard_normal():
    model = build_model(ModelConfig(latent_dim=1, image_shape=(8, 8)), seed=0).train()
    generator = torch.Generator().manual_seed(1)
    draws = model.reparameterize(torch.zeros(20000, 1), torch.zeros(20000, 1), generator)
    assert abs(float(draws.mean())) < 0.03 and abs(float(draws.std()) - 1) < 0.03
