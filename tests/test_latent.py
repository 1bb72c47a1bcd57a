"""Latent tools: shapes, determinism, and hypothesis properties of the latent math."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vae.analysis.latent import LatentModel
from vae.analysis.projection import dims_projection, lerp, pca_projection, slerp
from vae.config import ModelConfig
from vae.models import build_model

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)


def vectors(dim: int):
    return arrays(np.float32, dim, elements=finite)


@pytest.fixture(scope="module")
def model_16d():
    return LatentModel(build_model(ModelConfig(image_shape=(8, 8), latent_dim=16, hidden_sizes=(32,)), seed=0))


@pytest.fixture(scope="module")
def model_2d():
    return LatentModel(build_model(ModelConfig(image_shape=(8, 8), latent_dim=2, hidden_sizes=(32,)), seed=0))


@pytest.mark.slow
@given(st.integers(1, 8).flatmap(lambda d: st.tuples(vectors(d), vectors(d))), st.integers(2, 32))
def test_lerp_and_slerp_hit_their_endpoints(pair, steps):
    z0, z1 = pair
    for path in (lerp(z0, z1, steps), slerp(z0, z1, steps)):
        assert path.shape == (steps, len(z0))
        np.testing.assert_allclose(path[0], z0, rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(path[-1], z1, rtol=1e-6, atol=1e-4)


@pytest.mark.slow
@given(st.integers(1, 8).flatmap(lambda d: st.tuples(vectors(d), vectors(d))), st.integers(2, 32))
def test_slerp_keeps_norms_between_the_endpoint_norms(pair, steps):
    z0, z1 = pair
    norms = np.linalg.norm(slerp(z0, z1, steps).astype(np.float64), axis=1)
    low, high = sorted([np.linalg.norm(z0.astype(np.float64)), np.linalg.norm(z1.astype(np.float64))])
    tolerance = 1e-5 * max(high, 1.0)
    opposite_1d = len(z0) == 1 and z0[0] * z1[0] < 0  # only path between them passes through 0
    if low > 1e-6 and not opposite_1d:  # a zero endpoint has no direction: slerp falls back to a line
        assert np.all(norms >= low - tolerance) and np.all(norms <= high + tolerance)


@pytest.mark.slow
@settings(deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(3, 40), st.integers(3, 10)), elements=st.floats(-50, 50)),
    arrays(np.float64, (5, 2), elements=st.floats(-100, 100)),
)
def test_pca_projection_then_inverse_is_identity_on_the_plane(points, plane_points):
    projection = pca_projection(points)
    np.testing.assert_allclose(projection.to_2d(projection.from_2d(plane_points)), plane_points, atol=1e-3)
    base = points[0]
    np.testing.assert_allclose(projection.to_2d(projection.from_2d(plane_points, base)), plane_points, atol=1e-3)


@pytest.mark.slow
@settings(deadline=None, max_examples=50)
@given(arrays(np.float32, (4, 16), elements=st.floats(allow_nan=False, allow_infinity=False, width=32)))
def test_decoded_output_is_finite_and_in_range_for_any_finite_input(model_16d, z):
    images = model_16d.decode(z)
    assert images.shape == (4, 8, 8)
    assert np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1


def test_slerp_between_opposite_points_goes_round_not_through_zero():
    path = slerp(np.array([2.0, 0.0, 0.0]), np.array([-2.0, 0.0, 0.0]), 5)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 2.0, rtol=1e-6)


def test_pca_inverse_keeps_the_off_plane_part_of_the_base():
    points = np.random.default_rng(0).standard_normal((50, 6))
    projection = pca_projection(points)
    base = points[3]
    moved = projection.from_2d(projection.to_2d(base[None]), base)[0]
    np.testing.assert_allclose(moved, base, atol=1e-5)


def test_dims_projection_moves_only_its_two_dims():
    projection = dims_projection(5, (1, 3))
    base = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(projection.from_2d([[9, 8]], base)[0], [0, 9, 2, 8, 4])
    assert projection.labels == ("z2", "z4")


def test_one_dimensional_latent_gets_a_line():
    projection = dims_projection(1)
    np.testing.assert_array_equal(projection.to_2d([[2.5]]), [[2.5, 0.0]])
    np.testing.assert_array_equal(projection.from_2d([[1.5, 7.0]]), [[1.5]])


def test_encode_decode_shapes_and_eval_mean(model_16d):
    images = np.random.default_rng(0).random((10, 8, 8), dtype=np.float32)
    mu, logvar = model_16d.encode(images)
    assert mu.shape == logvar.shape == (10, 16)
    np.testing.assert_array_equal(model_16d.encode(images)[0], mu)  # eval mode: the mean, no noise
    assert model_16d.decode(mu[0]).shape == (1, 8, 8)
    recon, errors = model_16d.reconstruction_errors(images)
    assert recon.shape == images.shape and errors.shape == (10,) and (errors >= 0).all()


def test_prior_samples_are_seeded_and_scaled_by_temperature(model_16d):
    z_a, images_a = model_16d.sample_prior(500, temperature=0.5, seed=3)
    z_b, images_b = model_16d.sample_prior(500, temperature=0.5, seed=3)
    np.testing.assert_array_equal(images_a, images_b)
    assert images_a.shape == (500, 8, 8)
    assert 0.45 < z_a.std() < 0.55
    assert not np.array_equal(model_16d.sample_prior(500, seed=4)[0], z_a)


def test_manifold_grid_of_a_2d_model_decodes_the_grid_points(model_2d):
    grid = model_2d.manifold_grid(count=5, x_range=(-2, 2), y_range=(-1, 1))
    assert grid.shape == (5, 5, 8, 8)
    np.testing.assert_allclose(grid[0, 0], model_2d.decode([[-2, 1]])[0], atol=1e-6)  # top-left: low x, high y
    np.testing.assert_allclose(grid[4, 4], model_2d.decode([[2, -1]])[0], atol=1e-6)


def test_manifold_grid_above_2d_holds_other_dims_at_the_base(model_16d):
    projection = dims_projection(16, (0, 1))
    base = np.full(16, 0.7, np.float32)
    grid = model_16d.manifold_grid(count=3, x_range=(-1, 1), y_range=(-1, 1), projection=projection, base=base)
    expected = base.copy()
    expected[:2] = [-1, 1]
    np.testing.assert_allclose(grid[0, 0], model_16d.decode(expected)[0], atol=1e-6)


def test_interpolation_strips(model_16d):
    z0, z1 = np.zeros(16, np.float32), np.ones(16, np.float32)
    path, images = model_16d.interpolate(z0, z1, steps=7, method="spherical")
    assert path.shape == (7, 16) and images.shape == (7, 8, 8)
    path, _ = model_16d.interpolate(z0, z1, steps=3, method="linear")
    np.testing.assert_allclose(path[1], np.full(16, 0.5))


def test_traversal_moves_one_dim(model_16d):
    strip = model_16d.traverse(4, values=np.array([-2, 0, 2]))
    assert strip.shape == (3, 8, 8)
    point = np.zeros(16, np.float32)
    point[4] = 2
    np.testing.assert_allclose(strip[2], model_16d.decode(point)[0], atol=1e-6)
