"""What a latent space hides, numpy only (no torch): densities, holes, per-dim KL, honest planes, t-SNE.

Every function takes the test images' posteriors as numpy arrays: ``means`` (N, D) and ``logvars`` (N, D)
of q(z|x_i) = N(mu_i, diag(exp(logvar_i))). A plane is a :class:`vae.analysis.projection.Projection`: plane point
p stands for the latent point ``projection.mean + p @ projection.axes``, and the density on the plane is
the exact marginal density of the projected variable ``u = (z - projection.mean) @ projection.axes.T``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vae.analysis.projection import Projection
from vae.errors import VAEError

PRIOR_MASS = 0.9  # a hole must lie inside the region holding this share of the prior (its highest-density region)
HOLE_RATIO = 0.1  # ... where the images' codes are less than this fraction as dense as the prior
ACTIVE_VARIANCE = 0.01  # the same rule as vae.analysis.metrics.active_units (Burda et al.); kept here so no torch loads
PAIR_BUDGET = 2**22  # point x component pairs evaluated at once (bounds memory: about 32 MiB per float64 array)
TSNE_PERPLEXITY = 30.0  # scikit-learn's default: roughly how many neighbours each point keeps close
MIN_TSNE_POINTS = 5  # t-SNE needs a few points to have neighbours at all
TSNE_NEIGHBOURS = 5  # test images whose mean code a click on the t-SNE plane decodes
_LOG_2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------- densities on the plane and in the full space


def plane_grid(x_range: tuple[float, float], y_range: tuple[float, float], resolution: int) -> np.ndarray:
    """Plane points of a resolution x resolution grid, (R*R, 2), row by row from the top (high y), as images are drawn.

    In plain words: the spots on the map where the overlays are computed.
    """
    xs = np.linspace(*x_range, resolution)
    ys = np.linspace(*y_range, resolution)[::-1]
    grid_x, grid_y = np.meshgrid(xs, ys)  # (R, R) each
    return np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)


def aggregate_log_density(
    points: np.ndarray, means: np.ndarray, logvars: np.ndarray, projection: Projection | None = None
) -> np.ndarray:
    """Log density of the aggregate posterior, the average of the test images' posteriors, at ``points``.

    In plain words: how crowded the images' codes are at each point, counting each code's uncertainty.
    With ``projection`` the points are plane points (M, 2) and the density is the exact marginal on the
    plane (each Gaussian projects to N(A(mu - m), A Sigma A^T)); without, the points are codes (M, D).

    Returns:
        (M,) natural-log densities.
    """
    centres, variances = np.asarray(means, np.float64), np.exp(np.asarray(logvars, np.float64))
    if projection is None:
        return _log_mixture_diagonal(np.atleast_2d(np.asarray(points, np.float64)), centres, variances)
    axes = _plane_axes(projection)
    plane_centres = (centres - projection.mean) @ axes.T  # (N, 2)
    covariances = np.einsum("ad,nd,bd->nab", axes, variances, axes)  # (N, 2, 2)
    return _log_mixture_2d(np.asarray(points, np.float64).reshape(-1, 2), plane_centres, covariances)


def prior_log_density(points: np.ndarray, projection: Projection | None = None) -> np.ndarray:
    """Log density of the prior N(0, I) at ``points``: plane points (M, 2) with ``projection``, else codes (M, D).

    In plain words: where the model expects codes to be before it has seen any image. On a plane this is
    the prior's exact marginal, N(-A m, I) for orthonormal axes A and plane origin m.
    """
    data = np.atleast_2d(np.asarray(points, np.float64))
    if projection is not None:
        axes = _plane_axes(projection)
        data = data.reshape(-1, 2) + projection.mean @ axes.T  # plane coordinates -> centred on the prior
    return -0.5 * ((data**2).sum(axis=1) + data.shape[1] * _LOG_2PI)


def _plane_axes(projection: Projection) -> np.ndarray:
    """The (2, D) axes, checked orthonormal: a 1-D latent has no plane to hold a 2-D density."""
    axes = np.asarray(projection.axes, np.float64)
    if axes.shape[0] != 2 or not np.allclose(axes @ axes.T, np.eye(2), atol=1e-6):
        raise VAEError("Densities on the map need a plane with two different directions: pick two different "
                       "dims, or use a model with 2 or more latent dims.")
    return axes


def _log_mixture_diagonal(points: np.ndarray, centres: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """log (1/N) sum_i N(x; mu_i, diag(v_i)) for x in points (M, D); memory bounded by PAIR_BUDGET."""
    precisions = 1.0 / variances  # (N, D)
    const = -0.5 * (np.log(variances).sum(axis=1) + centres.shape[1] * _LOG_2PI + (centres**2 * precisions).sum(axis=1))
    out = np.empty(len(points))
    for chunk in _chunks(len(points), len(centres)):
        x = points[chunk]  # (m, D)
        quadratic = (x**2) @ precisions.T - 2 * x @ (centres * precisions).T  # (m, N), without the mu^2 term
        out[chunk] = _logsumexp(const - 0.5 * quadratic) - math.log(len(centres))
    return out


def _log_mixture_2d(points: np.ndarray, centres: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """log (1/N) sum_i N(p; c_i, S_i) for plane points (M, 2) and 2x2 covariances (N, 2, 2)."""
    a, b, d = covariances[:, 0, 0], covariances[:, 0, 1], covariances[:, 1, 1]
    det = a * d - b * b  # (N,)
    const = -0.5 * np.log(det) - _LOG_2PI
    out = np.empty(len(points))
    for chunk in _chunks(len(points), len(centres)):
        dx = points[chunk, 0:1] - centres[:, 0]  # (m, N)
        dy = points[chunk, 1:2] - centres[:, 1]
        mahalanobis = (d * dx * dx - 2 * b * dx * dy + a * dy * dy) / det
        out[chunk] = _logsumexp(const - 0.5 * mahalanobis) - math.log(len(centres))
    return out


def _chunks(rows: int, components: int) -> list[slice]:
    step = max(1, PAIR_BUDGET // max(components, 1))
    return [slice(start, start + step) for start in range(0, rows, step)]


def _logsumexp(values: np.ndarray) -> np.ndarray:
    """log sum exp over the last axis, without overflow: (m, N) -> (m,)."""
    top = values.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(values - top).sum(axis=1, keepdims=True)))[:, 0]


# ---------------------------------------------------------------- holes


@dataclass(frozen=True)
class DensityGrids:
    """Prior and aggregate-posterior densities over a plane grid, row 0 at the top (high y), and the holes."""

    prior: np.ndarray  # (R, R) density of N(0, I) on the plane
    aggregate: np.ndarray  # (R, R) density of the test images' posteriors on the plane
    holes: np.ndarray  # (R, R) bool, see hole_mask
    xs: np.ndarray  # (R,) plane x of each column, left to right
    ys: np.ndarray  # (R,) plane y of each row, top to bottom


def density_grids(
    means: np.ndarray, logvars: np.ndarray, projection: Projection,
    x_range: tuple[float, float], y_range: tuple[float, float], resolution: int = 100,
) -> DensityGrids:
    """The prior, the aggregate posterior and the holes over the map's plane, ready to draw as overlays.

    In plain words: where the model expects codes, where the images' codes really are, and the empty
    places in between.
    """
    points = plane_grid(x_range, y_range, resolution)
    log_prior = prior_log_density(points, projection)
    log_aggregate = aggregate_log_density(points, means, logvars, projection)
    shape = (resolution, resolution)
    holes = hole_mask(log_prior, log_aggregate, dims=2).reshape(shape)
    return DensityGrids(np.exp(log_prior).reshape(shape), np.exp(log_aggregate).reshape(shape), holes,
                        np.linspace(*x_range, resolution), np.linspace(*y_range, resolution)[::-1])


def hole_mask(log_prior: np.ndarray, log_aggregate: np.ndarray, dims: int) -> np.ndarray:
    """Which points are holes: the prior puts them in its PRIOR_MASS (90%) highest-density region, yet the
    aggregate posterior is below HOLE_RATIO (a tenth) of the prior's density there.

    In plain words: places the model treats as normal, but where almost no image's code lies.
    ``dims`` is the dimension the densities live in (2 on a plane, D in the full space).
    """
    boundary = -0.5 * (prior_radius_squared(dims) + dims * _LOG_2PI)  # prior log density on the region's edge
    prior = np.asarray(log_prior, np.float64)
    return (prior >= boundary) & (np.asarray(log_aggregate, np.float64) < prior + math.log(HOLE_RATIO))


def prior_radius_squared(dims: int, mass: float = PRIOR_MASS) -> float:
    """Squared radius of the ball holding ``mass`` of N(0, I) in ``dims`` dims: the chi-square quantile."""
    if dims == 2:
        return -2.0 * math.log(1.0 - mass)  # closed form in 2-D; avoids loading scipy for the map
    from scipy.special import gammaincinv

    return float(2.0 * gammaincinv(dims / 2.0, mass))


def off_the_data(
    points: np.ndarray, means: np.ndarray, logvars: np.ndarray, projection: Projection | None = None
) -> np.ndarray:
    """Whether each point is in a hole: plane points (M, 2) with ``projection``, else codes (M, D) -> (M,) bool.

    In plain words: a picture decoded here comes from a place no training image taught the model about.
    """
    data = np.asarray(points, np.float64)
    data = data.reshape(-1, 2) if projection is not None else np.atleast_2d(data)
    dims = data.shape[1]
    return hole_mask(prior_log_density(data, projection), aggregate_log_density(data, means, logvars, projection), dims)


# ---------------------------------------------------------------- per-dimension KL


@dataclass(frozen=True)
class DimensionKL:
    """Each latent dim's average KL from the prior, its rank and whether it is active."""

    kl: np.ndarray  # (D,) mean over images of KL(N(mu, sigma^2) || N(0, 1)), nats
    order: np.ndarray  # (D,) dim indices, largest KL first
    active: np.ndarray  # (D,) bool: the mean code varies across images by more than ACTIVE_VARIANCE
    mean_variance: np.ndarray  # (D,) variance of the mean code across images


