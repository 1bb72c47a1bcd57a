"""Disentanglement scores of latent codes against known factors: MIG, DCI, and one traversal per factor."""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier

from vae.errors import DataError

MIG_BINS = 20  # histogram bins per latent dimension, as in Chen et al. (2018) and Locatello et al. (2019)
DCI_TEST_FRACTION = 0.2  # share of the codes held out to measure informativeness
MIN_SAMPLES = 10  # fewer codes than this cannot support any of these estimates


class Traversal(NamedTuple):
    """The latent dimension that carries a factor best, for one traversal per factor."""

    factor_name: str
    dim: int
    mi: float  # mutual information between that dimension and the factor, in nats


def check_inputs(codes: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate (N, D) codes and (N, F) factors; return them as float64 and int64 arrays."""
    codes = np.asarray(codes, dtype=np.float64)
    factors = np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise DataError(f"Codes and factors must be tables with one row per image; got shapes {codes.shape} "
                        f"and {factors.shape}. Encode the same images whose factors you pass.")
    if len(codes) < MIN_SAMPLES or codes.shape[1] == 0 or factors.shape[1] == 0:
        raise DataError(f"Scoring needs at least {MIN_SAMPLES} images, one latent dimension and one factor. "
                        "Encode more images.")
    if not np.isfinite(codes).all():
        raise DataError("Some latent codes are not finite numbers (NaN or infinity); the model may have diverged.")
    for column in range(factors.shape[1]):
        if len(np.unique(factors[:, column])) < 2:
            raise DataError(f"Factor {column} takes a single value in these images, so nothing can be learned "
                            "about it. Score on images where every factor varies.")
    return codes, factors.astype(np.int64)


def discretize_codes(codes: np.ndarray, bins: int = MIG_BINS) -> np.ndarray:
    """(N, D) codes -> (N, D) bin indices 0..bins-1, equal-width bins over each dimension's own range.

    A constant dimension (a collapsed latent) falls into a single bin and so carries no information.
    """
    codes = np.asarray(codes, dtype=np.float64)
    binned = np.empty(codes.shape, dtype=np.int64)
    for dim in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, dim], bins=bins)
        binned[:, dim] = np.digitize(codes[:, dim], edges[1:-1])  # inner edges: values fall in 0..bins-1
    return binned


def discrete_mutual_information(first: np.ndarray, second: np.ndarray) -> float:
    """Mutual information in nats between two (N,) discrete variables, from their joint histogram."""
    _, first_index = np.unique(first, return_inverse=True)
    _, second_index = np.unique(second, return_inverse=True)
    joint = np.zeros((first_index.max() + 1, second_index.max() + 1))
    np.add.at(joint, (first_index, second_index), 1.0)
    joint /= joint.sum()
    outer = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return float(np.sum(joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])))


def discrete_entropy(values: np.ndarray) -> float:
    """Entropy in nats of a (N,) discrete variable."""
    _, counts = np.unique(values, return_counts=True)
    probabilities = counts / counts.sum()
    return float(-np.sum(probabilities * np.log(probabilities)))


def mutual_information_matrix(codes: np.ndarray, factors: np.ndarray, bins: int = MIG_BINS) -> np.ndarray:
    """(D, F) mutual information in nats between each discretised latent dimension and each factor.

    Args:
        codes: (N, D) latent codes (e.g. the encoder means).
        factors: (N, F) integer factor values of the same images.
        bins: Equal-width histogram bins per latent dimension.
    """
    codes, factors = check_inputs(codes, factors)
    binned = discretize_codes(codes, bins)
    return np.array([[discrete_mutual_information(binned[:, dim], factors[:, factor])
                      for factor in range(factors.shape[1])] for dim in range(codes.shape[1])])


def mig_per_factor(codes: np.ndarray, factors: np.ndarray, bins: int = MIG_BINS) -> np.ndarray:
    """(F,) mutual information gap per factor: (highest MI - second highest MI) / H(factor), in [0, 1].

    Chen et al. (2018), "Isolating Sources of Disentanglement in VAEs". With a single latent
    dimension the second highest MI is taken as 0.
    """
    matrix = mutual_information_matrix(codes, factors, bins)
    factors = np.asarray(factors)
    entropies = np.array([discrete_entropy(factors[:, factor]) for factor in range(factors.shape[1])])
    ranked = np.sort(matrix, axis=0)[::-1]  # (D, F), highest MI first in each column
    second = ranked[1] if len(ranked) > 1 else np.zeros(matrix.shape[1])
    return (ranked[0] - second) / entropies


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = MIG_BINS) -> float:
    """Mutual information gap: the mean over factors of :func:`mig_per_factor`; 1 is perfectly disentangled.

    Args:
        codes: (N, D) latent codes (e.g. the encoder means).
        factors: (N, F) integer factor values of the same images; every factor must vary.
        bins: Equal-width histogram bins per latent dimension (20 as in the paper).
    """
    return float(np.mean(mig_per_factor(codes, factors, bins)))


def factor_traversals(
    codes: np.ndarray, factors: np.ndarray, factor_names: Sequence[str] | None = None, bins: int = MIG_BINS
) -> list[Traversal]:
    """For each factor, the latent dimension with the highest mutual information with it.

    A page can then show one traversal per factor along that dimension. Two factors may share a
    dimension when the model has entangled them.

    Args:
        codes: (N, D) latent codes.
        factors: (N, F) integer factor values of the same images.
        factor_names: F names; "factor 0", "factor 1", ... when not given.
        bins: Equal-width histogram bins per latent dimension.
    """
    matrix = mutual_information_matrix(codes, factors, bins)
    names = list(factor_names) if factor_names is not None else [f"factor {i}" for i in range(matrix.shape[1])]
    if len(names) != matrix.shape[1]:
        raise DataError(f"Got {len(names)} factor names for {matrix.shape[1]} factors; pass one name per factor.")
    best = matrix.argmax(axis=0)
    return [Traversal(names[factor], int(best[factor]), float(matrix[best[factor], factor]))
            for factor in range(matrix.shape[1])]


class FactorReport(NamedTuple):
    """How a model's codes carry known factors: the MIG, each factor's gap, and its best code number."""

    mig: float  # mean of mig_per_factor, 0..1, higher is more disentangled
    mig_per_factor: np.ndarray  # (F,)
    traversals: list[Traversal]  # per factor, the latent dimension with the highest mutual information


def factor_report(codes: np.ndarray, factors: np.ndarray, factor_names: Sequence[str]) -> FactorReport:
    """The MIG, per factor and overall, and the traversal dimension of every factor, for one set of codes.

    Args:
        codes: (N, D) latent codes (the encoder means of the test images).
        factors: (N, F) integer factor values of the same images.
        factor_names: F names.
    """
    per_factor = mig_per_factor(codes, factors)
    return FactorReport(float(np.mean(per_factor)), per_factor, factor_traversals(codes, factors, factor_names))


def normalized_entropy(probabilities: np.ndarray, axis: int) -> np.ndarray:
    """Entropy along ``axis`` of non-negative weights, in the base of that axis's length (so in [0, 1])."""
    length = probabilities.shape[axis]
    if length < 2:
        return np.zeros(probabilities.shape[1 - axis])
    totals = probabilities.sum(axis=axis, keepdims=True)
    shares = np.divide(probabilities, totals, out=np.zeros_like(probabilities), where=totals > 0)
    logs = np.log(shares, out=np.zeros_like(shares), where=shares > 0)
    return -np.sum(shares * logs, axis=axis) / np.log(length)


def dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """Disentanglement and completeness from a (D, F) non-negative importance matrix.

    Eastwood & Williams (2018): disentanglement weights each dimension's 1 - H_F(its row shares) by
    that dimension's share of the total importance; completeness averages 1 - H_D(column shares)
    over factors, weighted by each factor's share (equal for normalised per-factor importances).
    """
    importance = np.abs(np.asarray(importance, dtype=np.float64))
    total = importance.sum()
    if total <= 0:
        return 0.0, 0.0
    dim_weights = importance.sum(axis=1) / total
    factor_weights = importance.sum(axis=0) / total
    disentanglement = float(np.sum(dim_weights * (1.0 - normalized_entropy(importance, axis=1))))
    completeness = float(np.sum(factor_weights * (1.0 - normalized_entropy(importance, axis=0))))
    return disentanglement, completeness


def split_for_dci(count: int, seed: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train_idx, test_idx) over ``count`` codes, the test part at least one code."""
    order = np.random.default_rng(seed).permutation(count)
    test_count = min(max(round(test_fraction * count), 1), count - 1)
    return order[test_count:], order[:test_count]


def dci(codes: np.ndarray, factors: np.ndarray, seed: int = 0, test_fraction: float = DCI_TEST_FRACTION) -> dict:
    """DCI scores (Eastwood & Williams 2018) with one gradient-boosted classifier per factor.

    The importance matrix comes from scikit-learn's ``GradientBoostingClassifier`` (default
    settings, impurity-based ``feature_importances_``), the choice of Locatello et al. (2019,
    disentanglement_lib), whose numbers most papers compare against; the original paper used lasso
    and random forests. Classifiers suit the discrete factors, including categorical ones such as
    shape that a linear regressor cannot read. It costs about 10 s per 1,000 codes with six factors
    on one CPU core, so pass a few thousand codes at most.

    Args:
        codes: (N, D) latent codes.
        factors: (N, F) integer factor values of the same images; every factor must vary in the
            training part.
        seed: Seed of the train/test split and of the classifiers.
        test_fraction: Share of the codes held out to measure informativeness.

    Returns:
        ``disentanglement``, ``completeness`` (both in [0, 1], higher is better), ``informativeness``
        (mean test accuracy over factors, higher is better), ``informativeness_train``,
        ``accuracy_per_factor`` ((F,) test accuracies) and ``importance`` ((D, F) matrix).
    """
    codes, factors = check_inputs(codes, factors)
    train_idx, test_idx = split_for_dci(len(codes), seed, test_fraction)
    importance = np.zeros((codes.shape[1], factors.shape[1]))
    train_accuracy, test_accuracy = np.zeros(factors.shape[1]), np.zeros(factors.shape[1])
    for factor in range(factors.shape[1]):
        if len(np.unique(factors[train_idx, factor])) < 2:
            raise DataError(f"Factor {factor} takes a single value in the training part; score on more images.")
        model = GradientBoostingClassifier(random_state=seed).fit(codes[train_idx], factors[train_idx, factor])
        importance[:, factor] = model.feature_importances_
        train_accuracy[factor] = model.score(codes[train_idx], factors[train_idx, factor])
        test_accuracy[factor] = model.score(codes[test_idx], factors[test_idx, factor])
    disentanglement, completeness = dci_from_importance(importance)
    return {
        "disentanglement": disentanglement,
        "completeness": completeness,
        "informativeness": float(test_accuracy.mean()),
        "informativeness_train": float(train_accuracy.mean()),
        "accuracy_per_factor": test_accuracy,
        "importance": importance,
    }
