"""The lecture's SGD variants as pure (init, update) pairs, and the registry that names them.

Adding an optimizer is one module and one entry in OPTIMIZERS.
"""
from engine.optim.adagrad import ADAGRAD
from engine.optim.adam import ADAM
from engine.optim.base import Hyperparameter, OptimizerRule
from engine.optim.momentum import MOMENTUM
from engine.optim.rmsprop import RMSPROP
from engine.optim.sgd import SGD

OPTIMIZERS: dict[str, OptimizerRule] = {r.name: r for r in (SGD, MOMENTUM, ADAGRAD, RMSPROP, ADAM)}

__all__ = ['Hyperparameter', 'OptimizerRule', 'OPTIMIZERS']
