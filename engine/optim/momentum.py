r"""The lecture's momentum ("promedio móvil exponencial"), with v_0 = 0:

    v_t = (1 − β) ∂J/∂θ_t + β v_{t−1}
    θ_{t+1} = θ_t − λ v_t

v_t is an exponential moving average of the gradients, so it keeps pointing along directions
where successive gradients agree ("gradientes pesados") while oscillating components cancel. The
(1 − β) factor keeps v_t on the scale of one gradient, so λ means the same for every β.

Equivalent forms, in exact arithmetic:
- Heavy ball (Polyak): θ_{t+1} = θ_t − λ(1 − β) g_t + β (θ_t − θ_{t−1}), θ_0 − θ_{−1} = 0; that is,
  step λ(1 − β) and momentum β.
- autograd.misc.optimizers.sgd(step_size=λ, mass=β) runs velocity = β·velocity − (1 − β)·g;
  x = x + λ·velocity: its velocity is exactly −v_t, so the iterates agree bit for bit (negation is
  exact in floating point). autograd names this `sgd` and defaults to mass=0.9.
- torch.optim.SGD(lr, momentum=β, dampening=0) and optax.sgd(momentum=β) (optax.trace) drop the
  (1 − β): b_t = β b_{t−1} + g_t, b_1 = g_1, θ ← θ − lr·b_t. Since b_t = v_t / (1 − β), they give
  these iterates with lr = λ(1 − β); at equal lr their steps are 1/(1 − β) times larger (10× at
  β = 0.9). Only torch's dampening=τ makes its b_1 = g_1 start matter: it damps every b_t by
  (1 − τ) except the first, so with τ = β it runs this recursion from b_1 = g_1 instead of
  v_1 = (1 − β) g_1: b_t − v_t = β^t g_1, a first step 1/(1 − β) times larger that fades
  geometrically.
"""
from __future__ import annotations

import numpy as np

from engine.optim.base import OptimizerRule, decay, learning_rate


def init(theta):
    return {'v': np.zeros_like(theta)}


def update(theta, g, state, hp):
    beta = hp['beta']
    v = (1 - beta) * g + beta * state['v']
    return theta - hp['lr'] * v, {'v': v}


def effective_step(state, hp):
    """λ: the factor on v_t (the heavy-ball step on the raw gradient would be λ(1 − β))."""
    return hp['lr']


MOMENTUM = OptimizerRule(
    name='momentum',
    hyperparameters=(
        learning_rate('λ'),
        decay('beta', 0.9, 'β', 'Weight of the past in the moving average of gradients.'),
    ),
    init=init, update=update, effective_step=effective_step,
    formula=r'$v_t = (1-\beta)\,g_t + \beta\, v_{t-1},\ v_0 = 0,'
            r'\quad \theta_{t+1} = \theta_t - \lambda\, v_t$',
    label={'es': 'momentum', 'en': 'momentum'},
)
