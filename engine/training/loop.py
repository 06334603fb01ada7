"""The member-axis training loop shared by every model kind.

K runs that share their structure train as one computation: θ has shape (K, P), every
optimizer hyperparameter is a (K, 1) column, and one autograd pass returns all K losses and
gradients.  A member whose loss or parameters stop being finite is frozen and reported as
diverged at that step; a member that reaches its target is frozen as converged.  Freezing uses
`np.where` row by row, so no member's numbers depend on the others: a run gives the same bits
alone or in any group.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from autograd import make_vjp

from engine.optim import OPTIMIZERS


@dataclass
class MemberLog:
    """What one member records as it trains."""

    steps: list = field(default_factory=list)
    values: list = field(default_factory=list)
    path: list = field(default_factory=list)
    diverged_at: int | None = None
    reached_at: int | None = None


def log_checkpoints(max_steps: int, n: int = 150) -> set[int]:
    """Steps at which to log: every step early on, then log-spaced (curves are read on log axes)."""
    return set(np.unique(np.round(np.geomspace(1, max_steps, n)).astype(int)).tolist()) | {0, max_steps}


def stack_hyperparameters(specs: list[dict]) -> dict:
    """Per-member hyperparameters: numbers become (K, 1) columns, strings must agree."""
    names = specs[0]["optimizer"]["hp"].keys()
    out = {}
    for name in names:
        values = [s["optimizer"]["hp"][name] for s in specs]
        if isinstance(values[0], str):
            if len(set(values)) != 1:
                raise ValueError(f"members of one group disagree on {name}: {sorted(set(values))}")
            out[name] = values[0]
        else:
            out[name] = np.asarray(values, dtype=float)[:, None]
    return out


def run_members(loss, theta0: np.ndarray, specs: list[dict], max_steps: int,
                done=None, record_path: bool = False) -> list[MemberLog]:
    """Minimise loss: (K, P) → (K,) from θ₀ for every member with its own optimizer settings.

    ``done(values, step) -> bool mask`` marks members that have reached their target.
    """
    rule = OPTIMIZERS[specs[0]["optimizer"]["kind"]]
    hp = stack_hyperparameters(specs)
    k = theta0.shape[0]
    theta, state = theta0, rule.init(theta0)
    active = np.ones(k, dtype=bool)
    logs = [MemberLog() for _ in range(k)]
    checkpoints = log_checkpoints(max_steps)
    vjp_and_value = make_vjp(loss)
    ones = np.ones(k)

    for step in range(max_steps + 1):
        vjp, values = vjp_and_value(theta)
        values = np.asarray(values)
        bad = active & ~(np.isfinite(values) & np.all(np.isfinite(theta), axis=1))
        reached = active & ~bad & (done(values, step) if done else False)
        for i in np.flatnonzero(active):
            log = logs[i]
            if record_path:
                log.path.append(theta[i].tolist())
            if step in checkpoints or bad[i] or reached[i]:
                log.steps.append(step)
                log.values.append(float(values[i]) if np.isfinite(values[i]) else None)
            if bad[i]:
                log.diverged_at = step
            elif reached[i]:
                log.reached_at = step
        active &= ~(bad | reached)
        if not active.any() or step == max_steps:
            break
        grads = vjp(ones)
        new_theta, new_state = rule.update(theta, grads, state, hp)
        keep = active[:, None]
        theta = np.where(keep, new_theta, theta)
        state = {key: (np.where(keep, new, state[key]) if isinstance(new, np.ndarray) and new.shape[:1] == (k,)
                       else new) for key, new in new_state.items()}
    return logs
