"""conv_check: the project's convolution (engine/models/conv.py) against SciPy's reference.

The lecture defines s(t) = (x ∗ w)(t) = Σ_a x(a) w(t − a), a true convolution (kernel flipped);
CNN layers, and ``engine.models.conv.conv``, compute the cross-correlation
s(t) = Σ_a x(t·s + a) w(a) over the zero-padded input, at stride s.  For every case of a grid
(1-D and 2-D, kernel sizes, strides, paddings) and for random inputs, kernels and biases drawn
from the run's seed, the procedure compares the project's output with

* ``scipy.signal.correlate(x_padded, w, mode='valid')`` summed over input channels, every s-th
  value kept, plus the bias (the same operation, computed independently), and
* ``scipy.signal.convolve(x_padded, flip(w), mode='valid')``: the lecture's convolution with the
  flipped kernel, which is the same number.

It records the largest absolute difference of each case and whether the output size equals
⌊(n + 2p − k)/s⌋ + 1 (and the size of SciPy's result).  The seeds of one group are the member
axis: their inputs go through ``conv`` in one call, member k only reading its own arrays.

It also stores one worked example for the figure: one kernel sliding with a stride over one real
input (a test signal of the study's data set: an MNIST-1D signal, or the middle row of a digit).
No optimizer, nothing trained.
"""
from __future__ import annotations

import itertools

import numpy as np

from engine.data import DATASETS
from engine.models.conv import conv, conv_output_size
from engine.procedures import Procedure


def signature(*, strides=(1, 2, 3), paddings=(0, 1, 2), kernels=(1, 3, 5), length_1d=40, size_2d=8,
              channels=2, out_channels=3, batch=2,
              example=0, demo_kernel=(-1.0, -1.0, 0.0, 1.0, 1.0), demo_stride=2, demo_padding=1):
    """``strides``, ``paddings``, ``kernels``: the grid of cases, each in 1-D (input length
    ``length_1d``) and in 2-D (``size_2d`` × ``size_2d``, square kernels); ``channels`` in,
    ``out_channels`` out, ``batch`` inputs per case and seed.  ``example``: index of the test
    example of the data set slid over in the figure with ``demo_kernel`` at ``demo_stride`` and
    ``demo_padding``."""


def reference(x, w, b, stride, padding, flip=False):
    """SciPy's answer for one member: x (B, C, *n), w (O, C, *k), b (O,) → (B, O, *out)."""
    from scipy.signal import convolve, correlate  # here: commands that only read the store skip scipy.signal

    d = w.ndim - 2
    xp = np.pad(x, [(0, 0), (0, 0)] + [(padding, padding)] * d)
    out = np.empty((x.shape[0], w.shape[0]), dtype=object)
    for n, o in itertools.product(range(x.shape[0]), range(w.shape[0])):
        if flip:
            # convolve flips the kernel; flipping it first gives back the cross-correlation.
            maps = [convolve(xp[n, c], np.flip(w[o, c]), mode="valid") for c in range(x.shape[1])]
        else:
            maps = [correlate(xp[n, c], w[o, c], mode="valid") for c in range(x.shape[1])]
        out[n, o] = sum(maps)[(slice(None, None, stride),) * d] + b[o]
    return np.array(out.tolist(), dtype=float)


def cases(params: dict) -> list[tuple[int, int, int, int]]:
    """(dimension, kernel, stride, padding) for every case whose output is not empty."""
    found = []
    for d, n in ((1, params["length_1d"]), (2, params["size_2d"])):
        for k, s, p in itertools.product(params["kernels"], params["strides"], params["paddings"]):
            if conv_output_size(n, k, s, p) >= 1:
                found.append((d, int(k), int(s), int(p)))
    return found


