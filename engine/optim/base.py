"""What an optimizer is: a named pair of pure functions plus the hyperparameters it accepts.

Conventions shared by every rule (other modules code against them):

- theta and g are float arrays of shape (K, P) — K independent members trained together — or
  (P,): float32 for the networks, float64 for the analytic objectives (engine/precision.py); an
  update keeps theta's dtype. Numeric hyperparameters are floats or (K, 1) arrays of theta's dtype
  (one value per member) and reach theta by broadcasting only, so K members in one array give the
  same numbers as K separate runs.
- State is a dict of arrays (plus an int step counter 't' where the rule needs one). Updates
  return new dicts and arrays and never write into their inputs, so a caller may keep old states
  (for figures, or to restart) without copying them.
- Plain numpy: optimizers are never differentiated.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

_EXPECTED = {
    'positive': 'a number > 0',
    'unit': 'a number in [0, 1)',
    'nonnegative': 'a number >= 0',
}
_HOLDS = {
    'positive': lambda x: x > 0,
    'unit': lambda x: (0 <= x) & (x < 1),
    'nonnegative': lambda x: x >= 0,
}


def _finite_numbers(value) -> np.ndarray | None:
    """The value as a float array if it is a real, finite number or a (K, 1) array of them.

    Bools are refused although Python counts them as ints: `beta: true` in a config is a typo,
    not 1.0.
    """
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return np.asarray(value, dtype=float) if math.isfinite(value) else None
    if (isinstance(value, np.ndarray) and value.dtype.kind in 'iuf' and value.ndim == 2
            and value.shape[1] == 1 and value.size and np.all(np.isfinite(value))):
        return value.astype(float)
    return None


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a rule, with the range the rule's formula makes sense in."""

    name: str                      # 'lr', 'beta', 'beta1', 'beta2', 'eps', 'eps_placement'
    default: float | str | None    # None = required (only lr is)
    kind: str                      # 'positive', 'unit', 'nonnegative' or 'choice'
    choices: tuple[str, ...] = ()
    symbol: str = ''               # the lecture's notation: 'λ', 'α', 'β', 'ε'
    doc: str = ''

    def check(self, value) -> str | None:
        """None if `value` is valid, else a short phrase of what was expected ('a number > 0')."""
        if self.kind == 'choice':
            valid = isinstance(value, str) and value in self.choices
            return None if valid else 'one of ' + ', '.join(self.choices)
        x = _finite_numbers(value)
        return None if x is not None and np.all(_HOLDS[self.kind](x)) else _EXPECTED[self.kind]


@dataclass(frozen=True)
class OptimizerRule:
    """An update rule as pure functions: init(theta) -> state; update(theta, g, state, hp)."""

    name: str
    hyperparameters: tuple[Hyperparameter, ...]
    init: Callable[[np.ndarray], dict]
    update: Callable[[np.ndarray, np.ndarray, dict, Mapping], tuple[np.ndarray, dict]]
    effective_step: Callable[[dict, Mapping], np.ndarray | float]
    formula: str                   # the lecture's update, as matplotlib mathtext
    # Its name in the handout, per language: {'es': ..., 'en': ...}.  templates/messages/<lang>.yaml
    # may override it (labels.optimizer.<name>), and names the variants (gd, sgd-1, ...).
    label: Mapping[str, str]

    def resolve(self, given: Mapping) -> dict:
        """`given` with the missing defaults filled in. Validation is Hyperparameter.check's job."""
        defaults = {h.name: h.default for h in self.hyperparameters if h.default is not None}
        return {**defaults, **given}


def learning_rate(symbol: str) -> Hyperparameter:
    """The step size: λ in the lecture's momentum, α in its adaptive rules."""
    return Hyperparameter('lr', None, 'positive', symbol=symbol,
                          doc='Learning rate (step size); required.')


def decay(name: str, default: float, symbol: str, doc: str) -> Hyperparameter:
    """A weight of the past in an exponential moving average: 0 forgets, 1 would never update."""
    return Hyperparameter(name, default, 'unit', symbol=symbol, doc=doc)


EPS = Hyperparameter(
    'eps', 1e-8, 'nonnegative', symbol='ε',
    doc='Added to the denominator for numerical stability. With eps = 0 a coordinate whose '
        'gradients have all been exactly 0 gets 0/0 = NaN.')


def eps_placement(default: str) -> Hyperparameter:
    """Where ε goes; the lecture itself shows both forms, and libraries disagree."""
    return Hyperparameter('eps_placement', default, 'choice', choices=('inside', 'outside'),
                          doc="'inside': divide by sqrt(v + eps); 'outside': by sqrt(v) + eps.")


_ROOTS = {
    'inside': lambda v, eps: np.sqrt(v + eps),
    'outside': lambda v, eps: np.sqrt(v) + eps,
}


def root(v, eps, placement: str):
    """The adaptive rules' denominator: √(v + ε) ('inside') or √v + ε ('outside')."""
    return _ROOTS[placement](v, eps)
