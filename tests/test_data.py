"""The offline data sets: shapes, dtypes, ranges, splits, determinism and the ring's mode scoring."""
import random

import numpy as np
import pytest
from mnist1d.data import get_dataset_args, make_dataset
from sklearn.datasets import load_digits

from engine.data import DATASETS, load_dataset
from engine.data.digits import stratified_split
from engine.data.ring import mode_coverage, ring_centres
from engine.precision import FLOAT

SMALL = {  # parameters that keep every set quick to make
    "digits": {},
    "digits_rows": {},
    "mnist1d": {"num_samples": 300},
    "mnist1d_seq": {"num_samples": 300},
    "gaussian_ring": {"n_train": 400, "n_val": 100, "n_test": 100},
    "delayed_recall": {"n_train": 40, "n_val": 10, "n_test": 10},
    "mnist1d_subset": {"num_samples": 300, "n_train": 100},
    "rare_features": {"n_train": 100, "n_val": 50, "n_test": 50},
    "running_count": {"n_train": 40, "n_val": 10, "n_test": 10},
}
SPLITS = ("train", "val", "test")


def arrays(data):
    return [data.split(s)[i] for s in SPLITS for i in (0, 1)]


def test_every_data_set_has_small_parameters():
    assert set(SMALL) == set(DATASETS)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_common_contract(name):
    factory = DATASETS[name]
    data = factory.load(3, **SMALL[name])
    assert data.name == name and data.kind == factory.kind == data.info["kind"]
    for key in ("name", "kind", "shape", "n_classes", "x_range", "seed", "params", "n_train", "n_val", "n_test"):
        assert key in data.info, key
    assert data.info["seed"] == 3
    assert data.info["params"] == {**factory.params, **SMALL[name]}
    for split in SPLITS:
        x, y = data.split(split)
        assert x.dtype == FLOAT and np.all(np.isfinite(x))
        assert y.dtype == np.int64 and len(y) == len(x) == data.info[f"n_{split}"]
        assert not x.flags.writeable and not y.flags.writeable  # the cached copy cannot be corrupted
    assert data.x_train.shape[1:] == data.info["shape"]
    if data.info["x_range"] is not None:
        low, high = data.info["x_range"]
        assert all(low <= x.min() and x.max() <= high for x in (data.x_train, data.x_val, data.x_test))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_deterministic_in_the_seed(name):
    factory = DATASETS[name]
    first, second = (factory.make(5, **SMALL[name]) for _ in range(2))  # made twice, not cached
    for a, b in zip(arrays(first), arrays(second)):
        np.testing.assert_array_equal(a, b)
    other = factory.make(6, **SMALL[name])
    assert not all(np.array_equal(a, b) for a, b in zip(arrays(first), arrays(other)))


def test_cache_is_keyed_on_seed_and_filled_in_parameters():
    a = load_dataset("gaussian_ring", 1, n_train=50)
    assert load_dataset("gaussian_ring", 1, n_train=50, n_modes=8) is a
    assert DATASETS["gaussian_ring"].load(1, n_train=50) is a
    assert load_dataset("gaussian_ring", 2, n_train=50) is not a
    assert load_dataset("gaussian_ring", n_train=50).info["seed"] == DATASETS["gaussian_ring"].default_seed
    with pytest.raises(TypeError):
        load_dataset("gaussian_ring", 1, n_trian=50)
    with pytest.raises(KeyError, match="unknown data set"):
        load_dataset("cifar10")


# --- digits -------------------------------------------------------------------------------------


def test_digits_split_is_a_stratified_partition():
    data = load_dataset("digits", 0)
    bunch = load_digits()
    assert data.x_train.shape[1:] == (1, 8, 8) and data.info["n_classes"] == 10
    assert data.info["n_train"] + data.info["n_val"] + data.info["n_test"] == 1797
    assert abs(data.info["n_train"] - 0.6 * 1797) <= 10 and abs(data.info["n_test"] - 0.2 * 1797) <= 10
    assert data.x_train.max() == 1.0 and data.x_train.min() == 0.0

    # A partition of the real images: every image once, with its own label.
    rows = np.concatenate([data.x_train, data.x_val, data.x_test]).reshape(1797, 64)
    labels = np.concatenate([data.y_train, data.y_val, data.y_test])
    original = bunch.data / 16.0
    order_ours, order_theirs = np.lexsort(rows.T), np.lexsort(original.T)
    np.testing.assert_array_equal(rows[order_ours], original[order_theirs])
    np.testing.assert_array_equal(np.sort(labels), np.sort(bunch.target))

    # Stratified: each split holds every class in the proportions of the whole set.
    totals = np.bincount(bunch.target)
    for split, fraction in zip(SPLITS, (0.6, 0.2, 0.2)):
        counts = np.bincount(data.split(split)[1], minlength=10)
        assert np.all(np.abs(counts - fraction * totals) <= 1), split


