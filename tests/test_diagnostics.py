"""vae.analysis.diagnostics against independent computations: scipy densities, Monte Carlo samples, sklearn, brute-force loops."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier

from vae.analysis import diagnostics as dg
from vae.analysis.projection import dims_projection, pca_projection
from vae.errors import VAEError

REPO_ROOT = Path(__file__).resolve().parents[1]


def _posteriors(count: int, dims: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Anisotropic posteriors: means spread unevenly over the dims, each dim its own variance."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((count, dims)) * np.linspace(1.5, 0.3, dims)
    logvars = np.log(rng.uniform(0.05, 0.6, (count, dims)))
    return means, logvars


def _scipy_plane_mixture(points, means, logvars, projection) -> np.ndarray:
    """The plane density summed component by component with scipy, covariance A diag(v) A^T built by matrices."""
    axes = projection.axes
    total = np.zeros(len(points))
    for mu, logvar in zip(means, logvars):
        covariance = axes @ np.diag(np.exp(logvar)) @ axes.T
        total += stats.multivariate_normal(axes @ (mu - projection.mean), covariance).pdf(points)
    return total / len(means)


# ---------------------------------------------------------------- aggregate posterior and prior


@pytest.mark.parametrize("plane", ["pca", "dims"])
def test_plane_density_is_the_sum_of_projected_gaussians(plane):
    means, logvars = _posteriors(30, 5)
    projection = pca_projection(means) if plane == "pca" else dims_projection(5, (3, 1))
    points = np.random.default_rng(1).uniform(-3, 3, (200, 2))
    exact = np.exp(dg.aggregate_log_density(points, means, logvars, projection))
    assert np.allclose(exact, _scipy_plane_mixture(points, means, logvars, projection), rtol=1e-9, atol=1e-300)


def test_full_space_density_is_the_sum_of_diagonal_gaussians():
    means, logvars = _posteriors(25, 4)
    points = np.random.default_rng(2).standard_normal((100, 4))
    expected = np.mean([stats.multivariate_normal(mu, np.diag(np.exp(lv))).pdf(points) for mu, lv in zip(means, logvars)],
                       axis=0)
    assert np.allclose(np.exp(dg.aggregate_log_density(points, means, logvars)), expected, rtol=1e-9)


@pytest.mark.slow
def test_plane_densities_integrate_to_one_on_a_wide_grid():
    means, logvars = _posteriors(40, 6)
    projection = pca_projection(means)
    grids = dg.density_grids(means, logvars, projection, (-9, 9), (-9, 9), resolution=241)
    cell = (18 / 240) ** 2
    assert grids.aggregate.sum() * cell == pytest.approx(1.0, abs=2e-3)
    assert grids.prior.sum() * cell == pytest.approx(1.0, abs=2e-3)


def _histogram_density(samples: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts, _, _ = np.histogram2d(samples[:, 0], samples[:, 1], bins=[edges, edges])
    return counts / len(samples) / np.diff(edges)[0] ** 2  # (x bins, y bins)


def _bin_average(log_density, edges: np.ndarray, sub: int = 5) -> np.ndarray:
    """The exact density averaged over each histogram bin (a sub x sub midpoint rule per bin)."""
    width = np.diff(edges)[0]
    offsets = (np.arange(sub) + 0.5) / sub * width
    centres_x = (edges[:-1, None] + offsets).ravel()
    grid_x, grid_y = np.meshgrid(centres_x, centres_x, indexing="ij")
    values = np.exp(log_density(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)))
    bins = len(edges) - 1
    return values.reshape(bins, sub, bins, sub).mean(axis=(1, 3))


@pytest.mark.slow
def test_plane_density_matches_a_monte_carlo_histogram_of_projected_samples():
    rng = np.random.default_rng(3)
    means, logvars = _posteriors(20, 5)
    projection = pca_projection(means)
    which = rng.integers(0, len(means), 1_000_000)
    samples = means[which] + rng.standard_normal((len(which), 5)) * np.exp(0.5 * logvars[which])
    edges = np.linspace(-5, 5, 26)
    empirical = _histogram_density(projection.to_2d(samples), edges)
    exact = _bin_average(lambda p: dg.aggregate_log_density(p, means, logvars, projection), edges)
    cell = np.diff(edges)[0] ** 2
    total_variation = 0.5 * np.abs(empirical - exact).sum() * cell
    assert total_variation < 0.02
    # The same check rejects a plane density that ignores the off-diagonal terms of A Sigma A^T.
    wrong = _bin_average(lambda p: _diagonal_only(p, means, logvars, projection), edges)
    assert 0.5 * np.abs(empirical - wrong).sum() * cell > 2 * total_variation


def _diagonal_only(points, means, logvars, projection):
    axes = projection.axes
    centres = (means - projection.mean) @ axes.T
    variances = np.exp(logvars) @ (axes**2).T  # keeps the diagonal of A Sigma A^T only
    pdf = [stats.multivariate_normal(c, np.diag(v)).pdf(points) for c, v in zip(centres, variances)]
    return np.log(np.mean(pdf, axis=0))


@pytest.mark.slow
def test_prior_on_a_pca_plane_is_the_marginal_of_projected_prior_samples():
    means, _ = _posteriors(50, 4)
    means += 1.5  # the plane's origin (the codes' mean) is far from the prior's centre
    projection = pca_projection(means)
    samples = projection.to_2d(np.random.default_rng(4).standard_normal((1_000_000, 4)))
    edges = np.linspace(-6, 6, 25)
    empirical = _histogram_density(samples, edges)
    exact = _bin_average(lambda p: dg.prior_log_density(p, projection), edges)
    assert 0.5 * np.abs(empirical - exact).sum() * np.diff(edges)[0] ** 2 < 0.02


@pytest.mark.parametrize("projection", [dims_projection(1), dims_projection(4, (2, 2))])
def test_a_plane_without_two_directions_has_no_density(projection):
    dims = projection.axes.shape[1]
    with pytest.raises(VAEError, match="two different directions"):
        dg.aggregate_log_density(np.zeros((1, 2)), np.zeros((3, dims)), np.zeros((3, dims)), projection)


def test_plane_grid_rows_run_from_the_top():
    points = dg.plane_grid((0, 1), (10, 20), 3).reshape(3, 3, 2)
    assert np.allclose(points[0, :, 1], 20) and np.allclose(points[-1, :, 1], 10)
    assert np.allclose(points[:, 0, 0], 0) and np.allclose(points[:, -1, 0], 1)


# ---------------------------------------------------------------- holes


def _left_half_posteriors() -> tuple[np.ndarray, np.ndarray]:
    """Codes fill x < -0.5 densely and leave x > 0 empty: a known hole on the right of the prior."""
    rng = np.random.default_rng(5)
    means = np.stack([rng.uniform(-3.5, -0.5, 1200), rng.uniform(-3.5, 3.5, 1200)], axis=1)
    return means, np.full_like(means, math.log(0.1))


def test_the_empty_half_is_a_hole_and_the_full_half_is_not():
    means, logvars = _left_half_posteriors()
    projection = dims_projection(2)
    flags = dg.off_the_data(np.array([[1.0, 0.0], [-1.5, 0.0], [3.5, 0.0], [0.8, 1.0]]), means, logvars, projection)
    # empty and near the prior's centre; covered; empty but outside the prior's 90% region; empty and inside
    assert flags.tolist() == [True, False, False, True]


def test_hole_grid_follows_the_documented_rule_computed_with_scipy():
    means, logvars = _left_half_posteriors()
    projection = dims_projection(2)
    grids = dg.density_grids(means, logvars, projection, (-4, 4), (-4, 4), resolution=25)
    points = dg.plane_grid((-4, 4), (-4, 4), 25)
    prior = stats.multivariate_normal(np.zeros(2), np.eye(2)).pdf(points)
    boundary = stats.multivariate_normal(np.zeros(2), np.eye(2)).pdf([math.sqrt(stats.chi2.ppf(0.9, 2)), 0.0])
    aggregate = _scipy_plane_mixture(points, means, logvars, projection)
    expected = (prior >= boundary) & (aggregate < 0.1 * prior)
    assert np.array_equal(grids.holes.ravel(), expected)
    assert expected.any() and not expected.all()


def test_full_space_holes_use_the_chi_square_region_of_the_latent_dims():
    rng = np.random.default_rng(6)
    means = rng.standard_normal((400, 3))
    means[means[:, 0] > 0, 0] *= -1  # every code has z1 <= 0
    logvars = np.full_like(means, math.log(0.02))
    points = np.array([[1.2, 0.0, 0.0], [-0.5, 0.3, -0.2], [4.0, 0.0, 0.0]])
    radius_squared = stats.chi2.ppf(0.9, 3)
    prior = stats.multivariate_normal(np.zeros(3), np.eye(3))
    aggregate = np.mean([stats.multivariate_normal(m, np.diag(np.exp(v))).pdf(points) for m, v in zip(means, logvars)], 0)
    expected = (prior.pdf(points) >= prior.pdf([math.sqrt(radius_squared), 0, 0])) & (aggregate < 0.1 * prior.pdf(points))
    assert dg.off_the_data(points, means, logvars).tolist() == expected.tolist() == [True, False, False]
    assert dg.off_the_data(points[0], means, logvars).tolist() == [True]  # one code (D,) is one point


@pytest.mark.parametrize("dims", [1, 2, 3, 16, 64])
def test_prior_region_radius_is_the_chi_square_quantile(dims):
    assert dg.prior_radius_squared(dims) == pytest.approx(stats.chi2.ppf(dg.PRIOR_MASS, dims), rel=1e-10)


# ---------------------------------------------------------------- per-dimension KL


@pytest.mark.slow
def test_kl_per_dimension_matches_a_loop_and_a_monte_carlo_estimate():
    means, logvars = _posteriors(40, 4, seed=7)
    result = dg.kl_per_dimension(means, logvars)
    loop = np.zeros(4)
    for mu_row, logvar_row in zip(means, logvars):
        for dim, (mu, logvar) in enumerate(zip(mu_row, logvar_row)):
            sigma = math.exp(0.5 * logvar)
            loop[dim] += math.log(1 / sigma) + (sigma**2 + mu**2) / 2 - 0.5
    assert np.allclose(result.kl, loop / len(means), rtol=1e-12)
    rng = np.random.default_rng(8)
    sigma = np.exp(0.5 * logvars)
    z = means + sigma * rng.standard_normal((20_000, *means.shape))  # (S, N, D) draws from each q
    monte_carlo = (stats.norm.logpdf(z, means, sigma) - stats.norm.logpdf(z)).mean(axis=(0, 1))
    assert np.allclose(result.kl, monte_carlo, atol=0.01)
    assert list(result.order) == list(np.argsort(-loop)) and np.all(np.diff(result.kl[result.order]) <= 0)


def test_inactive_dims_follow_the_active_units_rule_of_metrics():
    from vae.analysis.metrics import ACTIVE_VARIANCE, active_units

    rng = np.random.default_rng(9)
    means = rng.standard_normal((500, 5)) * np.array([1.0, 0.5, 0.05, 0.2, 0.001])
    logvars = np.zeros_like(means)
    result = dg.kl_per_dimension(means, logvars)
    assert dg.ACTIVE_VARIANCE == ACTIVE_VARIANCE
    assert result.active.tolist() == [True, True, False, True, False]
    assert int(result.active.sum()) == active_units(means)


# ---------------------------------------------------------------- honest planes


def test_pca_plane_explained_variance_matches_sklearn():
    means, _ = _posteriors(300, 8, seed=10)
    assert dg.explained_variance(means, pca_projection(means)) == pytest.approx(
        PCA(n_components=2).fit(means).explained_variance_ratio_.sum(), rel=1e-9)


def test_dims_plane_explained_variance_is_those_dims_share():
    means, _ = _posteriors(300, 6, seed=11)
    variances = means.var(axis=0)
    assert dg.explained_variance(means, dims_projection(6, (4, 0))) == pytest.approx(
        (variances[4] + variances[0]) / variances.sum(), rel=1e-9)


def _labelled_codes(seed: int, classes: int = 2):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, 600)
    centres = rng.standard_normal((classes, 6)) * 1.5
    codes = centres[labels] + rng.standard_normal((600, 6))
    return codes[:400], labels[:400], codes[400:], labels[400:]


def test_knn_accuracy_on_the_plane_and_in_full_matches_sklearn():
    train, train_labels, test, test_labels = _labelled_codes(12)  # two classes, k=5: a vote never ties
    projection = pca_projection(test)
    result = dg.plane_knn_accuracy(train, train_labels, test, test_labels, projection, k=5)

    def sklearn_accuracy(a, b):
        return KNeighborsClassifier(n_neighbors=5).fit(a, train_labels).score(b, test_labels)

    assert result.full == pytest.approx(sklearn_accuracy(train, test))
    assert result.plane == pytest.approx(sklearn_accuracy(projection.to_2d(train), projection.to_2d(test)))


def test_knn_vote_and_ties_match_the_metrics_module():
    from vae.analysis.metrics import knn_accuracy as torch_knn_accuracy

    train, train_labels, test, test_labels = _labelled_codes(13, classes=6)  # ties happen with 6 classes
    for k in (1, 4, 5, 10):
        assert dg.knn_accuracy(train, train_labels, test, test_labels, k) == pytest.approx(
            torch_knn_accuracy(train, train_labels, test, test_labels, k))


def test_nearest_codes_match_a_brute_force_search():
    codes = np.random.default_rng(14).standard_normal((200, 7))
    point = np.random.default_rng(15).standard_normal(7)
    brute = sorted((math.dist(point, code), index) for index, code in enumerate(codes))[:6]
    indices, distances = dg.nearest_codes(point, codes, k=6)
    assert indices.tolist() == [index for _, index in brute]
    assert np.allclose(distances, [distance for distance, _ in brute], rtol=1e-12)


# ---------------------------------------------------------------- t-SNE


@pytest.mark.slow
def test_tsne_plane_is_deterministic_given_its_seed_and_keeps_clusters():
    train, train_labels, _, _ = _labelled_codes(16, classes=3)
    codes, labels = train[:90], train_labels[:90]
    first, again = dg.tsne_plane(codes, seed=0), dg.tsne_plane(codes, seed=0)
    assert first.shape == (90, 2) and first.dtype == np.float32
    assert np.array_equal(first, again)
    assert dg.knn_accuracy(first, labels, first, labels, k=5) > 0.9  # well-separated clusters stay apart


@pytest.mark.slow
def test_tsne_plane_works_on_a_handful_of_codes_and_refuses_fewer():
    assert dg.tsne_plane(np.random.default_rng(17).standard_normal((6, 3)), seed=0).shape == (6, 2)
    with pytest.raises(VAEError, match="at least"):
        dg.tsne_plane(np.zeros((3, 3)), seed=0)


def test_tsne_click_decodes_the_mean_code_of_the_nearest_points_on_the_plane():
    rng = np.random.default_rng(18)
    points2d, means = rng.standard_normal((50, 2)), rng.standard_normal((50, 9))
    click = np.array([0.3, -0.2])
    order = sorted(range(50), key=lambda i: math.dist(click, points2d[i]))[:4]
    expected = np.mean([means[i] for i in order], axis=0)
    assert np.allclose(dg.tsne_click_code(click, points2d, means, k=4), expected, atol=1e-6)


# ---------------------------------------------------------------- no torch


@pytest.mark.slow
def test_the_numpy_modules_compute_without_importing_torch():
    code = (
        "import sys, numpy as np\n"
        "from vae.analysis import diagnostics, likelihoods, selections\n"
        "from vae.analysis.projection import pca_projection\n"
        "m = np.random.default_rng(0).standard_normal((20, 4)); lv = np.zeros_like(m)\n"
        "diagnostics.density_grids(m, lv, pca_projection(m), (-3, 3), (-3, 3), 10)\n"
        "diagnostics.off_the_data(m[:3], m, lv); diagnostics.kl_per_dimension(m, lv)\n"
        "likelihoods.bernoulli_entropy_floor(np.full((2, 4, 4), 0.3)); selections.selection_csv([0], [0], ('a',), m)\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
