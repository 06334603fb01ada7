"""Analytic test objectives (no data): the landscapes on which optimizers are compared exactly.

Each entry of OBJECTIVES builds, from its resolved parameters, an `ObjectiveInstance` whose
`value` maps a (K, d) array of K members' points to their K objective values, written with
autograd.numpy so the same function gives gradients for every member at once.
"""
from engine.objectives.base import Objective, ObjectiveInstance
from engine.objectives.quadratic import QUADRATIC
from engine.objectives.rosenbrock import ROSENBROCK

OBJECTIVES: dict[str, Objective] = {o.kind: o for o in (QUADRATIC, ROSENBROCK)}

__all__ = ["OBJECTIVES", "Objective", "ObjectiveInstance"]
