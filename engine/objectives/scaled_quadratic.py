r"""A badly scaled separable quadratic: gradients that differ by orders of magnitude per coordinate.

f(x) = ½ Σ_i a_i (x_i − x*_i)²,  a_i = 10^(−decades · i/(d − 1)),  i = 0 … d − 1,

so coordinate i has curvature a_i and gradient a_i (x_i − x*_i): with every coordinate starting
at a distance of order one from x* (|x₀ᵢ − x*ᵢ| uniform on [0.5, 1.5], random sign, one draw per
run seed), the gradients span ``decades`` orders of magnitude.  Gradient descent's step is
capped by the largest curvature (λ < 2/max a), so the flat coordinates shrink by (1 − λ a_i) per
step and need O(1/a_i) steps; Adagrad divides each coordinate's gradient by the root of its own
accumulated squares, which makes its steps on a separable quadratic independent of a_i.
x* is fixed (entries alternating ±1) so that the error per coordinate, |x_i − x*_i| relative to
its start, is what the trainer tracks (``coordinate_error``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import autograd.numpy as np
import numpy as onp

from engine.objectives.base import Objective, ObjectiveInstance


@dataclass(frozen=True)
class CoordinateInstance(ObjectiveInstance):
    """The extended protocol of engine/training/objective.py (see there)."""
    loss: Callable | None = None              # (x (K, d), idx, t) → (K,)
    gap: Callable | None = None               # (x, t) → (K,) f − f*, plain numpy
    n_terms: int | None = None                # None: not a finite sum (deterministic)
    coordinate_error: Callable | None = None  # (x, t) → (K, d) |x − x*|
    coordinate_tol: float | None = None       # relative error per coordinate counted as reached
    scales: tuple = ()                        # a_i, the curvature of each coordinate
    small_coordinates: tuple = ()             # indices with a_i ≤ small_below · max a


def curvatures(dim: int, decades: float) -> onp.ndarray:
    return 10.0 ** (-float(decades) * onp.arange(int(dim)) / max(int(dim) - 1, 1))


def build(dim: int = 8, decades: float = 3.0, tol: float = 1e-2, small_below: float = 1e-2) -> CoordinateInstance:
    a = curvatures(dim, decades)
    x_star = onp.where(onp.arange(int(dim)) % 2 == 0, 1.0, -1.0)

    def loss(x, idx=None, t=0.0):
        return 0.5 * np.sum(a * (x - x_star) ** 2, axis=-1)

    def gap(x, t=0.0):
        return onp.asarray(loss(onp.asarray(x)))

    def initial_point(rng):
        return x_star + rng.choice([-1.0, 1.0], size=int(dim)) * rng.uniform(0.5, 1.5, size=int(dim))

    return CoordinateInstance(
        lambda x: loss(x), 0.0, x_star, initial_point, int(dim),
        curvature=(float(a.min()), float(a.max())),
        loss=loss, gap=gap, coordinate_error=lambda x, t=0.0: onp.abs(onp.asarray(x) - x_star),
        coordinate_tol=float(tol), scales=tuple(a.tolist()),
        small_coordinates=tuple(int(i) for i in onp.flatnonzero(a <= float(small_below) * a.max())))


SCALED_QUADRATIC = Objective("scaled_quadratic", {"dim": 8, "decades": 3.0, "tol": 1e-2,
                                                    "small_below": 1e-2}, build, doc=__doc__)
