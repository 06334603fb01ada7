"""Analytic test objectives (no data): the landscapes on which optimizers are compared exactly.

Each entry of OBJECTIVES builds, from its resolved parameters, an `ObjectiveInstance` whose
`value` maps a (K, d) array of K members' points to their K objective values, written with
autograd.numpy so the same function gives gradients for every member at once.
"""
from engine.objectives.base import Objective, ObjectiveInstance
from engine.objectives.quadratic import QUADRATIC
from engine.objectives.logistic_rare import LOGISTIC_RARE
from engine.objectives.moving_target import MOVING_TARGET
from engine.objectives.ripple_lattice import RIPPLE_LATTICE
from engine.objectives.rosenbrock import ROSENBROCK
from engine.objectives.scaled_quadratic import SCALED_QUADRATIC
from engine.objectives.tilted_wells import TILTED_WELLS

OBJECTIVES: dict[str, Objective] = {o.kind: o for o in (QUADRATIC, ROSENBROCK, TILTED_WELLS, SCALED_QUADRATIC,
                                                        LOGISTIC_RARE, MOVING_TARGET, RIPPLE_LATTICE)}

__all__ = ["OBJECTIVES", "Objective", "ObjectiveInstance"]
