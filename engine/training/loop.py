"""The member-axis machinery every trainer shares.

K runs that share their structure train as one computation: θ has shape (K, P), every
optimizer hyperparameter is a (K, 1) column, and one autograd pass returns all K losses and
gradients (the loss of the group is the sum of the members' losses, so each member's gradient
is its own).  A member whose loss or parameters stop being finite is frozen and reported as
diverged at that step; a member that reaches its target is frozen too.  Freezing selects rows
with `np.where`, so no member's numbers depend on the others: a run gives the same bits alone
or in any group.
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
    out = {}
    for name in specs[0]["optimizer"]["hp"]:
        values = [s["optimizer"]["hp"][name] for s in specs]
        if isinstance(values[0], str):
            if len(set(values)) != 1:
                raise ValueError(f"members of one group disagree on {name}: {sorted(set(values))}")
            out[name] = values[0]
        else:
            out[name] = np.asarray(values, dtype=float)[:, None]
    return out


def clip_by_norm(g: np.ndarray, max_norm: float | None) -> np.ndarray:
    """g · min(1, c/‖g‖) row by row (each member's whole gradient vector), as torch's
    clip_grad_norm_ does for one model."""
    if not max_norm:
        return g
    norms = np.sqrt(np.sum(g * g, axis=1, keepdims=True))
    return g * np.minimum(1.0, max_norm / np.maximum(norms, 1e-300))


class Members:
    """K members' flat parameters and optimizer states, stepping in lockstep.

    A model may have several parameter blocks that step in turn (the two players of a GAN);
    each block has its own optimizer state, all blocks share one `active` mask.
    """

    def __init__(self, specs: list[dict], blocks: list[np.ndarray], clip_norm: float | None = None):
        self.rule = OPTIMIZERS[specs[0]["optimizer"]["kind"]]
        self.hp = stack_hyperparameters(specs)
        self.thetas = list(blocks)
        self.states = [self.rule.init(theta) for theta in blocks]
        self.k = blocks[0].shape[0]
        self.active = np.ones(self.k, dtype=bool)
        self.diverged_at: list[int | None] = [None] * self.k
        self.clip_norm = clip_norm

    def freeze(self, mask: np.ndarray) -> None:
        self.active &= ~mask

    def check_finite(self, values: np.ndarray, step: int, parameters: bool = True) -> np.ndarray:
        """Freeze and record members whose loss (or parameters) are no longer finite.  Checking
        the loss alone suffices in a training step: non-finite parameters give a non-finite loss
        at the next one."""
        finite = np.isfinite(values)
        if parameters:
            for theta in self.thetas:
                finite &= np.all(np.isfinite(theta), axis=1)
        bad = self.active & ~finite
        for i in np.flatnonzero(bad):
            self.diverged_at[i] = step
        self.active &= ~bad
        return bad

    def effective_step_median(self) -> np.ndarray:
        """(K,): each member's median over coordinates of its rule's effective step (the
        lecture's α/√(v + ε) for the adaptive rules; the constant λ for SGD), first block."""
        step = np.asarray(self.rule.effective_step(self.states[0], self.hp), dtype=float)
        return np.median(np.broadcast_to(step, self.thetas[0].shape), axis=1)

    def step(self, block: int, grads: np.ndarray) -> None:
        """One optimizer update of `block` for the active members."""
        theta, state = self.thetas[block], self.states[block]
        new_theta, new_state = self.rule.update(theta, clip_by_norm(grads, self.clip_norm), state, self.hp)
        keep = self.active[:, None]
        self.thetas[block] = np.where(keep, new_theta, theta)
        self.states[block] = {
            key: (np.where(keep, new, state[key]) if isinstance(new, np.ndarray) and new.shape[:1] == (self.k,)
                  else new) for key, new in new_state.items()}


def run_members(loss, theta0: np.ndarray, specs: list[dict], max_steps: int,
                done=None, record_path: bool = False) -> list[MemberLog]:
    """Minimise a fixed loss: (K, P) → (K,) from θ₀, every member with its own settings.

    ``done(values, step) -> bool mask`` marks members that have reached their target.
    """
    members = Members(specs, [theta0])
    logs = [MemberLog() for _ in range(members.k)]
    checkpoints = log_checkpoints(max_steps)
    vjp_and_value = make_vjp(loss)
    ones = np.ones(members.k)

    for step in range(max_steps + 1):
        theta = members.thetas[0]
        vjp, values = vjp_and_value(theta)
        values = np.asarray(values)
        was_active = members.active.copy()
        bad = members.check_finite(values, step)
        reached = members.active & (done(values, step) if done else False)
        for i in np.flatnonzero(was_active):
            log = logs[i]
            if record_path:
                log.path.append(theta[i].tolist())
            if step in checkpoints or bad[i] or reached[i]:
                log.steps.append(step)
                log.values.append(float(values[i]) if np.isfinite(values[i]) else None)
            if reached[i]:
                log.reached_at = step
        members.freeze(reached)
        if not members.active.any() or step == max_steps:
            break
        members.step(0, vjp(ones))
    for log, diverged in zip(logs, members.diverged_at):
        log.diverged_at = diverged
    return logs