def kl_per_dimension(means: np.ndarray, logvars: np.ndarray, threshold: float = ACTIVE_VARIANCE) -> DimensionKL:
    """Per-dim KL averaged over the images (N, D) -> (D,), ordered, with inactive dims marked.

    In plain words: how much information each code number carries about the images; a dim with
    almost none is unused by the model. "Active" follows vae.analysis.metrics.active_units (variance of the
    mean code across images above ``threshold``).
    """
    mu, logvar = np.asarray(means, np.float64), np.asarray(logvars, np.float64)
    kl = (0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar)).mean(axis=0)
    variance = mu.var(axis=0)
    return DimensionKL(kl, np.argsort(-kl, kind="stable"), variance > threshold, variance)


# ---------------------------------------------------------------- honest planes above 2-D


def explained_variance(codes: np.ndarray, projection: Projection) -> float:
    """Share (0..1) of the codes' (N, D) total variance that lies in the plane.

    In plain words: how much of the spread of the codes the map can show; the rest is hidden.
    """
    data = np.asarray(codes, np.float64)
    centred = data - data.mean(axis=0)
    total = float((centred**2).sum())
    return float(((centred @ np.asarray(projection.axes, np.float64).T) ** 2).sum() / total) if total > 0 else 0.0


@dataclass(frozen=True)
class PlaneAccuracy:
    """kNN accuracy of the test codes' labels on the plane and in the full latent space."""

    plane: float
    full: float


