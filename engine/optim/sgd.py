r"""Plain gradient descent: θ_{t+1} = θ_t − λ g_t, with g_t = ∂J/∂θ_t.

Full-batch GD, single-example SGD and minibatch SGD are all this rule; they differ only in which
examples g_t averages over, which the training loop chooses. Same as torch.optim.SGD without
momentum, optax.sgd and autograd.misc.optimizers.sgd(mass=0).
"""
from __future__ import annotations

import numpy as np

from engine.optim.base import OptimizerRule, learning_rate


def init(theta):
    """No state: the step depends on the current gradient only."""
    return {}


def update(theta, g, state, hp):
    step = np.multiply(hp['lr'], g)
    # θ − λg written into the temporary λg: one fresh array a step, not two
    if step.dtype == theta.dtype and step.shape == theta.shape:
        return np.subtract(theta, step, out=step), {}
    return theta - step, {}


def effective_step(state, hp):
    return hp['lr']


SGD = OptimizerRule(
    name='sgd',
    hyperparameters=(learning_rate('λ'),),
    init=init, update=update, effective_step=effective_step,
    formula=r'$\theta_{t+1} = \theta_t - \lambda\, g_t$',
    label={'es': 'SGD', 'en': 'SGD'},
)