def test_stratified_split_edge_cases():
    y = np.repeat(np.arange(3), [10, 20, 5])
    parts = stratified_split(y, (0.5, 0.5), np.random.default_rng(0))
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(35))
    with pytest.raises(ValueError):
        stratified_split(y, (0.5, 0.6), np.random.default_rng(0))


def test_digits_rows_view():
    images, rows = load_dataset("digits", 0), load_dataset("digits_rows", 0)
    assert rows.kind == "sequence" and rows.info["shape"] == (8, 8)
    np.testing.assert_array_equal(rows.x_train[:, 2], images.x_train[:, 0, 2])  # step t = row t
    np.testing.assert_array_equal(rows.y_test, images.y_test)


# --- MNIST-1D ------------------------------------------------------------------------------------


def test_mnist1d_custom_size_matches_the_package():
    data = load_dataset("mnist1d", 42, num_samples=300, val_fraction=0.25)
    assert (data.info["n_train"], data.info["n_val"], data.info["n_test"]) == (180, 60, 60)
    assert data.x_train.shape == (180, 1, 40) and data.info["n_classes"] == 10
    args = get_dataset_args()
    args.num_samples = 300
    reference = make_dataset(args)  # mnist1d's own generator, same seed 42
    # the package's values, rounded once to the models' FLOAT
    np.testing.assert_array_equal(np.concatenate([data.x_train, data.x_val])[:, 0], reference["x"].astype(FLOAT))
    np.testing.assert_array_equal(np.concatenate([data.y_train, data.y_val]), reference["y"])
    np.testing.assert_array_equal(data.x_test[:, 0], reference["x_test"].astype(FLOAT))
    # As mnist1d leaves it: standardised over all the generated signals.
    everything = np.concatenate([data.x_train, data.x_val, data.x_test]).astype(np.float64)
    assert abs(everything.mean()) < 1e-6 and abs(everything.std() - 1) < 1e-6   # up to FLOAT's rounding


def test_mnist1d_default_sizes_are_the_benchmark():
    data = load_dataset("mnist1d")
    assert data.info["seed"] == 42
    assert (data.info["n_train"], data.info["n_val"], data.info["n_test"]) == (3200, 800, 1000)
    assert set(np.unique(data.y_train)) == set(range(10))


def test_mnist1d_leaves_global_generators_alone():
    np.random.seed(1234)
    random.seed(1234)
    expected_numpy, expected_python = np.random.get_state()[1].copy(), random.getstate()
    DATASETS["mnist1d"].make(7, num_samples=20)
    np.testing.assert_array_equal(np.random.get_state()[1], expected_numpy)
    assert random.getstate() == expected_python
    with pytest.raises(ValueError, match="multiple of 10"):
        DATASETS["mnist1d"].make(7, num_samples=25)


def test_mnist1d_sequence_view():
    signal = load_dataset("mnist1d", 42, num_samples=300)
    sequence = load_dataset("mnist1d_seq", 42, num_samples=300)
    assert sequence.kind == "sequence" and sequence.x_val.shape == (48, 40, 1)
    np.testing.assert_array_equal(sequence.x_val[:, :, 0], signal.x_val[:, 0, :])


# --- Gaussian ring ------------------------------------------------------------------------------


def test_ring_samples_and_centres():
    data = load_dataset("gaussian_ring", 0, n_modes=6, radius=3.0, std=0.05, n_train=3000)
    centres = data.info["centres"]
    assert data.x_train.shape == (3000, 2) and data.kind == "points"
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 3.0)
    np.testing.assert_allclose(centres[1], [3 * np.cos(np.pi / 3), 3 * np.sin(np.pi / 3)])
    offsets = data.x_train - centres[data.y_train]
    assert abs(offsets.std() - 0.05) < 0.005 and np.abs(offsets.mean(axis=0)).max() < 0.005
    counts = np.bincount(data.y_train, minlength=6)
    assert counts.min() > 400  # equal weights: about 500 each
    scores = mode_coverage(data.x_train, centres, 0.05)
    assert scores["modes"] == 6 and scores["high_quality"] > 0.98  # 3σ in 2-D holds 98.9 %


