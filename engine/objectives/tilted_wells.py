r"""A finite sum of tilted double wells: a shallow local and a deeper global minimum, both known.

f(x) = (1/N) Σ_i f_i(x),  f_i(x) = x⁴/4 − x²/2 + (δ + s_i) x,  with Σ_i s_i = 0,

so the mean is exactly the tilted double well w(x) = x⁴/4 − x²/2 + δx: for 0 < δ < 2/(3√3) its
critical points are the three real roots of x³ − x + δ = 0 (closed form), the global minimum at
the negative root, a shallow local minimum at the largest root and the barrier (a local maximum)
between them.  The basin of a point is the side of the barrier it lies on: in 1-D gradient flow
never crosses a maximum.  Each term is the same well tilted by its own slope s_i (a "data point"),
so a minibatch of B terms gives the gradient w'(x) + mean of its slopes: the exact gradient plus
zero-mean noise whose variance shrinks as the batch grows, σ²(N − B)/(B(N − 1)); full batch gives
the exact gradient.  The slopes are fixed by ``terms_seed`` (standardised to mean 0 and standard
deviation ``spread``); starts are uniform on [low, high], one per run seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import autograd.numpy as np
import numpy as onp

from engine.objectives.base import Objective, ObjectiveInstance


@dataclass(frozen=True)
class FiniteSumInstance(ObjectiveInstance):
    """The extended protocol of engine/training/objective.py (see there)."""
    loss: Callable | None = None          # (x (K, d), idx (K, B) or None, t ∈ [0, 1]) → (K,)
    gap: Callable | None = None           # (x, t) → (K,) f(x; t) − min f(·; t), plain numpy
    n_terms: int | None = None
    basin: Callable | None = None         # x → (K,) 0 = global basin, 1 = local basin
    critical_points: tuple = ()           # (global minimum, barrier, local minimum)
    # (x, idx, t) → (loss (K,), gradient (K, d)) in closed form, used instead of autograd's trace:
    # a step of these small problems costs per recorded operation.  Tested against autograd.
    loss_and_gradient: Callable | None = None


def critical_points(delta: float) -> tuple[float, float, float]:
    """The roots of x³ − x + δ, sorted: global minimum, barrier, local minimum."""
    if not 0 < delta < 2 / (3 * onp.sqrt(3)):
        raise ValueError(f"delta must lie in (0, 2/(3√3)) ≈ (0, 0.385) for two wells, got {delta}")
    roots = onp.sort(onp.roots([1.0, 0.0, -1.0, delta]).real)
    return tuple(float(r) for r in roots)


def well(x, delta):
    return x ** 4 / 4 - x ** 2 / 2 + delta * x


def term_slopes(n_terms: int, spread: float, seed: int) -> onp.ndarray:
    s = onp.random.default_rng(seed).standard_normal(int(n_terms))
    s = s - s.mean()
    return s * (spread / s.std()) if spread > 0 else onp.zeros(int(n_terms))


def build(delta: float = 0.25, n_terms: int = 64, spread: float = 1.5, low: float = -2.0,
          high: float = 2.0, terms_seed: int = 0) -> FiniteSumInstance:
    delta = float(delta)
    x_global, x_barrier, x_local = critical_points(delta)
    slopes = term_slopes(n_terms, float(spread), int(terms_seed))
    f_star = float(well(x_global, delta))

    def loss(x, idx=None, t=0.0):
        z = x[..., 0]
        tilt = 0.0 if idx is None else onp.mean(slopes[idx], axis=-1)
        return well(z, delta) + tilt * z

    def value(x):
        return loss(x)

    def gap(x, t=0.0):
        return onp.asarray(well(onp.asarray(x)[..., 0], delta)) - f_star

    def basin(x):
        return (onp.asarray(x)[..., 0] > x_barrier).astype(int)

    return FiniteSumInstance(
        value, f_star, onp.array([x_global]),
        lambda rng: onp.array([rng.uniform(float(low), float(high))]), 1,
        loss=loss, gap=gap, n_terms=int(n_terms), basin=basin,
        critical_points=(x_global, x_barrier, x_local))


TILTED_WELLS = Objective("tilted_wells", {"delta": 0.25, "n_terms": 64, "spread": 1.5, "low": -2.0,
                                          "high": 2.0, "terms_seed": 0}, build, doc=__doc__)
