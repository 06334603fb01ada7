r"""The lecture's RMSprop, with v_0 = 0:

    v_t = β v_{t−1} + (1 − β) ∂J/∂θ_t * ∂J/∂θ_t
    θ_{t+1} = θ_t − α / (√v_t + ε) * ∂J/∂θ_t

Adagrad's sum of squared gradients becomes an exponential moving average, so old gradients are
forgotten and the effective step α/(√v_t + ε) stays bounded away from 0 instead of decaying.
Because v_0 = 0 and there is no bias correction, early v_t underestimates g²: the first step is
about α·sign(g)/√(1 − β) (≈ 3.2 α at β = 0.9). Adam's bias correction removes this.

eps_placement='outside' (default) is the RMSprop slide; 'inside' is √(v_t + ε), the form the
slides show for Adagrad.
Libraries: torch.optim.RMSprop is this rule (v_0 = 0, ε outside; its default β, `alpha`, is 0.99).
optax.rmsprop starts at v_0 = 0 (initial_scale) but puts ε inside the root by default
(eps_in_sqrt=True). autograd.misc.optimizers.rmsprop(step_size=α, gamma=β, eps=ε) puts ε outside
but starts avg_sq_grad at 1, not 0: its v_t is this v_t + β^t, so its early steps are smaller
(the first is α g/√(β + (1 − β) g²)); started from the state {'v': ones} this rule reproduces it
bit for bit.
"""
from __future__ import annotations

import numpy as np

from engine.optim.base import EPS, OptimizerRule, decay, eps_placement, learning_rate, root


def init(theta):
    return {'v': np.zeros_like(theta)}


def update(theta, g, state, hp):
    beta = hp['beta']
    v = beta * state['v'] + (1 - beta) * g**2
    return theta - hp['lr'] * g / root(v, hp['eps'], hp['eps_placement']), {'v': v}


def effective_step(state, hp):
    """α / (√v_t + ε) per coordinate (α / √(v_t + ε) with ε inside)."""
    return hp['lr'] / root(state['v'], hp['eps'], hp['eps_placement'])


RMSPROP = OptimizerRule(
    name='rmsprop',
    hyperparameters=(
        learning_rate('α'),
        decay('beta', 0.9, 'β', 'Weight of the past in the moving average of squared gradients.'),
        EPS,
        eps_placement('outside'),
    ),
    init=init, update=update, effective_step=effective_step,
    formula=r'$v_t = \beta\, v_{t-1} + (1-\beta)\,g_t^2,\ v_0 = 0,'
            r'\quad \theta_{t+1} = \theta_t - \frac{\alpha}{\sqrt{v_t} + \epsilon}\, g_t$',
    label={'es': 'RMSprop', 'en': 'RMSprop'},
)
