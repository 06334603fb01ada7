"""How each kind of model trains, and which module defines it (the root of its runs' code keys).

MODEL_KINDS is the registry the planner and the workers share (the config validator reads the
same entries from the source, engine/config/registries.py): adding a model kind is a module in
engine/models or engine/objectives and its entry in that package's registry (plus its tests).
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
    module: str                        # the module that defines the model (see engine.codehash)


MODEL_KINDS: dict[str, ModelKind] = {
    kind: ModelKind(kind, dict(obj.params), frozenset(), train_objective_group, obj.build.__module__)
    for kind, obj in OBJECTIVES.items()
}
MODEL_KINDS.update({
    kind: ModelKind(kind, dict(factory.params), factory.accepts, train_network_group, factory.make.__module__)
    for kind, factory in MODELS.items()
})
