r"""Logistic regression on the rare-features data set (engine/data/rare_features.py) as a finite sum.

f(w) = (1/N) Σ_i log(1 + exp(−y_i wᵀx_i)) + (λ/2) ‖w‖²,  y_i ∈ {−1, +1},

over the training split.  The small ridge λ makes the minimiser ŵ unique and finite; it is found
here by Newton's method (to machine precision), so the error per coordinate |w_t − ŵ| can be
tracked.  The rare features' coordinates have gradients and curvatures about p_j times those of
the dense ones (p_j the fraction of examples where feature j is on): these are the
small-gradient coordinates (``small_coordinates``).  Starts w₀ ~ N(0, init_scale²), one per
run seed.  A batch regime B draws B of the N examples per step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import autograd.numpy as np
import numpy as onp

from engine.data.rare_features import make_rare_features
from engine.objectives.base import Objective, ObjectiveInstance


@dataclass(frozen=True)
class CoordinateInstance(ObjectiveInstance):
    """The extended protocol of engine/training/objective.py (see there)."""
    loss: Callable | None = None
    gap: Callable | None = None
    n_terms: int | None = None
    coordinate_error: Callable | None = None
    coordinate_tol: float | None = None
    small_coordinates: tuple = ()         # indices of the rare features' coordinates


def _objective_numpy(w, x, y, l2):
    m = y * (x @ w)
    return onp.mean(onp.logaddexp(0.0, -m)) + 0.5 * l2 * w @ w


def newton_minimiser(x, y, l2, iterations=100):
    """ŵ = argmin f by Newton's method from 0 (f is strongly convex for λ > 0)."""
    w = onp.zeros(x.shape[1])
    for _ in range(iterations):
        m = y * (x @ w)
        p = 1.0 / (1.0 + onp.exp(m))                 # σ(−m)
        grad = -(x.T @ (y * p)) / len(y) + l2 * w
        hess = (x.T * (p * (1 - p))) @ x / len(y) + l2 * onp.eye(x.shape[1])
        step = onp.linalg.solve(hess, grad)
        w = w - step
        if onp.max(onp.abs(step)) < 1e-15:
            break
    return w


def build(n_train: int = 1000, common: int = 5, rare: int = 10, rare_low: float = 0.01,
          rare_high: float = 0.1, data_seed: int = 0, l2: float = 1e-3, init_scale: float = 1.0,
          tol: float = 1e-2) -> CoordinateInstance:
    data = make_rare_features(int(data_seed), n_train=int(n_train), n_val=1, n_test=1,
                              common=int(common), rare=int(rare), rare_low=float(rare_low),
                              rare_high=float(rare_high))
    x = data.x_train.reshape(len(data.x_train), -1)
    y = 2.0 * data.y_train - 1.0
    l2 = float(l2)
    w_hat = newton_minimiser(x, y, l2)
    f_star = float(_objective_numpy(w_hat, x, y, l2))
    dim = x.shape[1]

    def loss(w, idx=None, t=0.0):
        # einsum's own loops, not a BLAS matrix product: BLAS may block a (K, d) × (d, N) product
        # differently for different K, and a member's bits must not depend on its group.
        if idx is None:
            margins = np.einsum("kd,nd->kn", w, x) * y             # (K, N)
        else:
            margins = np.sum(x[idx] * w[:, None, :], axis=-1) * y[idx]   # (K, B)
        return np.mean(np.logaddexp(0.0, -margins), axis=-1) + 0.5 * l2 * np.sum(w * w, axis=-1)

    def gap(w, t=0.0):
        return onp.asarray(loss(onp.asarray(w))) - f_star

    return CoordinateInstance(
        lambda w: loss(w), f_star, w_hat, lambda rng: float(init_scale) * rng.standard_normal(dim), dim,
        loss=loss, gap=gap, n_terms=len(y),
        coordinate_error=lambda w, t=0.0: onp.abs(onp.asarray(w) - w_hat), coordinate_tol=float(tol),
        small_coordinates=tuple(range(int(common), dim)))


# Its runs' keys hash engine/data/rare_features.py too: engine.codehash follows the import above.
LOGISTIC_RARE = Objective(
    "logistic_rare", {"n_train": 1000, "common": 5, "rare": 10, "rare_low": 0.01, "rare_high": 0.1,
                      "data_seed": 0, "l2": 1e-3, "init_scale": 1.0, "tol": 1e-2},
    build, doc=__doc__)
