"""The member-axis machinery every trainer shares.

K runs that share their structure train as one computation: θ has shape (K, P), every
optimizer hyperparameter is a (K, 1) column (members of one group may even use different
optimizer rules: each rule steps its own rows), and one autograd pass returns all K losses and
gradients (the loss of the group is the sum of the members' losses, so each member's gradient
is its own).  A member whose loss or parameters stop being finite is frozen and reported as
diverged at that step; a member that reaches its target is frozen too.  Freezing selects rows
with `np.where`, so no member's numbers depend on the others: a run gives the same bits alone
or in any group.  On a fixed loss (`run_members`), stopped members leave the computation once
they are half of it (`Members.subset`).
"""
from __future__ import annotations

import copy
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


def stack_hyperparameters(specs: list[dict], dtype=np.float64) -> dict:
    """Per-member hyperparameters: numbers become (K, 1) columns of ``dtype`` (the parameters'
    own, so that an update keeps their dtype), strings must agree."""
    out = {}
    for name in specs[0]["optimizer"]["hp"]:
        values = [s["optimizer"]["hp"][name] for s in specs]
        if isinstance(values[0], str):
            if len(set(values)) != 1:
                raise ValueError(f"members of one group disagree on {name}: {sorted(set(values))}")
            out[name] = values[0]
        else:
            out[name] = np.asarray(values, dtype=dtype)[:, None]
    return out


def clip_by_norm(g: np.ndarray, max_norm: float | None) -> np.ndarray:
    """g · min(1, c/‖g‖) row by row (each member's whole gradient vector), as torch's
    clip_grad_norm_ does for one model."""
    if not max_norm:
        return g
    norms = np.sqrt(np.sum(g * g, axis=1, keepdims=True))
    return g * np.minimum(1.0, max_norm / np.maximum(norms, np.finfo(g.dtype).tiny))


def _row_selector(rows):
    """A slice when the sorted `rows` are contiguous (the planner's order: views, no copies), else
    the index array."""
    rows = np.asarray(rows)
    return slice(int(rows[0]), int(rows[-1]) + 1) if rows[-1] - rows[0] + 1 == len(rows) else rows


def _per_row(value, n: int) -> bool:
    """Whether an optimizer state or hyperparameter holds one row per member (of n), rather than
    one value shared by all (a step counter, a string setting)."""
    return isinstance(value, np.ndarray) and value.shape[:1] == (n,)


@dataclass
class _RuleRows:
    """The members that step with one optimizer rule: their rows, hyperparameters and states."""

    rule: object
    rows: slice | np.ndarray       # a slice when the rows are contiguous (views, no copies)
    hp: dict
    states: list                   # one state per parameter block


class Members:
    """K members' flat parameters and optimizer states, stepping in lockstep.

    A model may have several parameter blocks that step in turn (the two players of a GAN);
    each block has its own optimizer state, all blocks share one `active` mask.  Members may use
    different optimizer rules: one forward and backward pass serves them all, and each rule
    updates its own rows.  Every rule is elementwise in the rows, so a member's numbers do not
    depend on which rules its neighbours use.
    """

    def __init__(self, specs: list[dict], blocks: list[np.ndarray], clip_norm: float | None = None):
        self.thetas = list(blocks)
        self.k = blocks[0].shape[0]
        self.active = np.ones(self.k, dtype=bool)
        self.diverged_at: list[int | None] = [None] * self.k
        self.clip_norm = clip_norm
        self.rules: list[_RuleRows] = []
        def variant(spec):  # the rule and its non-numeric settings (e.g. where ε goes)
            opt = spec["optimizer"]
            return opt["kind"], tuple(sorted((k, v) for k, v in opt["hp"].items() if isinstance(v, str)))

        for kind, choices in dict.fromkeys(variant(s) for s in specs):
            rows = [i for i, s in enumerate(specs) if variant(s) == (kind, choices)]
            sel = _row_selector(rows)
            rule = OPTIMIZERS[kind]
            self.rules.append(_RuleRows(rule, sel, stack_hyperparameters([specs[i] for i in rows], blocks[0].dtype),
                                        [rule.init(theta[sel]) for theta in blocks]))

    def subset(self, rows: np.ndarray) -> "Members":
        """The members of `rows` (sorted indices of the current rows) with their parameters,
        hyperparameters, optimizer states and status, the others dropped from the computation."""
        out = copy.copy(self)   # what is not per member (clip_norm, …) carries over as it is
        out.thetas = [theta[rows] for theta in self.thetas]
        out.k = len(rows)
        out.active = self.active[rows]
        out.diverged_at = [self.diverged_at[i] for i in rows]
        out.rules = []
        for r in self.rules:
            old = np.arange(self.k)[r.rows]                  # this rule's rows, ascending
            at = np.flatnonzero(np.isin(rows, old))          # where they are among the kept rows
            if not len(at):
                continue
            local = np.searchsorted(old, rows[at])           # the kept ones, within the rule's rows
            take = lambda value: value[local] if _per_row(value, len(old)) else value
            out.rules.append(_RuleRows(r.rule, _row_selector(at),
                                       {name: take(v) for name, v in r.hp.items()},
                                       [{key: take(v) for key, v in state.items()} for state in r.states]))
        return out

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
        elif finite.all():   # the usual training step: nobody to freeze
            return ~finite
        bad = self.active & ~finite
        for i in np.flatnonzero(bad):
            self.diverged_at[i] = step
        self.active &= ~bad
        return bad

    def effective_step(self, block: int = 0) -> np.ndarray:
        """(K, P): each member's per-coordinate effective step under its own rule (the lecture's
        α/√(v + ε) for the adaptive rules; the constant λ for SGD and momentum)."""
        out = np.empty_like(self.thetas[block])
        for r in self.rules:
            step = np.asarray(r.rule.effective_step(r.states[block], r.hp), dtype=float)
            out[r.rows] = np.broadcast_to(step, out[r.rows].shape)
        return out

    def effective_step_median(self) -> np.ndarray:
        """(K,): the median over coordinates of `effective_step()`, first block.

        A rule whose step is one number per member (SGD's and momentum's λ, a (K, 1) column)
        has that number as its median, exactly: the (K, P) array is built and partitioned only
        for the adaptive rules.  A study that times its runs evaluates at every step, and
        partitioning P equal values took a fifth of such an evaluation (MLP on MNIST-1D, one
        member: 149 → 115 µs)."""
        theta = self.thetas[0]
        out = np.empty(self.k, dtype=theta.dtype)   # in θ's dtype, as `effective_step` gives them
        for r in self.rules:
            step = np.asarray(r.rule.effective_step(r.states[0], r.hp), dtype=float)
            if step.ndim == 2 and step.shape[1] == 1:
                out[r.rows] = step[:, 0]
            else:
                steps = np.empty_like(theta[r.rows])
                steps[...] = step
                out[r.rows] = np.median(steps, axis=1)
        return out

    def step(self, block: int, grads: np.ndarray) -> None:
        """One optimizer update of `block` for the active members, each with its own rule."""
        theta = self.thetas[block]
        grads = clip_by_norm(grads, self.clip_norm)
        updated = theta if len(self.rules) == 1 else theta.copy()
        some_frozen = not self.active.all()   # usually none: then no row is selected
        for r in self.rules:
            old_theta, state = theta[r.rows], r.states[block]
            new_theta, new_state = r.rule.update(old_theta, grads[r.rows], state, r.hp)
            keep = self.active[r.rows][:, None] if some_frozen else None
            if some_frozen and not keep.all():  # frozen rows keep their values
                n = keep.shape[0]
                new_theta = np.where(keep, new_theta, old_theta)
                new_state = {key: np.where(keep, new, state[key]) if _per_row(new, n) else new
                             for key, new in new_state.items()}
            r.states[block] = new_state
            if len(self.rules) == 1:
                updated = new_theta
            else:
                updated[r.rows] = new_theta
        self.thetas[block] = updated


