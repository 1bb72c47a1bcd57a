"""What the map draws over its plane (vae.analysis.overlays): ellipses, the prior's rings and the density picture,
each against an independent computation (numpy's eigen-decomposition, Monte Carlo draws, PIL)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from vae.analysis import overlays
from vae.analysis.diagnostics import density_grids
from vae.analysis.projection import dims_projection, pca_projection
from vae.errors import VAEError


def _posteriors(count: int = 40, dims: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(count, dims)), rng.normal(-1.0, 0.8, size=(count, dims))


def test_ellipse_axes_are_the_eigen_decomposition_of_the_projected_covariance():
    means, logvars = _posteriors()
    projection = pca_projection(means)
    ellipses = overlays.posterior_ellipses(means, logvars, projection, sigmas=2.0)
    axes = np.asarray(projection.axes)
    for i in range(len(means)):
        covariance = axes @ np.diag(np.exp(logvars[i])) @ axes.T  # A Sigma A^T, written out
        values, vectors = np.linalg.eigh(covariance)  # ascending
        assert ellipses.major[i] == pytest.approx(2.0 * np.sqrt(values[1]), rel=1e-9)
        assert ellipses.minor[i] == pytest.approx(2.0 * np.sqrt(values[0]), rel=1e-9)
        direction = np.array([np.cos(ellipses.angle[i]), np.sin(ellipses.angle[i])])
        assert abs(direction @ vectors[:, 1]) == pytest.approx(1.0, abs=1e-9)  # along the larger eigenvector
    np.testing.assert_allclose(ellipses.centres, (means - projection.mean) @ axes.T, atol=1e-6)


def test_on_two_chosen_dims_the_ellipses_are_upright_with_those_dims_spreads():
    means, logvars = _posteriors()
    ellipses = overlays.posterior_ellipses(means, logvars, dims_projection(6, (2, 4)))
    sigma_x, sigma_y = np.exp(0.5 * logvars[:, 2]), np.exp(0.5 * logvars[:, 4])
    np.testing.assert_allclose(ellipses.major, np.maximum(sigma_x, sigma_y), rtol=1e-9)
    np.testing.assert_allclose(ellipses.minor, np.minimum(sigma_x, sigma_y), rtol=1e-9)
    upright = np.where(sigma_x >= sigma_y, 0.0, np.pi / 2)
    np.testing.assert_allclose(np.abs(ellipses.angle), upright, atol=1e-9)


def test_the_one_sigma_ellipse_holds_the_share_it_claims():
    """Monte Carlo: draws of one posterior, projected, fall inside its ellipse ellipse_mass() of the time."""
    means, logvars = _posteriors(count=3)
    projection = pca_projection(means)
    ellipses = overlays.posterior_ellipses(means, logvars, projection)
    draws = np.random.default_rng(1).normal(size=(50_000, 6)) * np.exp(0.5 * logvars[0]) + means[0]
    offset = projection.to_2d(draws).astype(np.float64) - ellipses.centres[0]
    turn = np.array([[np.cos(ellipses.angle[0]), np.sin(ellipses.angle[0])],
                     [-np.sin(ellipses.angle[0]), np.cos(ellipses.angle[0])]])
    along, across = (offset @ turn.T).T
    inside = (along / ellipses.major[0]) ** 2 + (across / ellipses.minor[0]) ** 2 <= 1.0
    assert inside.mean() == pytest.approx(overlays.ellipse_mass(), abs=0.01)
    assert overlays.ellipse_mass() == pytest.approx(0.3935, abs=1e-4)


def test_the_prior_rings_hold_their_share_of_the_prior_on_the_plane():
    means, _ = _posteriors()
    projection = pca_projection(means + 0.7)  # an origin away from zero: the prior sits off the plane's centre
    centre, radii = overlays.prior_rings(projection)
    draws = projection.to_2d(np.random.default_rng(2).normal(size=(50_000, 6))).astype(np.float64)
    np.testing.assert_allclose(centre, draws.mean(axis=0), atol=0.02)
    distance = np.linalg.norm(draws - centre, axis=1)
    for radius, mass in zip(radii, overlays.PRIOR_RING_MASSES):
        assert (distance <= radius).mean() == pytest.approx(mass, abs=0.01)


def test_a_one_dimensional_latent_has_no_plane_for_them():
    with pytest.raises(VAEError, match="two different directions"):
        overlays.posterior_ellipses(np.zeros((3, 1)), np.zeros((3, 1)), dims_projection(1))


def _grids():
    rng = np.random.default_rng(3)
    means = np.concatenate([rng.normal(-1.5, 0.2, size=(30, 2)), rng.normal(1.5, 0.2, size=(30, 2))])
    return density_grids(means, np.full((60, 2), -4.0), dims_projection(2), (-3.0, 3.0), (-2.0, 4.0), resolution=40)


def test_the_density_picture_shades_the_data_and_hatches_exactly_the_holes():
    grids = _grids()
    assert grids.holes.any() and not grids.holes.all()
    picture = overlays.density_picture(grids, show_data=True)
    assert picture.shape == (40, 40, 4) and picture.dtype == np.uint8
    assert (picture[grids.holes, :3] == overlays.HOLE_RGB).all()
    assert set(np.unique(picture[grids.holes, 3])) == set(overlays.HOLE_ALPHAS)  # stripes and the space between
    data = ~grids.holes
    peak = np.unravel_index(np.argmax(np.where(data, grids.aggregate, -1)), grids.aggregate.shape)
    assert picture[peak][3] == overlays.DATA_ALPHA  # densest spot: fully shaded
    order = np.argsort(grids.aggregate[data])
    assert (np.diff(picture[data, 3][order].astype(int)) >= 0).all()  # denser, never lighter
    holes_only = overlays.density_picture(grids, show_data=False)
    assert (holes_only[data] == 0).all() and (holes_only[grids.holes] == picture[grids.holes]).all()


def test_the_picture_extends_half_a_cell_past_the_outermost_grid_points():
    grids = _grids()
    left, right, bottom, top = overlays.picture_extent(grids)
    cell_x, cell_y = 6.0 / 39, 6.0 / 39
    assert (left, right) == pytest.approx((-3.0 - cell_x / 2, 3.0 + cell_x / 2))
    assert (bottom, top) == pytest.approx((-2.0 - cell_y / 2, 4.0 + cell_y / 2))


def test_the_png_keeps_every_channel():
    picture = np.random.default_rng(4).integers(0, 256, size=(7, 9, 4), dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(overlays.rgba_png(picture))))
    assert decoded.shape == (7, 9, 4)
    np.testing.assert_array_equal(decoded, picture)


def test_large_sets_mix_a_seeded_sample():
    assert overlays.density_sample(50, limit=100).tolist() == list(range(50))
    sample = overlays.density_sample(1000, limit=100)
    assert len(sample) == len(set(sample.tolist())) == 100 and (np.diff(sample) > 0).all()
    np.testing.assert_array_equal(sample, overlays.density_sample(1000, limit=100))
