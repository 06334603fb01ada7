"""Quadratics of chosen condition number κ: the textbook case for GD vs momentum.

f(x) = ½ (x − x*)ᵀ A (x − x*) with the eigenvalues of A log-spaced from L = 1 down to μ = 1/κ,
so κ = L/μ exactly and the best fixed step sizes are known in closed form (Polyak 1964):
gradient descent λ = 2/(L + μ), contraction (κ−1)/(κ+1) per step → O(κ) steps;
heavy ball α = 4/(√L + √μ)², β = ((√κ−1)/(√κ+1))², contraction (√κ−1)/(√κ+1) → O(√κ) steps.
GD and momentum are rotation-equivariant, so for d > 2 A is kept diagonal; in 2-D an angle
rotates the valley so the trajectory figure shows a tilted, elongated valley.

The random start is x₀ = A^(−½) z with z ~ N(0, I): every eigen-direction then holds, in
expectation, the same share of f(x₀) − f*.  A start drawn as x₀ = z would put only a 1/κ share
in the flattest direction, and "(f − f*) ≤ tol·(f₀ − f*)" would then be reached before that
direction converged, hiding the κ-dependence the claim is about.
"""
from __future__ import annotations

import autograd.numpy as np
import numpy as onp

from engine.objectives.base import Objective, ObjectiveInstance


def hessian(dim: int, kappa: float, angle_deg: float = 0.0) -> onp.ndarray:
    """A with eigenvalues κ^(−i/(d−1)), i = 0 … d−1 (so L = 1, μ = 1/κ), rotated in 2-D."""
    eig = kappa ** (-onp.arange(dim) / max(dim - 1, 1))
    if dim != 2 or angle_deg == 0:
        return onp.diag(eig)
    c, s = onp.cos(onp.radians(angle_deg)), onp.sin(onp.radians(angle_deg))
    rot = onp.array([[c, -s], [s, c]])
    return rot @ onp.diag(eig) @ rot.T


def build(dim: int = 10, kappa: float = 100.0, angle_deg: float = 0.0, x0=None) -> ObjectiveInstance:
    if kappa < 1:
        raise ValueError(f"kappa must be ≥ 1, got {kappa}")
    a = hessian(int(dim), float(kappa), float(angle_deg))

    def value(x):
        return 0.5 * np.sum(np.dot(x, a) * x, axis=-1)

    # ∇f = x (A + Aᵀ)/2, as autograd differentiates `value`.  For a diagonal A (every quadratic
    # but the rotated 2-D valley) that is x A, the product f is computed from, and autograd's
    # gradient bit for bit.
    diagonal = not onp.count_nonzero(a - onp.diag(onp.diagonal(a)))
    symmetric = (a + a.T) / 2

    def value_and_gradient(x):
        xa = onp.dot(x, a)
        return 0.5 * onp.sum(xa * x, axis=-1), (xa if diagonal else onp.dot(x, symmetric))

    def initial_point(rng):
        if x0 is not None:
            return onp.asarray(x0, dtype=float)
        return onp.linalg.solve(onp.linalg.cholesky(a).T, rng.standard_normal(int(dim)))

    return ObjectiveInstance(value, 0.0, onp.zeros(int(dim)), initial_point, int(dim),
                             curvature=(1.0 / float(kappa), 1.0), value_and_gradient=value_and_gradient)


QUADRATIC = Objective("quadratic", {"dim": 10, "kappa": 100.0, "angle_deg": 0.0, "x0": None}, build,
                      doc=__doc__)
