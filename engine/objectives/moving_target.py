r"""A noisy quadratic whose minimiser jumps half-way through the run: can the optimizer follow?

f_i(x; t) = ½ ‖x − c(t)‖² + s_iᵀ x,  f(x; t) = (1/N) Σ_i f_i(x; t) = ½ ‖x − c(t)‖²  (Σ_i s_i = 0),

with c(t) = 0 while the fraction of the run t < ``move_at`` and c(t) = ``shift`` · (1, …, 1)
afterwards.  A minibatch of B terms adds zero-mean noise (the mean of its s_i) to the exact
gradient x − c(t), so the gradients never vanish: Adagrad's sum of squared gradients grows
linearly with the steps and its effective step α/√(v + ε) keeps shrinking, whereas RMSprop's
moving average forgets.  The gap f(x; t) − min f(·; t) = ½ ‖x − c(t)‖² is the tracking error.
The tilts s_i are fixed by ``terms_seed`` (mean 0, standard deviation ``spread`` per entry);
starts x₀ ~ N(0, I), one per run seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import autograd.numpy as np
import numpy as onp

from engine.objectives.base import Objective, ObjectiveInstance


@dataclass(frozen=True)
class MovingInstance(ObjectiveInstance):
    """The extended protocol of engine/training/objective.py (see there)."""
    loss: Callable | None = None          # (x (K, d), idx (K, B) or None, t ∈ [0, 1]) → (K,)
    gap: Callable | None = None           # (x, t) → (K,) f(x; t) − min f(·; t), plain numpy
    n_terms: int | None = None
    phases: tuple = ()                    # fractions of the run where the objective changes
    target: Callable | None = None        # t → c(t)


def term_tilts(n_terms: int, dim: int, spread: float, seed: int) -> onp.ndarray:
    s = onp.random.default_rng(seed).standard_normal((int(n_terms), int(dim)))
    s = s - s.mean(axis=0)
    return s * (spread / s.std()) if spread > 0 else onp.zeros_like(s)


def build(dim: int = 5, shift: float = 3.0, move_at: float = 0.5, n_terms: int = 64,
          spread: float = 1.0, terms_seed: int = 0) -> MovingInstance:
    if not 0 < move_at < 1:
        raise ValueError(f"move_at is a fraction of the run in (0, 1), got {move_at}")
    tilts = term_tilts(n_terms, dim, float(spread), int(terms_seed))
    before, after = onp.zeros(int(dim)), onp.full(int(dim), float(shift))

    def target(t):
        return after if t >= move_at else before

    def loss(x, idx=None, t=0.0):
        c = target(t)
        tilt = 0.0 if idx is None else onp.mean(tilts[idx], axis=-2)
        return 0.5 * np.sum((x - c) ** 2, axis=-1) + np.sum(tilt * x, axis=-1)

    def gap(x, t=0.0):
        return 0.5 * onp.sum((onp.asarray(x) - target(t)) ** 2, axis=-1)

    return MovingInstance(
        lambda x: loss(x), 0.0, before, lambda rng: rng.standard_normal(int(dim)), int(dim),
        curvature=(1.0, 1.0), loss=loss, gap=gap, n_terms=int(n_terms), phases=(float(move_at),),
        target=target)


MOVING_TARGET = Objective("moving_target", {"dim": 5, "shift": 3.0, "move_at": 0.5, "n_terms": 64,
                                            "spread": 1.0, "terms_seed": 0}, build, doc=__doc__)
