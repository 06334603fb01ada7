"""Training sets of chosen sizes N cut from one generated data set.

* ``mnist1d_subset``: the first ``n_train`` signals of MNIST-1D's training split (which mnist1d
  has already shuffled), with that set's validation and test splits unchanged.  Generating
  MNIST-1D costs about 0.25 ms of CPU per signal here (≈ 2.5 s for 10,000), so the sizes are cut
  from one set generated once per process (``num_samples`` of them, cached by
  engine/data/mnist1d.py) instead of generating a set per size: the single-example claim's
  N = 400, 1,600 and 6,400 are all cut from one set of 10,000 (6,400 training signals).
"""
from .base import DatasetFactory, make_dataset
from .mnist1d import MNIST1D


def make_mnist1d_subset(seed, *, n_train=3200, num_samples=5000, val_fraction=0.2):
    data = MNIST1D.load(seed, num_samples=num_samples, val_fraction=val_fraction)
    available = data.x_train.shape[0]
    if not 1 <= n_train <= available:
        raise ValueError(f"n_train={n_train} must be between 1 and the {available} training signals of "
                         f"MNIST-1D with num_samples={num_samples}")
    splits = {"train": (data.x_train[:n_train], data.y_train[:n_train]),
              "val": (data.x_val, data.y_val), "test": (data.x_test, data.y_test)}
    return make_dataset("mnist1d_subset", "signal", splits, {"n_classes": 10, "x_range": None})


MNIST1D_SUBSET = DatasetFactory("mnist1d_subset", "signal", make_mnist1d_subset, 42,
                                "the first n_train MNIST-1D training signals (sizes N from one generated set)")
