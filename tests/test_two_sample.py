"""The two-sample statistics (engine/analysis/two_sample.py) against independent references:
MMD² against a double loop over its definition, the permutation p-value against SciPy's exact
permutation test, the classifier test against scikit-learn's k-nearest-neighbours classifier."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import cdist, pdist
from sklearn.neighbors import KNeighborsClassifier

from engine.analysis import two_sample
from engine.analysis.two_sample import (N_PERMUTATIONS, c2st_accuracy, knn_neighbours, mmd2,
                                        mmd_permutation_test, real_bandwidth, squared_distances)


def loop_mmd2(a, b, sigma):
    """Unbiased MMD² (Gretton et al. 2012, eq. 3), one pair of points at a time."""
    k = lambda u, v: math.exp(-sum((ui - vi) ** 2 for ui, vi in zip(u, v)) / (2 * sigma**2))
    n, m = len(a), len(b)
    aa = sum(k(a[i], a[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    bb = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    ab = sum(k(a[i], b[j]) for i in range(n) for j in range(m)) / (n * m)
    return aa + bb - 2 * ab


def test_mmd2_matches_a_double_loop_over_its_definition():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 25, 3)), rng.normal(0.5, 1.2, size=(2, 18, 3))
    for sigma in (0.4, 1.5):
        np.testing.assert_allclose(mmd2(a, b, sigma), [loop_mmd2(a[i], b[i], sigma) for i in range(2)], rtol=1e-12)
        stat, _ = mmd_permutation_test(a[0], b[0], sigma, np.random.default_rng(1), n_permutations=10)
        assert stat == pytest.approx(loop_mmd2(a[0], b[0], sigma), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_squared_distances_match_scipys_cdist(dtype):
    rng = np.random.default_rng(4)
    a, b = (rng.normal(size=(3, n, 5)).astype(dtype) for n in (7, 9))
    out = np.empty((3, 7, 9), dtype)
    assert squared_distances(a, b, out) is out
    for i in range(3):
        np.testing.assert_allclose(out[i], cdist(a[i], b[i], "sqeuclidean"), rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-5 if dtype == np.float32 else 1e-12)
        itself = squared_distances(a, a)[i]
        assert np.all(itself >= 0) and np.allclose(np.diag(itself), 0, atol=1e-5)


def test_mmd2_in_blocks_of_members_matches_the_double_loop_and_one_block_bit_for_bit(monkeypatch):
    """A GAN's evaluation: one real sample shared by every member (a broadcast), K generated ones.
    Blocks of one or two members give each member's double-loop value, and the same bits as one
    block of all five."""
    rng = np.random.default_rng(5)
    real = np.broadcast_to(rng.normal(size=(25, 2)), (5, 25, 2))
    fake = rng.normal(0.3, 1.1, size=(5, 18, 2))
    whole = mmd2(real, fake, 0.7)
    monkeypatch.setattr(two_sample, "BLOCK_VALUES", 2 * 18 * 18)
    blocked = mmd2(real, fake, 0.7)
    np.testing.assert_allclose(blocked, [loop_mmd2(real[i], fake[i], 0.7) for i in range(5)], rtol=1e-12, atol=1e-15)
    assert np.array_equal(blocked, whole)


def test_default_bandwidth_is_the_median_distance_between_real_samples_only():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2, 50, 2))
    np.testing.assert_allclose(real_bandwidth(a), [np.median(pdist(a[0])), np.median(pdist(a[1]))])
    for b in (rng.normal(size=(2, 50, 2)), 10.0 + rng.normal(size=(2, 50, 2))):
        np.testing.assert_allclose(mmd2(a, b), [loop_mmd2(a[i], b[i], real_bandwidth(a)[i]) for i in range(2)])


def test_mmd2_is_near_zero_for_one_distribution_and_symmetric():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 1, 200, 2))
    assert abs(mmd2(a, b)[0]) < 0.02 < mmd2(a, b + 1.0)[0]
    np.testing.assert_allclose(mmd2(a, b, bandwidth=1.0), mmd2(b, a, bandwidth=1.0))


@pytest.mark.parametrize("shift", [0.0, 0.8, 2.0])
def test_permutation_p_value_matches_scipys_exact_test(shift):
    """Seven against six points: SciPy enumerates all C(13, 7) = 1,716 relabellings; 20,000
    random ones estimate the same p-value within a few standard errors."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(7, 2)), rng.normal(size=(6, 2)) + shift
    # SciPy permutes one-dimensional samples: give it the points' row numbers in the pooled sample.
    pooled = np.concatenate([a, b])
    statistic = lambda i, j: loop_mmd2(pooled[i.astype(int)], pooled[j.astype(int)], 1.0)
    exact = stats.permutation_test((np.arange(7.0), np.arange(7.0, 13.0)), statistic, vectorized=False,
                                   permutation_type="independent", n_resamples=10**5,
                                   alternative="greater").pvalue
    stat, p = mmd_permutation_test(a, b, 1.0, np.random.default_rng(3), n_permutations=20_000)
    assert stat == pytest.approx(loop_mmd2(a, b, 1.0), rel=1e-12)
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / 20_000) + 1e-4


def test_permutation_p_value_floor_and_null_distribution():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(100, 2))
    # Far apart: no relabelling reaches the observed statistic, p = 1 / (1 + permutations),
    # well below 5 % at the default number of permutations.
    _, p = mmd_permutation_test(a, a + 3.0, 1.0, np.random.default_rng(0))
    assert p == 1 / (1 + N_PERMUTATIONS) < 0.05 / 50
    # The null hypothesis true: p is (about) uniform, so it rejects at 5 % about 5 % of the time.
    ps = [mmd_permutation_test(rng.normal(size=(40, 2)), rng.normal(size=(40, 2)), 1.0, rng, 199)[1]
          for _ in range(150)]
    assert 0.0 <= np.mean(np.array(ps) <= 0.05) <= 0.12
    assert 0.4 < np.mean(ps) < 0.6


def test_classifier_accuracy_is_scikit_learns_k_nearest_neighbours():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(3, 60, 3)), rng.normal(0.4, 1.0, size=(3, 50, 3))
    ours = c2st_accuracy(a, b, [np.random.default_rng(s) for s in range(3)])
    for i in range(3):
        x, y = np.concatenate([a[i], b[i]]), np.r_[np.zeros(60), np.ones(50)]
        order = np.random.default_rng(i).permutation(110)
        train, test = order[:55], order[55:]
        reference = KNeighborsClassifier(n_neighbors=knn_neighbours(55)).fit(x[train], y[train])
        assert ours[i] == pytest.approx(reference.score(x[test], y[test]), abs=1e-12)
    assert knn_neighbours(55) == 7 and knn_neighbours(512) == 22


def test_classifier_accuracy_is_a_half_for_one_distribution_and_one_when_disjoint():
    rng = np.random.default_rng(3)
    same = c2st_accuracy(rng.normal(size=(5, 300, 2)), rng.normal(size=(5, 300, 2)),
                         [np.random.default_rng(s) for s in range(5)])
    assert abs(np.mean(same) - 0.5) < 0.05
    apart = c2st_accuracy(rng.normal(size=(1, 300, 2)), rng.normal(size=(1, 300, 2)) + 4.0, [rng])
    assert apart[0] > 0.97
