"""Disentanglement scores (vae.analysis.disentanglement): MIG and DCI against independent computations and known codes."""
import numpy as np
import pytest
from scipy.stats import entropy
from sklearn.metrics import mutual_info_score

from vae.analysis.disentanglement import (
    MIG_BINS,
    dci,
    dci_from_importance,
    discretize_codes,
    factor_traversals,
    mig,
    mig_per_factor,
    mutual_information_matrix,
)
from vae.errors import DataError

MIG_SIZES = (8, 8, 8, 8)  # factor sizes of the MIG fixtures: many values, so a rotation cannot hide
DCI_SIZES = (4, 4)  # two factors of four values keep the gradient-boosted classifiers quick
NOISE = 0.05  # standard deviation of the noise on each disentangled code


def make_factors(sizes: tuple[int, ...], count: int, seed: int = 0) -> np.ndarray:
    """(count, F) uniformly drawn factor values."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, size, count) for size in sizes], axis=1)


def disentangled_codes(factors: np.ndarray, seed: int = 1) -> np.ndarray:
    """(N, F) codes: latent dim j is factor j, standardised, plus a little noise."""
    rng = np.random.default_rng(seed)
    standardised = (factors - factors.mean(axis=0)) / factors.std(axis=0)
    return standardised + NOISE * rng.standard_normal(factors.shape)


def random_rotation(dims: int, seed: int) -> np.ndarray:
    """(dims, dims) orthogonal matrix drawn at random (QR of a Gaussian matrix)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dims, dims)))
    return q * np.sign(np.diag(r))


