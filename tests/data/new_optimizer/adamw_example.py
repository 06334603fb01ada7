r"""AdamW (Loshchilov & Hutter 2019, Algorithm 2): Adam with the weight decay taken out of the
gradient and applied to the parameters directly.

    m_t = β1 m_{t−1} + (1 − β1) g_t,   v_t = β2 v_{t−1} + (1 − β2) g_t²
    m̂_t = m_t / (1 − β1^t),  v̂_t = v_t / (1 − β2^t)
    θ_{t+1} = θ_t − α (m̂_t / (√v̂_t + ε) + λ θ_t)

With λ = 0 it is Adam.  torch.optim.AdamW is the same rule (it multiplies θ by 1 − αλ first).

The example of docs/extending.md under a name of its own (adamw_example), so that the test
that follows the guide still runs once a term has added AdamW for real.
"""
from __future__ import annotations

import numpy as np

from engine.optim.base import EPS, Hyperparameter, OptimizerRule, decay, learning_rate


def init(theta):
    return {'m': np.zeros_like(theta), 'v': np.zeros_like(theta), 't': 0}


def update(theta, g, state, hp):
    b1, b2, t = hp['beta1'], hp['beta2'], state['t'] + 1
    m = (1 - b1) * g + b1 * state['m']
    v = (1 - b2) * g**2 + b2 * state['v']
    step = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + hp['eps']) + hp['weight_decay'] * theta
    return theta - hp['lr'] * step, {'m': m, 'v': v, 't': t}


def effective_step(state, hp):
    """α / (√v̂_t + ε) per coordinate, as Adam's."""
    v_hat = state['v'] / (1 - hp['beta2'] ** max(state['t'], 1))
    return hp['lr'] / (np.sqrt(v_hat) + hp['eps'])


ADAMW = OptimizerRule(
    name='adamw_example',
    hyperparameters=(
        learning_rate('α'),
        decay('beta1', 0.9, 'β₁', 'Weight of the past in the moving average of gradients.'),
        decay('beta2', 0.999, 'β₂', 'Weight of the past in the moving average of squared gradients.'),
        EPS,
        Hyperparameter('weight_decay', 0.01, 'nonnegative', symbol='λ',
                       doc='Decay of the parameters, applied apart from the gradient.'),
    ),
    init=init, update=update, effective_step=effective_step,
    formula=r'$\theta_{t+1} = \theta_t - \alpha\,\left(\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}'
            r' + \lambda\,\theta_t\right)$',
    label={'es': 'AdamW (ejemplo de la guía)', 'en': 'AdamW (the guide\'s example)'},
)
