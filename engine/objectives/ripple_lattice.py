r"""A finite sum on a rippled bowl: a minimum at every point of the integer lattice, the global one at 0.

In d dimensions, coordinate by coordinate,

  h(z) = (a/2) ψ(z)² + b (1 − cos 2πz),   ψ(z) = z − sin(2πz)/(2π),
  f_i(x) = Σ_j [ h(x_j) + s_ij p(x_j) ],   p(z) = sin(2πz) sin²(πz),   Σ_i s_ij = 0,

so the mean is F(x) = (1/N) Σ_i f_i(x) = Σ_j h(x_j).  ψ' = 1 − cos 2πz vanishes at the integers,
so h'(n) = 0 and h''(n) = 4π²b > 0 at every integer n: the minima of F are the lattice points
n ∈ ℤᵈ, with F(n) = (a/2)‖n‖² (exactly), the global one at 0 with F* = 0; between two
neighbouring integers h has one maximum (tests/test_claim_local_optima.py checks both against
SciPy).  The bowl makes the minima far from 0 shallow: the one at n is local, and its basin
along a coordinate is the interval between the two maxima around n.

Each term is F plus its own "tilt" s_i p(x), switched off at the lattice: p vanishes at every
integer with its first and second derivatives, so every term is stationary at every minimum with
the same curvature 4π²b there.  A minibatch gradient is then ∇F plus zero-mean noise that is
largest between minima and vanishes at each of them alike: no minimum is favoured by the noise,
and minibatch SGD at a constant step can converge to any minimum (as a network that fits every
example does), so both methods can be run until ‖∇F‖ is below a tolerance.  The tilts s_ij are
fixed by ``terms_seed`` (each coordinate's standardised to mean 0 and standard deviation
``spread``); starts are uniform on [−box, box]ᵈ, one per run seed.
"""
from __future__ import annotations

import autograd.numpy as np
import numpy as onp

from engine.objectives.base import Objective
from engine.objectives.tilted_wells import FiniteSumInstance

TWO_PI = 2 * onp.pi


def psi(z):
    return z - np.sin(TWO_PI * z) / TWO_PI


def ridge(z, a, b):
    """h(z): the mean objective along one coordinate."""
    return 0.5 * a * psi(z) ** 2 + b * (1 - np.cos(TWO_PI * z))


def ridge_slope(z, a, b):
    """h'(z) = a ψ(z) ψ'(z) + 2πb sin 2πz."""
    return a * psi(z) * (1 - onp.cos(TWO_PI * z)) + TWO_PI * b * onp.sin(TWO_PI * z)


def tilt(z):
    """p(z) = sin(2πz) sin²(πz): zero, with zero slope and curvature, at every integer."""
    return np.sin(TWO_PI * z) * np.sin(onp.pi * z) ** 2


def tilt_slope(z):
    """p'(z) = 2π cos(2πz) sin²(πz) + π sin²(2πz)."""
    return TWO_PI * onp.cos(TWO_PI * z) * onp.sin(onp.pi * z) ** 2 + onp.pi * onp.sin(TWO_PI * z) ** 2


def ridge_maxima(a: float, b: float, reach: int = 8) -> onp.ndarray:
    """The maximum of h in each interval (n, n + 1), n = −reach … reach − 1, by bisection on h'
    (h' > 0 just right of n, < 0 just left of n + 1; one root in between, tested)."""
    from scipy.optimize import brentq   # here: only the analysis needs it

    eps = 1e-9
    return onp.array([brentq(ridge_slope, n + eps, n + 1 - eps, args=(a, b), xtol=1e-14)
                      for n in range(-reach, reach)])


def flow_minimum(x, a: float, b: float, reach: int = 8) -> onp.ndarray:
    """The lattice point gradient flow ẋ = −∇F reaches from x (…, d): coordinate by coordinate, the
    integer between the two maxima around x_j (F is a sum over coordinates).  The basin of a start,
    against which a method's end tells whether it left it."""
    maxima = ridge_maxima(a, b, reach)
    return onp.searchsorted(maxima, onp.asarray(x, dtype=float)) - reach


def term_tilts(n_terms: int, dim: int, spread: float, seed: int) -> onp.ndarray:
    """(N, d) tilts, each column of mean 0 and standard deviation ``spread``."""
    s = onp.random.default_rng(seed).standard_normal((int(n_terms), int(dim)))
    s = s - s.mean(axis=0)
    return s * (spread / s.std(axis=0)) if spread > 0 else onp.zeros_like(s)


def build(dim: int = 2, a: float = 1.0, b: float = 0.1, n_terms: int = 64, spread: float = 1.0,
          box: float = 2.5, terms_seed: int = 0) -> FiniteSumInstance:
    a, b, d = float(a), float(b), int(dim)
    tilts = term_tilts(n_terms, d, float(spread), int(terms_seed))

    def batch_tilt(x, idx):
        """(K, d): each member's mean tilt over its minibatch (0 for the full sum)."""
        return onp.zeros(x.shape) if idx is None else tilts[idx].mean(axis=1)

    def loss(x, idx=None, t=0.0):
        return np.sum(ridge(x, a, b) + batch_tilt(x, idx) * tilt(x), axis=-1)

    def loss_and_gradient(x, idx=None, t=0.0):
        s = batch_tilt(x, idx)
        return onp.sum(ridge(x, a, b) + s * tilt(x), axis=-1), ridge_slope(x, a, b) + s * tilt_slope(x)

    def gap(x, t=0.0):
        return onp.sum(ridge(onp.asarray(x), a, b), axis=-1)

    def basin(x):
        """0 when x is at the global minimum's lattice point, else 1."""
        return onp.any(onp.rint(onp.asarray(x)) != 0, axis=-1).astype(int)

    return FiniteSumInstance(
        loss, 0.0, onp.zeros(d), lambda rng: rng.uniform(-float(box), float(box), size=d), d,
        loss=loss, gap=gap, n_terms=int(n_terms), basin=basin, loss_and_gradient=loss_and_gradient)


def minimum_value(point, a: float = 1.0) -> float:
    """F(n) = (a/2)‖n‖² at the lattice point nearest to ``point``."""
    n = onp.rint(onp.asarray(point, dtype=float))
    return float(0.5 * a * onp.sum(n ** 2))


RIPPLE_LATTICE = Objective("ripple_lattice", {"dim": 2, "a": 1.0, "b": 0.1, "n_terms": 64, "spread": 1.0,
                                              "box": 2.5, "terms_seed": 0}, build, doc=__doc__)