def demo(spec: dict, params: dict) -> dict:
    """One kernel sliding over one real input: input, padded input, windows' starts, output."""
    from scipy.signal import correlate

    data = DATASETS[spec["dataset"]["kind"]].load(None, **spec["dataset"]["params"])
    x = np.asarray(data.x_test[params["example"]], dtype=float)
    signal = x[0] if x.ndim == 2 else x[0, x.shape[1] // 2]   # one channel; a digit's middle row
    w = np.asarray(params["demo_kernel"], dtype=float)
    s, p = int(params["demo_stride"]), int(params["demo_padding"])
    y = conv(signal[None, None, None, :], w[None, None, None, :], np.zeros((1, 1)), s, p)[0, 0, 0]
    return {"signal": signal.tolist(), "kernel": w.tolist(), "stride": s, "padding": p,
            "label": None if data.y_test is None else int(data.y_test[params["example"]]),
            "window_starts": [i * s - p for i in range(len(y))],   # in unpadded coordinates
            "output": y.tolist(),
            "reference": correlate(np.pad(signal, p), w, mode="valid")[::s].tolist()}


def run(specs: list[dict]) -> list[dict]:
    params = specs[0]["procedure"]["params"]
    rngs = [np.random.default_rng([spec["seed"], 0]) for spec in specs]
    K, B, C, O = len(specs), params["batch"], params["channels"], params["out_channels"]
    rows = [dict() for _ in specs]
    for d, k, s, p in cases(params):
        n = params["length_1d"] if d == 1 else params["size_2d"]
        x = np.stack([rng.normal(size=(B, C) + (n,) * d) for rng in rngs])
        w = np.stack([rng.normal(size=(O, C) + (k,) * d) for rng in rngs])
        b = np.stack([rng.normal(size=(O,)) for rng in rngs])
        y = np.asarray(conv(x, w, b, s, p))
        formula = conv_output_size(n, k, s, p)
        for i in range(K):
            corr = reference(x[i], w[i], b[i], s, p)
            conv_ref = reference(x[i], w[i], b[i], s, p, flip=True)
            same_shape = y[i].shape == corr.shape == conv_ref.shape
            row = {"dim": d, "n": n, "kernel": k, "stride": s, "padding": p,
                   "n_out": int(y[i].shape[-1]), "n_out_formula": formula, "n_out_scipy": int(corr.shape[-1]),
                   "size_ok": float(same_shape and y[i].shape[2:] == (formula,) * d),
                   "diff_correlate": float(np.max(np.abs(y[i] - corr))) if same_shape else float("inf"),
                   "diff_convolve": float(np.max(np.abs(y[i] - conv_ref))) if same_shape else float("inf"),
                   "scale": float(np.max(np.abs(corr)))}
            for key, value in row.items():
                rows[i].setdefault(key, []).append(value)
    example = demo(specs[0], params)
    outcomes = []
    for i in range(K):
        h = rows[i]
        final = {"max_abs_diff": max(max(h["diff_correlate"]), max(h["diff_convolve"])),
                 "max_abs_diff_correlate": max(h["diff_correlate"]),
                 "max_abs_diff_convolve": max(h["diff_convolve"]),
                 "max_abs_diff_1d": max(v for v, dim in zip(h["diff_correlate"] + h["diff_convolve"],
                                                            h["dim"] * 2) if dim == 1),
                 "max_abs_diff_2d": max(v for v, dim in zip(h["diff_correlate"] + h["diff_convolve"],
                                                            h["dim"] * 2) if dim == 2),
                 "sizes_match": float(np.mean(h["size_ok"])), "n_cases": len(h["dim"])}
        outcomes.append({"status": "ok", "diverged_at_step": None, "history": h, "final": final,
                         "artifacts": {"demo": example}})
    return outcomes


PROCEDURE = Procedure(
    name="conv_check",
    run=run,
    signature=signature,
    code=("engine.procedures.conv_check", "engine.models.conv"),
    uses_optimizer=False,
    description="the im2col convolution against scipy.signal.correlate / convolve (flipped kernel), "
                "over strides, paddings, kernel sizes, 1-D and 2-D, on random inputs",
)
