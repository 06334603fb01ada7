"""Train a group of runs on an analytic objective (quadratic, Rosenbrock): deterministic, no data.

Each member starts from x₀ drawn with its own seed, and stops when the relative suboptimality
(f(x_t) − f*)/(f(x₀) − f*) falls to the budget's ``target`` — the hitting time is the
"steps to a fixed accuracy" that the momentum claim compares across condition numbers.

Objectives that define ``loss`` (finite sums with minibatches, objectives that change during the
run, per-coordinate tracking, basins) train through ``_train_extended`` below; the plain path is
unchanged for the others.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from autograd import make_vjp

from engine.objectives import OBJECTIVES
from engine.training.loop import COMPACT_MIN_ROWS, COMPACT_WHEN_STOPPED, Members, log_checkpoints, run_members


def train_objective_group(specs: list[dict]) -> list[dict]:
    model = specs[0]["model"]
    budget = specs[0]["budget"]
    problem = OBJECTIVES[model["kind"]].build(**model["params"])
    if getattr(problem, "loss", None) is not None:
        return _train_extended(problem, specs)
    theta0 = np.stack([problem.initial_point(np.random.default_rng(s["seed"])) for s in specs])
    start_gap = problem.value(theta0) - problem.minimum
    target = budget.get("target")

    def done(values, _step):
        return (values - problem.minimum) <= target * start_gap if target else np.zeros(len(values), bool)

    logs = run_members(problem.value, theta0, specs, budget["max_steps"], done,
                       record_path=problem.dim == 2, value_and_gradient=problem.value_and_gradient)
    rels = [[None if v is None else float((v - problem.minimum) / gap0) for v in log.values]
            for log, gap0 in zip(logs, start_gap)]
    outcomes = []
    for log, rel in zip(logs, rels):
        final = {"steps": log.steps[-1], "relative_gap": rel[-1],
                 "steps_to_target": log.reached_at, "reached_target": log.reached_at is not None}
        outcomes.append({
            "status": "diverged" if log.diverged_at is not None else "ok",
            "diverged_at_step": log.diverged_at,
            "history": {"step": log.steps, "relative_gap": rel, **({"path": log.path} if log.path else {})},
            "final": final,
        })
    return outcomes


# --------------------------------------------------------------------------- extended objectives
#
# An objective instance that defines ``loss`` (besides the base fields) trains through
# `_train_extended`, which adds to the plain trainer above:
#
# - finite sums: ``n_terms`` = N; the spec's batch regime ('full'/None, or B) picks how many of
#   the N terms each gradient averages over.  Each member draws its minibatches from its own
#   generator, made from (seed, 1), as a fresh permutation of the N terms every epoch, so its
#   draws do not depend on the group it trains in.  A budget in ``epochs`` gives every batch
#   regime the same number of terms processed (epochs · N).
# - time: ``loss(x, idx, t)`` receives the fraction t = step/steps of the run, for objectives
#   that change during training (``phases``: the fractions where they change).
# - per-coordinate tracking: ``coordinate_error(x, t)`` → (K, d) |x − x*|; the trainer logs it,
#   relative to its start, at the checkpoints (with the optimizer's effective step per
#   coordinate, which it logs for every extended objective), and records for each coordinate the step after which its relative error stays
#   ≤ ``coordinate_tol`` (None if it has not settled by the end).
# - basins: ``basin(x)`` → (K,) labels of the final points.
# - convergence: with ``budget.until = {grad_norm: tol}`` a member stops at the first step where the
#   full objective's gradient norm ‖∇f(x)‖ is ≤ tol (for minibatch members that gradient is computed
#   for the check alone; it is not an optimizer step), and records that step; the step budget is
#   then a cap, the same terms processed for every batch regime.
# - gradients: ``loss_and_gradient(x, idx, t)`` in closed form when the instance has it (tested
#   against autograd's), else autograd's.
# - members that stopped (converged or diverged) leave the computation once they are half of its
#   rows, as in `run_members`: rows are independent, so no other member's number changes.
#
# ``gap(x, t)`` = f(x; t) − min f(·; t) of the full objective is computed at every step: its
# mean over the run and over each phase are final metrics (the tuning score of the claims).

def _checkpoints(total: int) -> list[int]:
    """Log-spaced (early detail) and evenly spaced (late detail) logging steps."""
    return sorted(log_checkpoints(total) | set(np.round(np.linspace(0, total, 101)).astype(int).tolist()))


def _total_steps(budget: dict, n_terms: int | None, batch_size: int | None) -> int:
    if "max_steps" in budget:
        return int(budget["max_steps"])
    per_epoch = 1 if n_terms is None else n_terms // batch_size
    return int(budget["epochs"]) * per_epoch


def _gradient_function(problem):
    """(x, idx, t) → (values (K,), gradients (K, d)): the instance's closed form, else autograd's."""
    if getattr(problem, "loss_and_gradient", None) is not None:
        return problem.loss_and_gradient

    def value_and_gradient(theta, idx, t):
        vjp, values = make_vjp(lambda th: problem.loss(th, idx, t))(theta)
        return values, vjp(np.ones(theta.shape[0]))
    return value_and_gradient


def _converged(members, ids, full_gradient, tol: float, grad_norms) -> np.ndarray:
    """The active rows whose full gradient norm is ≤ tol (``grad_norms``, by member, keeps each
    active member's latest norm; row r holds member ids[r])."""
    norms = np.sqrt(np.sum(np.asarray(full_gradient) ** 2, axis=1))
    grad_norms[ids[members.active]] = norms[members.active]
    return members.active & (norms <= tol)


def _compacted(members, ids, order, final_theta, diverged_at):
    """The rows still active, once the stopped ones are half of them (their final points and
    divergence steps saved by member), else everything as it is."""
    if members.k < COMPACT_MIN_ROWS or members.active.sum() > COMPACT_WHEN_STOPPED * members.k:
        return members, ids, order
    rows = np.flatnonzero(members.active)
    gone = np.flatnonzero(~members.active)
    final_theta[ids[gone]] = members.thetas[0][gone]
    for r in gone:
        diverged_at[ids[r]] = members.diverged_at[r]
    return members.subset(rows), ids[rows], order[rows] if isinstance(order, np.ndarray) else order


def _train_extended(problem, specs: list[dict]) -> list[dict]:
    # Diverging members overflow before they are frozen: that is recorded, not warned about.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _run_extended(problem, specs)


@dataclass
class _ExtendedRun:
    """A group on an extended objective: the rows still training (``members``; row r holds member
    ``ids[r]``, rows leave once stopped) and, by member, what the outcomes need."""
    problem: object
    specs: list
    total: int               # steps in the budget
    batch_size: int | None   # terms per gradient (None: not a finite sum)
    members: Members
    ids: np.ndarray
    final_theta: np.ndarray
    diverged_at: list
    converged_at: list
    grad_norms: np.ndarray   # each member's latest full gradient norm (with budget.until.grad_norm)
    history: list
    gap_sum: np.ndarray      # (K, phases): the sum of the gap over the steps of each phase ...
    gap_count: np.ndarray    # ... and their number
    err0: np.ndarray | None  # the tracked coordinates' errors at the start
    last_above: np.ndarray | None  # per coordinate, the last step its relative error was > coordinate_tol
    order: np.ndarray | None = None  # this epoch's permutation of the terms, per row

    @classmethod
    def start(cls, problem, specs: list[dict]) -> _ExtendedRun:
        n, regime, k = problem.n_terms, specs[0].get("batch"), len(specs)
        batch_size = None if n is None else (n if regime in (None, "full") else min(int(regime), n))
        theta0 = np.stack([problem.initial_point(np.random.default_rng(s["seed"])) for s in specs])
        tracked = getattr(problem, "coordinate_error", None)
        n_phases = len(getattr(problem, "phases", ())) + 1
        return cls(
            problem, specs, total=_total_steps(specs[0]["budget"], n, batch_size), batch_size=batch_size,
            members=Members(specs, [theta0]), ids=np.arange(k), final_theta=theta0.copy(),
            diverged_at=[None] * k, converged_at=[None] * k, grad_norms=np.full(k, np.nan),
            history=[{"step": [], "gap": []} for _ in range(k)],
            gap_sum=np.zeros((k, n_phases)), gap_count=np.zeros((k, n_phases)),
            err0=np.maximum(tracked(theta0, 0.0), 1e-300) if tracked else None,
            last_above=np.full(theta0.shape, -1) if tracked and getattr(problem, "coordinate_tol", None) else None)

    @property
    def grad_tol(self) -> float | None:
        return self.specs[0]["budget"].get("until", {}).get("grad_norm")

    def phase_of(self, t: float) -> int:
        phases = [0.0, *getattr(self.problem, "phases", ()), np.inf]
        return int(np.searchsorted(phases, t, side="right") - 1)

    def observe(self, step: int, t: float, theta: np.ndarray, gradient_of, checkpoints: set) -> None:
        """The gap, the tracked coordinates and the convergence test at `step`; log them at a
        checkpoint (for the active members) or when members converge (for those), and stop those."""
        problem, members, ids = self.problem, self.members, self.ids
        active = members.active.copy()
        gaps = np.asarray(problem.gap(theta, t), dtype=float)
        p = self.phase_of(t)
        self.gap_sum[ids, p] += np.where(active, gaps, 0.0)
        self.gap_count[ids, p] += active    # per member: a member that stopped no longer counts steps
        rel = None
        if self.err0 is not None:
            rel = problem.coordinate_error(theta, t) / self.err0[ids]
            if self.last_above is not None:
                above = active[:, None] & (rel > problem.coordinate_tol)
                self.last_above[ids] = np.where(above, step, self.last_above[ids])
        done = np.zeros(members.k, bool)
        if self.grad_tol is not None:
            done = _converged(members, ids, gradient_of(theta, None, t)[1], self.grad_tol, self.grad_norms)
            for i in np.flatnonzero(done):
                self.converged_at[ids[i]] = step
        if step in checkpoints or done.any():
            eff = members.effective_step(0)
            for i in np.flatnonzero(active if step in checkpoints else done):
                h = self.history[ids[i]]
                h["step"].append(step)
                h["gap"].append(float(gaps[i]) if np.isfinite(gaps[i]) else None)
                h.setdefault("effective_step", []).append(eff[i].tolist())
                if rel is not None:
                    h.setdefault("coordinate_error", []).append(rel[i].tolist())
        members.freeze(done)

    def terms(self, step: int, batch_rngs) -> np.ndarray | None:
        """The terms step `step` averages over, per row (None: all of them)."""
        n, batch_size = self.problem.n_terms, self.batch_size
        if batch_size is None or batch_size == n:
            return None
        position = step % (n // batch_size)
        if position == 0:
            self.order = np.stack([batch_rngs[i].permutation(n) for i in self.ids])
        return self.order[:, position * batch_size:(position + 1) * batch_size]

    def advance(self, step: int, t: float, theta: np.ndarray, gradient_of, batch_rngs) -> None:
        values, grads = gradient_of(theta, self.terms(step, batch_rngs), t)
        self.members.check_finite(np.asarray(values), step)
        self.members.step(0, grads)
        self.members, self.ids, self.order = _compacted(self.members, self.ids, self.order, self.final_theta,
                                                        self.diverged_at)

    def outcomes(self) -> list[dict]:
        self.final_theta[self.ids] = self.members.thetas[0]
        for r, i in enumerate(self.ids):
            self.diverged_at[i] = self.members.diverged_at[r]
        basins = self.problem.basin(self.final_theta) if getattr(self.problem, "basin", None) else None
        return [self._outcome(i, basins) for i in range(len(self.specs))]

    def _outcome(self, i: int, basins) -> dict:
        diverged, converged_at, batch = self.diverged_at[i], self.converged_at[i], self.batch_size or 1
        steps = diverged if diverged is not None else (converged_at if converged_at is not None else self.total)
        final = {"steps": steps, "batch_size": batch, "examples": steps * batch}
        if self.grad_tol is not None:
            final.update({"converged": converged_at is not None, "grad_norm": float(self.grad_norms[i])})
        if diverged is None:
            gap_sum, gap_count = self.gap_sum[i], self.gap_count[i]
            final.update({
                "final_gap": self.history[i]["gap"][-1],
                "mean_gap": float(gap_sum.sum() / gap_count.sum()),
                "mean_gap_phases": (gap_sum / np.maximum(gap_count, 1)).tolist(),
                "x": self.final_theta[i].tolist()})
            if basins is not None:
                final["basin"] = int(basins[i])
            if self.last_above is not None:
                final["coordinate_steps"] = [None if a >= self.total else int(a) + 1 for a in self.last_above[i]]
        return {"status": "diverged" if diverged is not None else "ok",
                "diverged_at_step": diverged, "history": self.history[i], "final": final}


def _run_extended(problem, specs: list[dict]) -> list[dict]:
    run = _ExtendedRun.start(problem, specs)
    checkpoints = set(_checkpoints(run.total))
    gradient_of = _gradient_function(problem)
    batch_rngs = [np.random.default_rng([s["seed"], 1]) for s in specs]
    for step in range(run.total + 1):
        t = step / run.total if run.total else 0.0
        theta = run.members.thetas[0]
        run.observe(step, t, theta, gradient_of, checkpoints)
        if step == run.total or not run.members.active.any():
            break
        run.advance(step, t, theta, gradient_of, batch_rngs)
    return run.outcomes()