# A group of a fixed loss keeps training members that stopped (target reached, or diverged) until
# they are this share of its rows; then it drops them (rows are independent, so no number of the
# others changes): a long tail of slow members no longer pays for the finished ones.
COMPACT_WHEN_STOPPED = 0.5
COMPACT_MIN_ROWS = 8


def run_members(loss, theta0: np.ndarray, specs: list[dict], max_steps: int,
                done=None, record_path: bool = False, value_and_gradient=None) -> list[MemberLog]:
    """Minimise a fixed loss: (K, P) → (K,) from θ₀, every member with its own settings.

    ``loss`` must treat rows independently (it may be called with some rows only); its gradient
    is autograd's, or ``value_and_gradient(θ) -> (loss, ∇loss)`` in closed form when given;
    ``done(values, step) -> bool mask`` marks members that have reached their target (``values``
    holds all K members, NaN for those no longer trained).
    """
    members = Members(specs, [theta0])
    k = members.k
    ids = np.arange(k)   # the member each row holds
    logs = [MemberLog() for _ in range(k)]
    checkpoints = log_checkpoints(max_steps)
    if value_and_gradient is None:
        vjp_and_value = make_vjp(loss)

        def value_and_gradient(theta):   # autograd's: every row's gradient of its own loss
            vjp, values = vjp_and_value(theta)
            return values, vjp(np.ones(theta.shape[0]))

    for step in range(max_steps + 1):
        theta = members.thetas[0]
        values, gradient = value_and_gradient(theta)
        values = np.asarray(values)
        was_active = members.active.copy()
        bad = members.check_finite(values, step)
        if done:
            every = np.full(k, np.nan)
            every[ids] = values
            reached = members.active & done(every, step)[ids]
        else:
            reached = np.zeros(members.k, dtype=bool)
        at_checkpoint = step in checkpoints
        # Most steps log nothing: visit the members only when one of them has something to log.
        for i in np.flatnonzero(was_active) if record_path or at_checkpoint or (bad | reached).any() else ():
            log = logs[ids[i]]
            if record_path:
                log.path.append(theta[i].tolist())
            if at_checkpoint or bad[i] or reached[i]:
                log.steps.append(step)
                log.values.append(float(values[i]) if np.isfinite(values[i]) else None)
            if reached[i]:
                log.reached_at = step
            if bad[i]:
                log.diverged_at = step
        members.freeze(reached)
        if not members.active.any() or step == max_steps:
            break
        members.step(0, gradient)
        if members.k >= COMPACT_MIN_ROWS and members.active.sum() <= COMPACT_WHEN_STOPPED * members.k:
            rows = np.flatnonzero(members.active)
            members, ids = members.subset(rows), ids[rows]
    return logs
