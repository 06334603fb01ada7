"""Two-sample statistics: is a sample of generated examples told apart from a sample of real ones?

All functions take samples with a leading member axis, (K, N, ...) (K independent comparisons at
once, as a GAN's members train together), except the permutation test, which takes one member.

* ``mmd2``: the unbiased squared maximum mean discrepancy (Gretton et al. 2012, eq. 3) with a
  Gaussian kernel k(u, v) = exp(−‖u − v‖² / 2σ²);
* ``mmd_permutation_test``: its p-value under the null hypothesis "one distribution", by
  relabelling the pooled sample (Gretton et al. 2012, §5), all permutations in one matrix product;
* ``c2st_accuracy``: a classifier two-sample test (Lopez-Paz & Oquab 2017) with a k-nearest-
  neighbours classifier: its held-out accuracy is ½ when the samples cannot be told apart.
"""
from __future__ import annotations

import numpy as np

N_PERMUTATIONS = 2000   # the smallest p-value is 1/2001 ≈ 0.0005, a hundredth of the 5 % threshold
PERMUTATION_CHUNK = 500  # permutations per matrix product: bounds the memory at (N + M) × 500
BLOCK_VALUES = 1 << 18   # kernel values per block of members in mmd2: 1 MB in float32, a core's L2 cache


def squared_distances(a, b, out=None):
    """‖a_i − b_j‖² = ‖a_i‖² + ‖b_j‖² − 2 a_i·b_j member by member: (K, N, D), (K, M, D) -> (K, N, M),
    into ``out`` if given.

    One matrix product [a, ‖a‖², 1] · [−2b, 1, ‖b‖²]ᵀ adds the three terms inside the BLAS kernel,
    in the order that three passes over the (K, N, M) array added them (a pass costs as much as
    the product at D = 2); the clamp at 0 removes rounding's negative distances."""
    a_terms = np.concatenate([a, np.sum(a**2, -1)[..., None], np.ones(a.shape[:2] + (1,), a.dtype)], -1)
    b_terms = np.concatenate([-2.0 * b, np.ones(b.shape[:2] + (1,), b.dtype), np.sum(b**2, -1)[..., None]], -1)
    out = np.matmul(a_terms, np.swapaxes(b_terms, 1, 2), out=out)
    return np.maximum(out, 0.0, out=out)


def _flat(x):
    x = np.asarray(x)
    return np.reshape(x, x.shape[:2] + (-1,))


def _kernel_sums(distance2, sigma):
    """Σ_ij exp(−‖a_i − b_j‖² / 2σ²) per member from the squared distances (K, N, M), and the
    diagonal's sum (for a against itself).  Overwrites `distance2` with the kernel."""
    kernel = distance2
    kernel *= (-0.5 / sigma**2)[:, None, None]
    np.exp(kernel, out=kernel)
    return np.sum(kernel, axis=(1, 2)), np.trace(kernel, axis1=1, axis2=2)