def plane_knn_accuracy(
    train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray, test_labels: np.ndarray,
    projection: Projection, k: int = 5,
) -> PlaneAccuracy:
    """How often a test image's k nearest training codes vote for its label, on the plane and in full.

    In plain words: how well neighbours on the map predict a picture's class, against the full code.
    The vote follows vae.analysis.metrics.knn_accuracy (Euclidean, ties to the nearer neighbour).
    """
    return PlaneAccuracy(
        knn_accuracy(projection.to_2d(train_codes), train_labels, projection.to_2d(test_codes), test_labels, k),
        knn_accuracy(train_codes, train_labels, test_codes, test_labels, k),
    )


def knn_accuracy(train_points: np.ndarray, train_labels: np.ndarray, test_points: np.ndarray,
                 test_labels: np.ndarray, k: int = 5) -> float:
    """Fraction (0..1) of test points (M, d) whose k nearest train points (N, d) vote for their label.

    In plain words: how often a picture's closest neighbours share its class.
    """
    predicted = knn_predict(train_points, train_labels, test_points, k)
    return float(np.mean(predicted == np.asarray(test_labels))) if len(predicted) else 0.0


def knn_predict(train_points: np.ndarray, train_labels: np.ndarray, test_points: np.ndarray, k: int = 5) -> np.ndarray:
    """(M,) majority label of each test point's k nearest train points; a tie goes to the nearer neighbour."""
    train = np.asarray(train_points, np.float64).reshape(len(train_points), -1)
    test = np.asarray(test_points, np.float64).reshape(len(test_points), -1)
    labels = np.asarray(train_labels, np.int64)
    k = min(k, len(train))
    if k < 1:
        return np.full(len(test), -1, np.int64)  # no train point to vote: no label is predicted
    weights = 1.0 + 1e-3 * np.arange(k, 0, -1)  # nearest first weighs a little more: breaks ties its way
    predicted = []
    for chunk in _chunks(len(test), len(train)):
        distances = _squared_distances(test[chunk], train)  # (m, N)
        nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]  # (m, k)
        votes = np.zeros((len(nearest), int(labels.max()) + 1))
        np.add.at(votes, (np.arange(len(nearest))[:, None], labels[nearest]), weights)
        predicted.append(votes.argmax(axis=1))
    return np.concatenate(predicted) if predicted else np.zeros(0, np.int64)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(m, d), (N, d) -> (m, N) squared Euclidean distances, clipped at 0 against rounding."""
    return np.maximum((a**2).sum(axis=1)[:, None] - 2 * a @ b.T + (b**2).sum(axis=1)[None], 0.0)


def nearest_codes(point: np.ndarray, codes: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The k codes (N, D) nearest to ``point`` (D,): their indices (k,) and Euclidean distances (k,), nearest first.

    In plain words: the test images whose codes are closest to this point, counting every code number.
    """
    data = np.asarray(codes, np.float64)
    distances = np.linalg.norm(data - np.asarray(point, np.float64).reshape(1, -1), axis=1)
    order = np.argsort(distances, kind="stable")[: max(0, min(k, len(data)))]
    return order, distances[order]


