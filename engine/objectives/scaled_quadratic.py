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

The rotated version (``rotation_seed`` an integer) has the same curvatures in a random orthonormal
basis Q (the QR factor of a Gaussian matrix drawn with that seed, its columns' signs fixed so that
Q is uniformly distributed):

f(x) = ½ (x − x*)ᵀ Q diag(a) Qᵀ (x − x*) = ½ Σ_i a_i (q_iᵀ (x − x*))²,

so the small-gradient directions q_i are no longer coordinates and a diagonal preconditioner such
as Adagrad's cannot single them out.  Everything is then measured along the eigendirections: the
start is x* + Q u with u drawn as above, and ``coordinate_error`` is |Qᵀ (x − x*)|, the error
along each q_i.  Gradient descent is invariant under the rotation: in the eigenbasis its iterates
are those of the axis-aligned problem from the same seed.  ``rotation_seed`` None: Q = I, the
separable quadratic.
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
    basis: onp.ndarray | None = None          # Q, (d, d): column i is the direction of curvature a_i


def curvatures(dim: int, decades: float) -> onp.ndarray:
    return 10.0 ** (-float(decades) * onp.arange(int(dim)) / max(int(dim) - 1, 1))


def random_basis(dim: int, seed: int) -> onp.ndarray:
    """A uniformly distributed orthonormal d × d matrix: Q of the QR factorisation of a standard
    Gaussian matrix, each column multiplied by the sign of R's diagonal entry (Mezzadri 2007)."""
    q, r = onp.linalg.qr(onp.random.default_rng(int(seed)).standard_normal((int(dim), int(dim))))
    return q * onp.sign(onp.diag(r))


def in_basis(diff, basis):
    """(K, d) → (K, d): the components q_iᵀ diff of each row along the columns of Q.  Summed
    elementwise, not by a matrix product: BLAS may round a product differently for K rows than for
    one, and a run must give the same bits alone as in a group."""
    return np.sum(diff[..., :, None] * basis, axis=-2)


def build(dim: int = 8, decades: float = 3.0, tol: float = 1e-2, small_below: float = 1e-2,
          rotation_seed: int | None = None) -> CoordinateInstance:
    a = curvatures(dim, decades)
    x_star = onp.where(onp.arange(int(dim)) % 2 == 0, 1.0, -1.0)
    basis = onp.eye(int(dim)) if rotation_seed is None else random_basis(dim, rotation_seed)

    def loss(x, idx=None, t=0.0):
        return 0.5 * np.sum(a * in_basis(x - x_star, basis) ** 2, axis=-1)

    def gap(x, t=0.0):
        return onp.asarray(loss(onp.asarray(x)))

    def initial_point(rng):
        offset = rng.choice([-1.0, 1.0], size=int(dim)) * rng.uniform(0.5, 1.5, size=int(dim))
        return x_star + basis @ offset

    return CoordinateInstance(
        lambda x: loss(x), 0.0, x_star, initial_point, int(dim),
        curvature=(float(a.min()), float(a.max())),
        loss=loss, gap=gap, coordinate_error=lambda x, t=0.0: onp.abs(in_basis(onp.asarray(x) - x_star, basis)),
        coordinate_tol=float(tol), scales=tuple(a.tolist()),
        small_coordinates=tuple(int(i) for i in onp.flatnonzero(a <= float(small_below) * a.max())),
        basis=basis)


SCALED_QUADRATIC = Objective("scaled_quadratic", {"dim": 8, "decades": 3.0, "tol": 1e-2,
                                                    "small_below": 1e-2, "rotation_seed": None}, build,
                             doc=__doc__)
