r"""The lecture's Adagrad, with v_0 = 0:

    v_t = v_{t−1} + ∂J/∂θ_t * ∂J/∂θ_t
    θ_{t+1} = θ_t − α / √(v_t + ε) * ∂J/∂θ_t

Each coordinate gets its own step α/√(v_t + ε): coordinates whose gradients have been small get a
large step, so the method still moves where the gradient is small. v_t only grows, so every
effective step decays towards 0 — the weakness RMSprop addresses.

eps_placement='inside' (default) is the lecture's √(v_t + ε); 'outside' is √v_t + ε.
Libraries: torch.optim.Adagrad puts ε outside the root (default ε = 1e-10) and can start the sum
at initial_accumulator_value (default 0); optax.adagrad puts ε inside (default 1e-7) but starts the
sum at 0.1 and gives a zero update where the sum is 0. autograd.misc.optimizers has no Adagrad.
"""
from __future__ import annotations

import numpy as np

from engine.optim.base import EPS, OptimizerRule, eps_placement, learning_rate, root


def init(theta):
    return {'v': np.zeros_like(theta)}


def update(theta, g, state, hp):
    v = state['v'] + g**2
    return theta - hp['lr'] * g / root(v, hp['eps'], hp['eps_placement']), {'v': v}


def effective_step(state, hp):
    """α / √(v_t + ε) per coordinate (α / (√v_t + ε) with ε outside)."""
    return hp['lr'] / root(state['v'], hp['eps'], hp['eps_placement'])


ADAGRAD = OptimizerRule(
    name='adagrad',
    hyperparameters=(learning_rate('α'), EPS, eps_placement('inside')),
    init=init, update=update, effective_step=effective_step,
    formula=r'$v_t = v_{t-1} + g_t^2,\ v_0 = 0,'
            r'\quad \theta_{t+1} = \theta_t - \frac{\alpha}{\sqrt{v_t + \epsilon}}\, g_t$',
    label={'es': 'Adagrad', 'en': 'Adagrad'},
)
