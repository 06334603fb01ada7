r"""A noisy quadratic whose minimiser moves many times during a long run: can the optimizer follow?

f_i(x; t) = ½ ‖x − c(t)‖² + s_iᵀ x,  f(x; t) = (1/N) Σ_i f_i(x; t) = ½ ‖x − c(t)‖²  (Σ_i s_i = 0).

The run lasts T = (``moves`` + 1) · ``period`` steps.  The target c(t) alternates between 0 and
``shift`` · (1, …, 1): it is 0 in segment 0 (steps 0 … P − 1), moves at steps P, 2P, …, ``moves`` · P,
and in segment j it is 0 for even j and ``shift`` · 1 for odd j, so every move has the same size
‖Δc‖ = ``shift`` · √d.  A minibatch of B terms adds zero-mean noise (the mean of its s_i) to the
exact gradient x − c(t), so the gradients never vanish: Adagrad's sum of squared gradients grows
with every step and every move, and its effective step α/√(v + ε) keeps shrinking, whereas
RMSprop's moving average forgets.  The gap f(x; t) − min f(·; t) = ½ ‖x − c(t)‖² is the tracking
error.

For the record, each move's segment is cut in two measurement windows (``windows``): the
transient, the first ``transient`` steps from the move on (the move's own step included), and the
floor, the rest of the segment.  Their boundaries are handed to the trainer as ``phases`` (it
reports the mean gap of each), placed half a step before the step they start at, so that the
fraction t = step/T never falls on a boundary.  The trainer passes t, not the step: the run must
last exactly T steps (``steps``), which the loss checks.
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
    phases: tuple = ()                    # fractions of the run where a measurement window starts
    target: Callable | None = None        # t → c(t)
    steps: int = 0                        # T, the run's length in steps
    windows: tuple = ()                   # one (kind, move, first step, last step) per phase


def term_tilts(n_terms: int, dim: int, spread: float, seed: int) -> onp.ndarray:
    s = onp.random.default_rng(seed).standard_normal((int(n_terms), int(dim)))
    s = s - s.mean(axis=0)
    return s * (spread / s.std()) if spread > 0 else onp.zeros_like(s)


def measurement_windows(moves: int, period: int, transient: int) -> tuple:
    """(kind, move, first step, last step), both ends included, in the order of the trainer's
    phases: ('start', 0, 0, P − 1), then per move m = 1 … M ('transient', m, mP, mP + w − 1) and
    ('floor', m, mP + w, (m + 1)P − 1); the last floor also holds step T itself."""
    out = [("start", 0, 0, period - 1)]
    for m in range(1, moves + 1):
        out.append(("transient", m, m * period, m * period + transient - 1))
        out.append(("floor", m, m * period + transient, (m + 1) * period - 1 + (m == moves)))
    return tuple(out)


def build(dim: int = 5, shift: float = 3.0, moves: int = 19, period: int = 200, transient: int = 50,
          n_terms: int = 64, spread: float = 1.0, terms_seed: int = 0) -> MovingInstance:
    moves, period, transient = int(moves), int(period), int(transient)
    if moves < 1 or not 0 < transient < period:
        raise ValueError(f"need moves ≥ 1 and 0 < transient < period, got {moves}, {transient}, {period}")
    total = (moves + 1) * period
    tilts = term_tilts(n_terms, dim, float(spread), int(terms_seed))
    places = (onp.zeros(int(dim)), onp.full(int(dim), float(shift)))

    def step_of(t):
        step = t * total
        if abs(step - round(step)) > 1e-6:
            raise ValueError(f"the moving target's run must last (moves + 1) · period = {total} steps")
        return int(round(step))

    def target(t):
        return places[min(step_of(t) // period, moves) % 2]

    def loss(x, idx=None, t=0.0):
        c = target(t)
        tilt = 0.0 if idx is None else onp.mean(tilts[idx], axis=-2)
        return 0.5 * np.sum((x - c) ** 2, axis=-1) + np.sum(tilt * x, axis=-1)

    def gap(x, t=0.0):
        return 0.5 * onp.sum((onp.asarray(x) - target(t)) ** 2, axis=-1)

    windows = measurement_windows(moves, period, transient)
    return MovingInstance(
        lambda x: loss(x), 0.0, places[0], lambda rng: rng.standard_normal(int(dim)), int(dim),
        curvature=(1.0, 1.0), loss=loss, gap=gap, n_terms=int(n_terms),
        phases=tuple((first - 0.5) / total for _, _, first, _ in windows[1:]), target=target,
        steps=total, windows=windows)


MOVING_TARGET = Objective("moving_target", {"dim": 5, "shift": 3.0, "moves": 19, "period": 200,
                                            "transient": 50, "n_terms": 64, "spread": 1.0, "terms_seed": 0},
                          build, doc=__doc__)
