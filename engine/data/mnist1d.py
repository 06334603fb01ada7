"""MNIST-1D (Greydanus 2020): ten 1-D digit templates, padded, sheared, translated, noised.

Generated in process with ``mnist1d.data.make_dataset`` (never ``get_dataset``, which downloads).
``num_samples`` is the TOTAL count, as in mnist1d: it makes ``num_samples // 10`` per class and
keeps its first 80 % as train (``train_split`` 0.8), the rest as test. The defaults reproduce the
benchmark: seed 42, 5,000 signals → 4,000 train / 1,000 test. The last ``val_fraction`` of that
train part (already shuffled by mnist1d) becomes the validation split: 3,200 / 800 / 1,000.

Values are as mnist1d leaves them: standardised to mean 0 and standard deviation 1 over all
``num_samples`` signals (train and test together, mnist1d's choice), so the scale moves slightly
with ``num_samples``. x is (N, 1, 40), one channel, for the 1-D CNN.

``permute_seed`` (default None: positions untouched) shuffles the 40 positions of every signal
of every split by ONE fixed permutation, ``np.random.default_rng(permute_seed).permutation(40)``:
the control of the MNIST-1D paper (Greydanus 2020, "shuffled"), where neighbouring positions are
no longer neighbours, so a convolution's locality prior no longer matches the data while an MLP,
blind to the order of its inputs, loses nothing.
"""
import random
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from .base import DatasetFactory, make_dataset


@contextmanager
def _global_rng_untouched():
    """mnist1d seeds and draws from the global NumPy and ``random`` generators; give them back as
    they were, so that generating data leaves no trace on the rest of the process."""
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)


@lru_cache(maxsize=4)
def _generated(seed, num_samples):
    """mnist1d's signals for (seed, num_samples), generated once per process (≈ 1 s for 5,000):
    the validation split and the permuted control are cut from the same signals."""
    # Imported here: the mnist1d package pulls in matplotlib (≈ 0.5 s), which commands that only
    # read the store never need.
    from mnist1d.data import get_dataset_args, make_dataset as generate

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    with _global_rng_untouched():
        data = generate(args)
    for array in data.values():
        if isinstance(array, np.ndarray):
            array.setflags(write=False)
    return data


def make_mnist1d(seed, *, num_samples=5000, val_fraction=0.2, permute_seed=None):
    if num_samples % 10 or num_samples < 10:
        raise ValueError(f"num_samples={num_samples} must be a positive multiple of 10 (one share per class)")
    data = _generated(seed, num_samples)
    n_train = len(data["y"]) - int(round(val_fraction * len(data["y"])))
    splits = {
        "train": (data["x"][:n_train], data["y"][:n_train]),
        "val": (data["x"][n_train:], data["y"][n_train:]),
        "test": (data["x_test"], data["y_test"]),
    }
    info = {"n_classes": 10, "x_range": None}
    if permute_seed is not None:
        permutation = np.random.default_rng(permute_seed).permutation(data["x"].shape[1])
        splits = {name: (x[:, permutation], y) for name, (x, y) in splits.items()}
        info["permutation"] = permutation.tolist()
    splits = {name: (x[:, None, :], y) for name, (x, y) in splits.items()}
    return make_dataset("mnist1d", "signal", splits, info)


MNIST1D = DatasetFactory("mnist1d", "signal", make_mnist1d, 42, "MNIST-1D signals of length 40, generated offline")
