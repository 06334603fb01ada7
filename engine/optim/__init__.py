"""The lecture's SGD variants as pure (init, update) pairs, and the registry that names them.

Every module of this package that defines an ``OptimizerRule`` at its top level is registered under
the rule's name (the ``kind`` of an optimizer in experiments.yaml): adding an optimizer is adding
its module (docs/extending.md).
"""
import importlib
import pkgutil

from engine.optim.base import Hyperparameter, OptimizerRule


def _discover() -> dict[str, OptimizerRule]:
    found: dict[str, OptimizerRule] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            # a rule defined here, not one imported from another module
            if isinstance(value, OptimizerRule) and value.update.__module__ == module.__name__:
                found[value.name] = value
    return found


OPTIMIZERS: dict[str, OptimizerRule] = _discover()

__all__ = ['Hyperparameter', 'OptimizerRule', 'OPTIMIZERS']
