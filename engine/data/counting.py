"""Running count: a memory task whose answer at every step depends on the whole sequence so far.

Inputs are random bits x⁽¹⁾, …, x⁽τ⁾ ∈ {0, 1}; the target at step t is the number of ones seen so
far, modulo k:

    y⁽ᵗ⁾ = (x⁽¹⁾ + … + x⁽ᵗ⁾) mod k        (k = 2: the running parity)

Flipping any one earlier bit changes every later answer, so no window of recent inputs suffices
(unlike delayed recall, engine/data/sequences.py, whose answer is the bit d steps back): a
recurrence must carry the count in its state, step after step.  Trained at one length τ, the
task is well defined at any length, so evaluating on longer sequences tests whether the learnt
state update keeps working beyond the steps seen in training.

``extra_seq_lens`` adds test splits named ``len<L>`` (n_test sequences of length L each), drawn
after train, validation and test from the same generator, so those three are the same with or
without them; the trainer reports them as ``test_len<L>_<metric>`` (Dataset.extra).
"""
import numpy as np

from engine.precision import FLOAT

from .base import DatasetFactory, make_dataset


def running_count(bits: np.ndarray, modulus: int) -> np.ndarray:
    """y⁽ᵗ⁾ = (x⁽¹⁾ + … + x⁽ᵗ⁾) mod k for bits (n, τ): (n, τ) integers in 0, …, k − 1."""
    return np.cumsum(bits, axis=1) % modulus


def counting_bits(rng, n: int, seq_len: int, modulus: int):
    """(x, y): n random bit sequences of length seq_len, (n, τ, 1), and their running counts mod k."""
    bits = rng.integers(0, 2, size=(n, seq_len))
    return bits[:, :, None].astype(FLOAT), running_count(bits, modulus)


def make_running_count(seed, *, seq_len=20, modulus=2, n_train=2000, n_val=500, n_test=500, extra_seq_lens=()):
    if seq_len < 1 or modulus < 2:
        raise ValueError(f"need seq_len ≥ 1 and modulus ≥ 2, got seq_len={seq_len}, modulus={modulus}")
    extra_seq_lens = tuple(int(n) for n in extra_seq_lens)
    if any(n < 1 for n in extra_seq_lens) or len(set(extra_seq_lens)) != len(extra_seq_lens):
        raise ValueError(f"extra_seq_lens must be distinct positive lengths, got {extra_seq_lens}")
    rng = np.random.default_rng(seed)
    splits = {name: counting_bits(rng, n, seq_len, modulus)
              for name, n in (("train", n_train), ("val", n_val), ("test", n_test))}
    # Drawn last, so that the splits above do not depend on them.
    splits.update({f"len{n}": counting_bits(rng, n_test, n, modulus) for n in extra_seq_lens})
    return make_dataset("running_count", "memory", splits,
                        {"n_classes": modulus, "x_range": (0.0, 1.0), "modulus": modulus})


RUNNING_COUNT = DatasetFactory(
    "running_count", "memory", make_running_count, 0,
    "the number of ones seen so far, mod k, at every step (k = 2: running parity)",
)
