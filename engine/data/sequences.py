"""Data as sequences x⁽¹⁾, …, x⁽τ⁾ for the recurrent networks.

* ``digits_rows``: each 8×8 digit read row by row, τ = 8 steps of 8 pixels: (N, 8, 8).
* ``mnist1d_seq``: each MNIST-1D signal read one value per step, τ = 40: (N, 40, 1).
  Both share seed, parameters, labels and cache with the image/signal sets they view.
* ``delayed_recall``: a memory task with a target at every step. Inputs are random bits; the
  target at step t is the bit seen ``delay`` steps earlier, y⁽ᵗ⁾ = x⁽ᵗ⁻ᵈᵉˡᵃʸ⁾ (no target, −1, for the
  first ``delay`` steps). The previous target y⁽ᵗ⁻¹⁾ = x⁽ᵗ⁻¹⁻ᵈᵉˡᵃʸ⁾ does not contain x⁽ᵗ⁻ᵈᵉˡᵃʸ⁾, so
  an RNN whose only recurrence is output→hidden (pattern 2) cannot do better than chance, while
  a hidden→hidden recurrence (pattern 1) can hold the last ``delay`` bits in its state.
  ``test_seq_len`` makes the test sequences longer than the training ones, to evaluate the same
  parameters on sequences never seen at that length. ``extra_seq_lens`` adds further test
  splits named ``len<L>`` (n_test sequences of length L each), drawn after the three usual
  splits from the same generator, so train/val/test are the same with or without them; the
  trainer reports them as ``test_len<L>_<metric>`` (Dataset.extra).
"""
import numpy as np

from engine.precision import FLOAT

from .base import DatasetFactory, make_dataset, view
from .digits import DIGITS
from .mnist1d import MNIST1D

DIGITS_ROWS = view(DIGITS, "digits_rows", "sequence", lambda x: x[:, 0], "digits read row by row: 8 steps × 8 pixels")
MNIST1D_SEQ = view(MNIST1D, "mnist1d_seq", "sequence", lambda x: x.transpose(0, 2, 1), "MNIST-1D as 40 steps × 1 value")


def delayed_bits(rng, n, seq_len, delay):
    bits = rng.integers(0, 2, size=(n, seq_len))
    targets = np.full((n, seq_len), -1)
    targets[:, delay:] = bits[:, : seq_len - delay]
    return bits[:, :, None].astype(FLOAT), targets


def make_delayed_recall(seed, *, seq_len=20, delay=3, n_train=2000, n_val=500, n_test=500, test_seq_len=None,
                        extra_seq_lens=()):
    if not 1 <= delay < seq_len:
        raise ValueError(f"need 1 ≤ delay < seq_len, got delay={delay}, seq_len={seq_len}")
    extra_seq_lens = tuple(int(n) for n in extra_seq_lens)
    if any(n <= delay for n in extra_seq_lens) or len(set(extra_seq_lens)) != len(extra_seq_lens):
        raise ValueError(f"extra_seq_lens must be distinct lengths > delay={delay}, got {extra_seq_lens}")
    rng = np.random.default_rng(seed)
    test_len = seq_len if test_seq_len is None else test_seq_len
    splits = {
        "train": delayed_bits(rng, n_train, seq_len, delay),
        "val": delayed_bits(rng, n_val, seq_len, delay),
        "test": delayed_bits(rng, n_test, test_len, delay),
    }
    # Drawn last, so that the splits above do not depend on them.
    splits.update({f"len{n}": delayed_bits(rng, n_test, n, delay) for n in extra_seq_lens})
    info = {"n_classes": 2, "x_range": (0.0, 1.0), "delay": delay, "test_seq_len": test_len}
    return make_dataset("delayed_recall", "memory", splits, info)


DELAYED_RECALL = DatasetFactory(
    "delayed_recall", "memory", make_delayed_recall, 0, "recall the bit seen `delay` steps ago, at every step"
)
