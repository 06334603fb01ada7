"""What an analytic objective provides to the trainer and to the figures."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as onp


@dataclass(frozen=True)
class ObjectiveInstance:
    value: Callable            # (K, d) → (K,), autograd-differentiable
    minimum: float             # f* = min f
    minimizer: onp.ndarray     # x*, shape (d,)
    initial_point: Callable    # rng → x₀, shape (d,)
    dim: int
    curvature: tuple[float, float] | None = None   # (μ, L) where the objective is a quadratic
    # (K, d) → ((K,), (K, d)): f and ∇f in closed form, which the trainer then uses instead of
    # autograd's: a step of a small problem costs per recorded operation, and the slowest members
    # of a group take tens of thousands of steps alone.  Tested against autograd's gradient.
    value_and_gradient: Callable | None = None


@dataclass(frozen=True)
class Objective:
    kind: str
    params: dict               # parameter name → default
    build: Callable[..., ObjectiveInstance]
    doc: str = ""
