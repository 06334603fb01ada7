"""Rosenbrock's banana valley f(x, y) = (a − x)² + b (y − x²)², minimum 0 at (a, a²).

A curved, narrow valley: the gradient points across it, so plain GD zig-zags while momentum's
moving average keeps the component along the valley floor ("la dirección de gradientes pesados").
"""
from __future__ import annotations

import autograd.numpy as np
import numpy as onp

from engine.objectives.base import Objective, ObjectiveInstance


def build(a: float = 1.0, b: float = 100.0, x0=(-1.2, 1.0)) -> ObjectiveInstance:
    def value(p):
        x, y = p[..., 0], p[..., 1]
        return (a - x) ** 2 + b * (y - x ** 2) ** 2

    return ObjectiveInstance(value, 0.0, onp.array([a, a * a]),
                             lambda rng: onp.asarray(x0, dtype=float), 2)


ROSENBROCK = Objective("rosenbrock", {"a": 1.0, "b": 100.0, "x0": [-1.2, 1.0]}, build, doc=__doc__)