def _blocked_kernel_sums(a, b, sigma):
    """``_kernel_sums(squared_distances(a, b), sigma)`` a few members at a time, each block's
    kernel about BLOCK_VALUES values: the whole (K, N, M) array (47 MB at 45 members of 512
    points) falls out of the cache, and the passes over it were most of a GAN's evaluation.  The
    same operations on each element and each member's own sums: the same bits."""
    step = max(1, BLOCK_VALUES // (a.shape[1] * b.shape[1]))
    # One buffer for every block: a fresh megabyte per block cost as much as its arithmetic.
    buffer = np.empty((min(step, len(b)), a.shape[1], b.shape[1]), np.result_type(a, b))
    blocks = [slice(start, start + step) for start in range(0, len(b), step)]
    sums = [_kernel_sums(squared_distances(a[block], b[block], buffer[:len(b[block])]), sigma[block])
            for block in blocks]
    return tuple(np.concatenate(parts) for parts in zip(*sums))


def _median_distance(distance2):
    """The median distance between distinct samples, per member, from their squared distances."""
    off_diagonal = ~np.eye(distance2.shape[1], dtype=bool)
    return np.sqrt(np.median(distance2[:, off_diagonal], axis=1))


def real_bandwidth(real):
    """σ = the median distance between distinct REAL samples, per member: (K, N, ...) -> (K,).

    The real samples of an evaluation (the validation or test split) are the same whatever the
    generator does, so this bandwidth is fixed for a data set and split: MMD values are comparable
    along training and across runs (unlike the median over real and generated samples pooled)."""
    real = _flat(real)
    return _median_distance(squared_distances(real, real))


def mmd2(a, b, bandwidth=None):
    """Unbiased MMD² between a (K, N, ...) real and b (K, M, ...) generated, member by member -> (K,):

        MMD²_u = Σ_{i≠j} k(a_i, a_j) / n(n−1) + Σ_{i≠j} k(b_i, b_j) / m(m−1) − 2 Σ_ij k(a_i, b_j) / nm.

    ``bandwidth`` σ is a number, or None for ``real_bandwidth(a)``, so that σ does not move with
    the generator.  The estimate is 0 on average when both samples come from one distribution,
    and can then be slightly negative."""
    a, b = _flat(a), _flat(b)
    # Members of a group usually share one real sample (a broadcast over the member axis): its
    # kernel with itself is then computed once, not once per member.
    a_own = a[:1] if len(a) > 1 and a.strides[0] == 0 else a
    real = squared_distances(a_own, a_own)   # also what the median bandwidth is read from
    sigma = _median_distance(real) if bandwidth is None else np.full(len(a_own), float(bandwidth))
    n, m = a.shape[1], b.shape[1]
    within_a = np.subtract(*_kernel_sums(real, sigma)) / (n * (n - 1))
    sigma = np.broadcast_to(sigma, (len(a),))
    within_b = np.subtract(*_blocked_kernel_sums(b, b, sigma)) / (m * (m - 1))
    return within_a + within_b - 2.0 * _blocked_kernel_sums(a, b, sigma)[0] / (n * m)


def _relabelled_mmd2(kernel, row_sums, labels, n, m):
    """MMD²_u for each column of ``labels`` (N + M, P), 1 marking the n examples called "real",
    from the pooled kernel with a zero diagonal and its row sums r = K1.  With r and T = 1ᵀK1
    fixed, one product K·l per relabelling gives all three sums: s_aa = lᵀKl, s_ab = lᵀr − s_aa,
    s_bb = T − 2lᵀr + s_aa."""
    total = np.sum(row_sums)
    s_aa = np.sum(labels * (kernel @ labels), axis=0)
    l_r = row_sums @ labels
    s_ab, s_bb = l_r - s_aa, total - 2.0 * l_r + s_aa
    return s_aa / (n * (n - 1)) + s_bb / (m * (m - 1)) - 2.0 * s_ab / (n * m)


def _pooled_kernel(pooled, bandwidth):
    """k(x_i, x_j) = exp(−‖x_i − x_j‖² / 2σ²) over the pooled sample (N + M, D), with a zero
    diagonal (the unbiased estimate leaves out k(x_i, x_i)); in place on one array."""
    kernel = squared_distances(pooled[None], pooled[None])[0]
    np.negative(kernel, out=kernel)
    kernel /= 2.0 * float(bandwidth) ** 2
    np.exp(kernel, out=kernel)
    np.fill_diagonal(kernel, 0.0)
    return kernel


def mmd_permutation_test(a, b, bandwidth, rng, n_permutations=N_PERMUTATIONS):
    """The MMD two-sample test of one member: a (N, ...) real, b (M, ...) generated, bandwidth σ
    fixed.  Returns (MMD², p) with p = (1 + #{relabellings with MMD² ≥ observed}) / (1 +
    n_permutations): under the null hypothesis (one distribution) a random relabelling of the
    pooled sample leaves the statistic's distribution unchanged (Gretton et al. 2012, §5)."""
    n, m = len(a), len(b)
    pooled = np.reshape(np.concatenate([np.asarray(a, float), np.asarray(b, float)]), (n + m, -1))
    kernel = _pooled_kernel(pooled, bandwidth)
    observed = np.zeros((n + m, 1))
    observed[:n] = 1.0
    stat = float(_relabelled_mmd2(kernel, np.sum(kernel, axis=1), observed, n, m)[0])
    # The relabellings only rank against the observed labelling, so both are computed alike in
    # float32: sgemm, at twice dgemm's rate, is most of a GAN run's final tests.  A statistic
    # within float32's rounding of the observed one is a tie either way; that rounding is of a
    # small difference of large sums, so near the null it moves p by about 1/2001 against
    # float64 (3 of 12 draws of ring samples checked), and so does any other order of the sums.
    kernel32 = kernel.astype(np.float32)
    row_sums32 = np.sum(kernel32, axis=1)
    threshold = _relabelled_mmd2(kernel32, row_sums32, observed.astype(np.float32), n, m)[0]
    exceed = 0
    for start in range(0, n_permutations, PERMUTATION_CHUNK):
        count = min(PERMUTATION_CHUNK, n_permutations - start)
        labels = rng.permuted(np.tile(observed[:, 0], (count, 1)), axis=1)   # each row a uniform relabelling
        exceed += int(np.sum(_relabelled_mmd2(kernel32, row_sums32, labels.T.astype(np.float32), n, m) >= threshold))
    return stat, (1 + exceed) / (1 + n_permutations)


def knn_neighbours(n_train):
    """k = ⌊√n_train⌋, the classifier's number of neighbours."""
    return int(np.sqrt(n_train))


def c2st_accuracy(a, b, rngs):
    """Classifier two-sample test, member by member: a (K, N, ...) real (label 0) and b (K, M, ...)
    generated (label 1) are pooled; a k-nearest-neighbours classifier (Euclidean, k = ⌊√n_train⌋,
    a tie of votes going to label 0, as scikit-learn's) fit on a random half predicts the other
    half.  Returns its accuracy (K,): ½ when the samples cannot be told apart, 1 when disjoint.
    ``rngs``: one generator per member, which draws its split."""
    a, b = _flat(a), _flat(b)
    x = np.concatenate([a, b], axis=1)
    y = np.concatenate([np.zeros(a.shape[1]), np.ones(b.shape[1])])
    half = x.shape[1] // 2
    order = np.stack([rng.permutation(x.shape[1]) for rng in rngs])
    train, test = order[:, :half], order[:, half:]
    x_train = np.take_along_axis(x, train[..., None], axis=1)
    x_test = np.take_along_axis(x, test[..., None], axis=1)
    k = knn_neighbours(half)
    nearest = np.argpartition(squared_distances(x_test, x_train), k - 1, axis=2)[..., :k]
    votes = np.sum(y[np.take_along_axis(train[:, None, :], nearest, axis=2)], axis=2)
    predicted = (votes > k / 2).astype(float)
    return np.mean(predicted == y[test], axis=1)
