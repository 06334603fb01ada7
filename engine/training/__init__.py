"""How each kind of model trains, and which source files its results depend on.

MODEL_KINDS is the registry the config validator, the planner and the workers share: adding a
model kind is one entry here (plus its module and tests).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from engine.models import MODELS
from engine.objectives import OBJECTIVES
from engine.training.network import train_network_group
from engine.training.objective import train_objective_group


@dataclass(frozen=True)
class ModelKind:
    name: str
    params: dict                       # parameter name → default
    accepts: frozenset                 # data-set kinds it trains on; empty = needs no data
    train_group: Callable              # list of run specs → list of outcomes (same order)
    code: tuple[str, ...]              # modules whose source is hashed into its runs' keys


_CORE = ("engine.optim", "engine.training.loop")

MODEL_KINDS: dict[str, ModelKind] = {
    kind: ModelKind(kind, dict(obj.params), frozenset(), train_objective_group,
                    _CORE + ("engine.training.objective", "engine.objectives.base",
                             f"engine.objectives.{kind}"))
    for kind, obj in OBJECTIVES.items()
}
MODEL_KINDS.update({
    kind: ModelKind(kind, dict(factory.params), factory.accepts, train_network_group,
                    _CORE + ("engine.training.network", "engine.models", "engine.data"))
    for kind, factory in MODELS.items()
})
