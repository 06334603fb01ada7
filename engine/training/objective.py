"""Train a group of runs on an analytic objective (quadratic, Rosenbrock): deterministic, no data.

Each member starts from x₀ drawn with its own seed, and stops when the relative suboptimality
(f(x_t) − f*)/(f(x₀) − f*) falls to the budget's ``target`` — the hitting time is the
"steps to a fixed accuracy" that the momentum claim compares across condition numbers.

Objectives that define ``loss`` (finite sums with minibatches, objectives that change during the
run, per-coordinate tracking, basins) train through ``_train_extended`` below; the plain path is
unchanged for the others.
"""
from __future__ import annotations

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


def _run_extended(problem, specs: list[dict]) -> list[dict]:
    s0 = specs[0]
    k = len(specs)
    n = problem.n_terms
    regime = s0.get("batch")
    batch_size = None if n is None else (n if regime in (None, "full") else min(int(regime), n))
    total = _total_steps(s0["budget"], n, batch_size)
    per_epoch = 1 if n is None else n // batch_size
    theta0 = np.stack([problem.initial_point(np.random.default_rng(s["seed"])) for s in specs])
    batch_rngs = [np.random.default_rng([s["seed"], 1]) for s in specs]
    members = Members(specs, [theta0])
    ids = np.arange(k)                  # the member each row holds (rows leave once stopped)
    final_theta, diverged_at = theta0.copy(), [None] * k
    checkpoints = set(_checkpoints(total))
    phases = [0.0, *getattr(problem, "phases", ()), np.inf]
    phase_of = lambda t: int(np.searchsorted(phases, t, side="right") - 1)
    n_phases = len(phases) - 1
    tracked = getattr(problem, "coordinate_error", None)
    tol = getattr(problem, "coordinate_tol", None)
    err0 = np.maximum(tracked(theta0, 0.0), 1e-300) if tracked else None
    last_above = np.full(theta0.shape, -1) if tracked and tol else None
    gap_sum = np.zeros((k, n_phases))
    gap_count = np.zeros((k, n_phases))
    history = [{"step": [], "gap": []} for _ in range(k)]
    order = None
    full_batch = batch_size is None or batch_size == n
    gradient_of = _gradient_function(problem)
    grad_tol = s0["budget"].get("until", {}).get("grad_norm")
    converged_at = [None] * k
    grad_norms = np.full(k, np.nan)

    for step in range(total + 1):
        t = step / total if total else 0.0
        theta = members.thetas[0]
        active = members.active.copy()
        gaps = np.asarray(problem.gap(theta, t), dtype=float)
        p = phase_of(t)
        gap_sum[ids, p] += np.where(active, gaps, 0.0)
        gap_count[ids, p] += active    # per member: a member that stopped no longer counts steps
        if tracked:
            rel = tracked(theta, t) / err0[ids]
            if last_above is not None:
                last_above[ids] = np.where(active[:, None] & (rel > tol), step, last_above[ids])
        done = np.zeros(members.k, bool)
        if grad_tol is not None:
            done = _converged(members, ids, gradient_of(theta, None, t)[1], grad_tol, grad_norms)
            for i in np.flatnonzero(done):
                converged_at[ids[i]] = step
        if step in checkpoints or done.any():
            eff = members.effective_step(0)
            for i in np.flatnonzero(active if step in checkpoints else done):
                h = history[ids[i]]
                h["step"].append(step)
                h["gap"].append(float(gaps[i]) if np.isfinite(gaps[i]) else None)
                h.setdefault("effective_step", []).append(eff[i].tolist())
                if tracked:
                    h.setdefault("coordinate_error", []).append(rel[i].tolist())
        members.freeze(done)
        if step == total or not members.active.any():
            break
        if full_batch:
            idx = None
        else:
            position = step % per_epoch
            if position == 0:
                order = np.stack([batch_rngs[i].permutation(n) for i in ids])
            idx = order[:, position * batch_size:(position + 1) * batch_size]
        values, grads = gradient_of(theta, idx, t)
        members.check_finite(np.asarray(values), step)
        members.step(0, grads)
        members, ids, order = _compacted(members, ids, order, final_theta, diverged_at)

    final_theta[ids] = members.thetas[0]
    for r, i in enumerate(ids):
        diverged_at[i] = members.diverged_at[r]
    basins = problem.basin(final_theta) if getattr(problem, "basin", None) else None
    outcomes = []
    for i in range(k):
        diverged = diverged_at[i]
        steps = diverged if diverged is not None else (converged_at[i] if converged_at[i] is not None else total)
        final = {"steps": steps, "batch_size": batch_size or 1, "examples": steps * (batch_size or 1)}
        if grad_tol is not None:
            final.update({"converged": converged_at[i] is not None, "grad_norm": float(grad_norms[i])})
        if diverged is None:
            final.update({
                "final_gap": history[i]["gap"][-1],
                "mean_gap": float(gap_sum[i].sum() / gap_count[i].sum()),
                "mean_gap_phases": (gap_sum[i] / np.maximum(gap_count[i], 1)).tolist(),
                "x": final_theta[i].tolist()})
            if basins is not None:
                final["basin"] = int(basins[i])
            if last_above is not None:
                final["coordinate_steps"] = [None if a >= total else int(a) + 1 for a in last_above[i]]
        outcomes.append({"status": "diverged" if diverged is not None else "ok",
                         "diverged_at_step": diverged, "history": history[i], "final": final})
    return outcomes
