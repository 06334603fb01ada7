"""Train a group of runs on an analytic objective (quadratic, Rosenbrock): deterministic, no data.

Each member starts from x₀ drawn with its own seed, and stops when the relative suboptimality
(f(x_t) − f*)/(f(x₀) − f*) falls to the budget's ``target`` — the hitting time is the
"steps to a fixed accuracy" that the momentum claim compares across condition numbers.
"""
from __future__ import annotations

import numpy as np

from engine.objectives import OBJECTIVES
from engine.training.loop import run_members


def train_objective_group(specs: list[dict]) -> list[dict]:
    model = specs[0]["model"]
    budget = specs[0]["budget"]
    problem = OBJECTIVES[model["kind"]].build(**model["params"])
    theta0 = np.stack([problem.initial_point(np.random.default_rng(s["seed"])) for s in specs])
    start_gap = problem.value(theta0) - problem.minimum
    target = budget.get("target")

    def done(values, _step):
        return (values - problem.minimum) <= target * start_gap if target else np.zeros(len(values), bool)

    logs = run_members(problem.value, theta0, specs, budget["max_steps"], done,
                       record_path=problem.dim == 2)
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
