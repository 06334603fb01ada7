r"""Adam (Kingma & Ba 2014, Algorithm 1): the lecture's "RMSprop + momentum", with bias correction.

    m_t = β1 m_{t−1} + (1 − β1) g_t                 m_0 = 0   (momentum's moving average)
    v_t = β2 v_{t−1} + (1 − β2) g_t²                v_0 = 0   (RMSprop's moving average)
    m̂_t = m_t / (1 − β1^t),  v̂_t = v_t / (1 − β2^t)
    θ_{t+1} = θ_t − α m̂_t / (√v̂_t + ε)

The lecture names Adam without a formula; this is the paper's. Dividing by 1 − β^t undoes the
pull of m_0 = v_0 = 0 towards 0, so the first steps have the intended size. At β1 = 0, m̂_t = g_t
and Adam is RMSprop (ε outside) with bias-corrected v̂_t.

Libraries: autograd.misc.optimizers.adam(step_size=α, b1, b2, eps) is the same rule; its loop
index i starts at 0 and it corrects with i + 1, which is this t (updates so far, counting the
current one), so the iterates agree bit for bit. Its default step_size is 0.001, the paper's.
torch.optim.Adam and optax.adam (eps_root=0) are the same rule too, with the arithmetic arranged
differently (equal up to rounding).
"""
from __future__ import annotations

import numpy as np

from engine.optim.base import EPS, OptimizerRule, decay, learning_rate


def init(theta):
    return {'m': np.zeros_like(theta), 'v': np.zeros_like(theta), 't': 0}


def update(theta, g, state, hp):
    b1, b2, t = hp['beta1'], hp['beta2'], state['t'] + 1
    m = (1 - b1) * g + b1 * state['m']
    v = (1 - b2) * g**2 + b2 * state['v']
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    state = {'m': m, 'v': v, 't': t}
    if m_hat.dtype == v_hat.dtype == np.result_type(m_hat, hp['lr'], hp['eps']):
        # The same operations in place on the temporaries m̂ and v̂ (no dtype to promote): a
        # fresh array per operation made the update 1.4× slower at K = 5, P = 15,210.
        np.sqrt(v_hat, out=v_hat)
        v_hat += hp['eps']
        np.multiply(hp['lr'], m_hat, out=m_hat)
        m_hat /= v_hat
        return theta - m_hat, state
    return theta - hp['lr'] * m_hat / (np.sqrt(v_hat) + hp['eps']), state


def effective_step(state, hp):
    """α / (√v̂_t + ε) per coordinate: the step that multiplies m̂_t.

    Before the first update v = 0, so v̂ = 0 whatever the correction; t is floored at 1 only to
    avoid 0/0.
    """
    v_hat = state['v'] / (1 - hp['beta2'] ** max(state['t'], 1))
    return hp['lr'] / (np.sqrt(v_hat) + hp['eps'])


ADAM = OptimizerRule(
    name='adam',
    hyperparameters=(
        learning_rate('α'),
        decay('beta1', 0.9, 'β₁', 'Weight of the past in the moving average of gradients.'),
        decay('beta2', 0.999, 'β₂',
              'Weight of the past in the moving average of squared gradients.'),
        EPS,
    ),
    init=init, update=update, effective_step=effective_step,
    formula=r'$m_t = \beta_1 m_{t-1} + (1-\beta_1)\,g_t,'
            r'\quad v_t = \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2,'
            r'\quad \theta_{t+1} = \theta_t'
            r' - \alpha\,\frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}$',
    label={'es': 'Adam', 'en': 'Adam'},
)