def test_mode_coverage_on_exact_samples():
    centres = ring_centres(8, 2.0)
    std = 0.02
    # 94 samples: modes 0–5 hit exactly 10 times each, mode 6 once (1/94 ≥ 1 %: covered), one
    # point 2σ off mode 7 (high quality, covers it too), 32 points at the ring's centre, 2 away
    # from every mode.
    hits = np.concatenate([np.repeat(centres[:6], 10, axis=0), centres[6:7]])
    near = centres[7:8] + [[2 * std, 0.0]]
    far = np.zeros((32, 2))
    samples = np.concatenate([hits, near, far])
    scores = mode_coverage(samples, centres, std)
    assert scores["modes"] == 8
    np.testing.assert_allclose(scores["high_quality"], 62 / 94)
    # A mode needs at least 1 % of ALL samples: with 200 samples one hit is 0.5 % and does not count.
    padded = np.concatenate([samples, np.zeros((106, 2))])
    assert mode_coverage(padded, centres, std)["modes"] == 6
    # Just outside 3σ is not high quality.
    assert mode_coverage(centres[:1] + [[3.01 * std, 0.0]], centres, std)["high_quality"] == 0.0
    # Leading axes are scored separately (one score per GAN member).
    stacked = mode_coverage(np.stack([samples, samples[::-1]]), centres, std)
    np.testing.assert_array_equal(stacked["modes"], [8, 8])


# --- delayed recall -----------------------------------------------------------------------------


def test_delayed_recall_targets():
    data = load_dataset("delayed_recall", 0, seq_len=12, delay=4, n_train=50, n_val=5, n_test=7, test_seq_len=30)
    assert data.kind == "memory" and data.info["n_classes"] == 2 and data.info["delay"] == 4
    assert data.x_train.shape == (50, 12, 1) and data.y_train.shape == (50, 12)
    assert data.x_test.shape == (7, 30, 1) and data.y_test.shape == (7, 30)
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        assert set(np.unique(x)) == {0.0, 1.0}
        assert np.all(y[:, :4] == -1)
        np.testing.assert_array_equal(y[:, 4:], x[:, :-4, 0])
    # The previous target does not hold the bit now asked for: y⁽ᵗ⁻¹⁾ and y⁽ᵗ⁾ agree about half
    # the time, which is why an output→hidden recurrence alone cannot solve the task.
    agree = np.mean(data.y_train[:, 5:] == data.y_train[:, 4:-1])
    assert 0.4 < agree < 0.6
    with pytest.raises(ValueError):
        DATASETS["delayed_recall"].make(0, seq_len=5, delay=5)


# --- running count ------------------------------------------------------------------------------


def test_running_count_by_hand():
    from engine.data.counting import running_count

    bits = np.array([[1, 0, 1, 1, 0, 1], [0, 0, 0, 1, 1, 1]])
    np.testing.assert_array_equal(running_count(bits, 2), [[1, 1, 0, 1, 1, 0], [0, 0, 0, 1, 0, 1]])
    np.testing.assert_array_equal(running_count(bits, 3), [[1, 1, 2, 0, 0, 1], [0, 0, 0, 1, 2, 0]])


def test_running_parity_targets_and_longer_splits():
    small = dict(seq_len=10, n_train=60, n_val=5, n_test=7)
    plain = load_dataset("running_count", 1, **small)
    longer = load_dataset("running_count", 1, **small, extra_seq_lens=[20, 40])
    for a, b in zip(arrays(plain), arrays(longer)):   # the usual splits do not depend on the extras
        np.testing.assert_array_equal(a, b)
    assert plain.extra == {} and set(longer.extra) == {"len20", "len40"}
    assert plain.kind == "memory" and plain.info["n_classes"] == 2
    splits = [plain.split(s) for s in SPLITS] + list(longer.extra.values())
    for x, y in splits:
        assert set(np.unique(x)) <= {0.0, 1.0} and x.shape == y.shape + (1,)
        # The parity of every prefix, computed by an independent loop.
        for row, target in zip(x[:, :, 0].astype(int), y):
            parity, expected = 0, []
            for bit in row:
                parity ^= bit
                expected.append(parity)
            np.testing.assert_array_equal(target, expected)
    # Flipping the first bit flips every later answer: no window of recent inputs suffices.
    from engine.data.counting import running_count

    bits = longer.extra["len40"][0][:, :, 0].astype(int)
    flipped = bits.copy()
    flipped[:, 0] ^= 1
    assert np.all(running_count(flipped, 2) != running_count(bits, 2))
    # With independent fair bits each answer is a fair coin, whatever the step.
    assert 0.4 < plain.y_train.mean() < 0.6


@pytest.mark.parametrize("bad", [dict(seq_len=0), dict(modulus=1), dict(extra_seq_lens=[20, 20]),
                                 dict(extra_seq_lens=[0])])
def test_running_count_checks_its_parameters(bad):
    with pytest.raises(ValueError):
        DATASETS["running_count"].make(0, **bad)