# ---------------------------------------------------------------- t-SNE plane


def tsne_plane(means: np.ndarray, seed: int = 0, perplexity: float = TSNE_PERPLEXITY) -> np.ndarray:
    """t-SNE of the codes (N, D) onto a plane: (N, 2) float32, the same for the same seed.

    In plain words: a map that keeps each image near its most similar images; distances between
    far-apart groups mean little, and the map has no formula to turn a point back into a code.
    It starts from the PCA plane, so the layout hardly depends on ``seed``; the seed fixes the rest.
    """
    from sklearn.manifold import TSNE  # loaded only when asked: about 2 s
    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    data = np.asarray(means, np.float64)
    if len(data) < MIN_TSNE_POINTS:
        raise VAEError(f"A t-SNE map needs at least {MIN_TSNE_POINTS} test images; this set has {len(data)}.")
    fitted = TSNE(n_components=2, perplexity=min(perplexity, (len(data) - 1) / 3.0), init="pca", random_state=seed)
    # One OpenMP thread: its threads wait by spinning, and on a busy machine (a server beside training runs) two of
    # them took 79 s for 359 codes against 8.8 s for one (measured on 2 shared cores); the result is the same map.
    with threadpool_limits(limits=1, user_api="openmp"):
        return fitted.fit_transform(data).astype(np.float32)


def tsne_click_code(
    click_xy: np.ndarray, points2d: np.ndarray, means: np.ndarray, k: int = TSNE_NEIGHBOURS
) -> np.ndarray:
    """The code (D,) a click on the t-SNE plane decodes: the mean code of the k test images nearest the click there.

    In plain words: t-SNE cannot be run backwards, so a click shows the average of the nearest pictures' codes.
    """
    indices, _ = nearest_codes(np.asarray(click_xy, np.float64).reshape(2), points2d, k)
    if len(indices) == 0:
        raise VAEError("There are no test images on this map to decode from.")
    return np.asarray(means, np.float64)[indices].mean(axis=0).astype(np.float32)