def bin_by_floor(values: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins over the range, computed directly: floor((v - min) / width), the maximum in the last bin."""
    scaled = (values - values.min()) / (values.max() - values.min()) * bins
    return np.minimum(np.floor(scaled), bins - 1).astype(int)


@pytest.fixture(scope="module")
def mig_fixture() -> tuple[np.ndarray, np.ndarray]:
    factors = make_factors(MIG_SIZES, 2000)
    return disentangled_codes(factors), factors


def test_mutual_information_matrix_equals_sklearn_on_the_binned_codes(mig_fixture):
    codes, factors = mig_fixture
    codes = np.concatenate([codes @ random_rotation(4, 0), codes[:, :1] ** 3], axis=1)  # uneven ranges too
    matrix = mutual_information_matrix(codes, factors)
    brute = np.array([[mutual_info_score(factors[:, f], bin_by_floor(codes[:, d], MIG_BINS))
                       for f in range(factors.shape[1])] for d in range(codes.shape[1])])
    assert matrix.shape == (5, 4)
    assert np.allclose(matrix, brute, atol=1e-12)
    assert np.array_equal(discretize_codes(codes), np.stack([bin_by_floor(c, MIG_BINS) for c in codes.T], axis=1))


def test_mig_per_factor_is_the_gap_over_the_factor_entropy(mig_fixture):
    codes, factors = mig_fixture
    codes = codes @ random_rotation(4, 3)
    expected = []
    for f in range(factors.shape[1]):
        scores = sorted((mutual_info_score(factors[:, f], bin_by_floor(code, MIG_BINS)) for code in codes.T),
                        reverse=True)
        expected.append((scores[0] - scores[1]) / entropy(np.bincount(factors[:, f])))
    assert np.allclose(mig_per_factor(codes, factors), expected, atol=1e-12)
    assert mig(codes, factors) == pytest.approx(np.mean(expected), abs=1e-12)


def test_mig_is_near_one_for_disentangled_codes_low_for_rotated_and_zero_for_noise(mig_fixture):
    codes, factors = mig_fixture
    assert mig(codes, factors) > 0.9
    assert (mig_per_factor(codes, factors) > 0.85).all()
    assert mig(codes @ random_rotation(4, 0), factors) < 0.5  # every latent mixes several factors
    noise = np.random.default_rng(7).standard_normal(codes.shape)
    assert mig(noise, factors) < 0.05


def test_a_collapsed_latent_carries_no_information(mig_fixture):
    codes, factors = mig_fixture
    with_dead = np.concatenate([codes, np.full((len(codes), 1), 0.3)], axis=1)
    matrix = mutual_information_matrix(with_dead, factors)
    assert np.all(matrix[-1] == 0.0)
    assert mig(with_dead, factors) == pytest.approx(mig(codes, factors), abs=1e-12)


def test_traversals_pick_the_dimension_of_each_factor(mig_fixture):
    codes, factors = mig_fixture
    order = [2, 0, 3, 1]  # latent d holds factor order[d]
    shuffled = codes[:, np.argsort(order)]
    names = ["shape", "colour", "size", "rotation"]
    traversals = factor_traversals(shuffled, factors, names)
    assert [t.factor_name for t in traversals] == names
    assert [t.dim for t in traversals] == list(np.argsort(np.argsort(order)))
    for factor, traversal in enumerate(traversals):
        brute = mutual_info_score(factors[:, factor], bin_by_floor(shuffled[:, traversal.dim], MIG_BINS))
        assert traversal.mi == pytest.approx(brute, abs=1e-12)
        assert traversal.mi > 0.9 * entropy(np.bincount(factors[:, factor]))
    assert [t.factor_name for t in factor_traversals(shuffled, factors)] == [f"factor {i}" for i in range(4)]


def test_dci_from_importance_matches_the_entropy_formulas():
    assert dci_from_importance(np.eye(3)) == pytest.approx((1.0, 1.0))
    assert dci_from_importance(np.ones((3, 4))) == pytest.approx((0.0, 0.0), abs=1e-12)
    importance = np.random.default_rng(0).random((5, 3)) ** 3
    total = importance.sum()
    disentanglement = sum(row.sum() / total * (1 - entropy(row, base=3)) for row in importance)
    completeness = sum(column.sum() / total * (1 - entropy(column, base=5)) for column in importance.T)
    assert dci_from_importance(importance) == pytest.approx((disentanglement, completeness), abs=1e-12)
    one_used = np.zeros((4, 2))
    one_used[1] = [0.5, 0.5]  # one latent carries both factors: complete but not disentangled
    assert dci_from_importance(one_used) == pytest.approx((0.0, 1.0), abs=1e-12)


@pytest.fixture(scope="module")
def dci_fixture() -> tuple[np.ndarray, np.ndarray]:
    factors = make_factors(DCI_SIZES, 300, seed=2)
    return disentangled_codes(factors, seed=3), factors


@pytest.mark.slow
def test_dci_is_near_one_for_disentangled_codes(dci_fixture):
    codes, factors = dci_fixture
    scores = dci(codes, factors, seed=0)
    assert scores["disentanglement"] > 0.9 and scores["completeness"] > 0.9
    assert scores["informativeness"] > 0.95
    assert scores["importance"].shape == (2, 2) and np.allclose(scores["importance"].sum(axis=0), 1.0)
    assert np.array_equal(scores["importance"].argmax(axis=0), [0, 1])


@pytest.mark.slow
def test_dci_is_low_for_codes_that_mix_every_factor(dci_fixture):
    """A 45-degree turn: each latent is (f0 + f1) or (f0 - f1); no latent alone tells either factor.

    A random rotation can land close to the axes, where trees still separate the factors' discrete
    values along one latent, so the maximally mixing turn is the fair entangled case here.
    """
    codes, factors = dci_fixture
    turn = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2.0)
    scores = dci(codes @ turn, factors, seed=0)
    assert scores["disentanglement"] < 0.3 and scores["completeness"] < 0.3
    assert scores["informativeness"] > 0.6  # the information is still there, only spread out


@pytest.mark.slow
def test_dci_is_about_zero_for_noise(dci_fixture):
    _, factors = dci_fixture
    noise = np.random.default_rng(5).standard_normal((len(factors), 2))
    scores = dci(noise, factors, seed=0)
    assert scores["disentanglement"] < 0.1 and scores["completeness"] < 0.1
    assert scores["informativeness"] < 0.45  # chance is 1/4


@pytest.mark.slow  # two fits: about 3 s on a loaded machine
def test_dci_is_deterministic_for_a_seed(dci_fixture):
    codes, factors = dci_fixture
    first, again = dci(codes[:150], factors[:150], seed=4), dci(codes[:150], factors[:150], seed=4)
    assert np.array_equal(first["importance"], again["importance"])
    assert first["informativeness"] == again["informativeness"]


@pytest.mark.parametrize("codes, factors", [
    (np.zeros((20, 2)), np.zeros((19, 2), dtype=int)),  # different counts
    (np.zeros((5, 2)), np.arange(10).reshape(5, 2)),  # too few images
    (np.full((20, 2), np.nan), np.arange(40).reshape(20, 2) % 3),  # NaN codes
    (np.random.default_rng(0).random((20, 2)), np.stack([np.arange(20) % 2, np.zeros(20, int)], 1)),  # constant
])
def test_bad_inputs_raise_a_data_error(codes, factors):
    with pytest.raises(DataError):
        mig(codes, factors)
    with pytest.raises(DataError):
        dci(codes, factors)
