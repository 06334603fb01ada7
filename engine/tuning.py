"""The tuning protocol's choice, shared by the planner (which seeds to run next) and the claims
(which runs to report).

Tuning reads validation metrics only (the validator refuses any other).  Ties are common where
the metric is coarse (modes of a GAN's ring: 8 of 8 at several rates), and a tie must not silently
go to the smallest rate, so a study may name a second validation metric that breaks them:
``tune: {metric: val_modes, mode: max, tie_break: {metric: val_mmd, mode: min}}``.  What still
ties goes to the first in plan order.
"""
from __future__ import annotations

from engine.record import Record


def _score(record: Record, metric: str, mode: str) -> float:
    value = record.metric(metric)
    if value is None:
        return float("inf")
    return value if mode == "min" else -value


def best_run(records: list[Record], metric: str, mode: str, tie_break: dict | None = None) -> Record | None:
    """The record with the best final `metric` (then the best `tie_break` metric); diverged and
    failed runs, and runs whose metric is not finite, are never chosen.  A run that ended ok
    without the metric is an error (a metric its trainer does not measure), not a silent skip."""
    scored = [r for r in records if r.status == "ok" and r.metric(metric) is not None]
    if not scored:
        return None
    second = (lambda r: _score(r, tie_break["metric"], tie_break["mode"])) if tie_break else (lambda r: 0.0)
    return min(scored, key=lambda r: (_score(r, metric, mode), second(r)))


def choose(records: list[Record], tune: dict) -> Record | None:
    """`best_run` with a study's `tune:` entry."""
    return best_run(records, tune["metric"], tune["mode"], tune.get("tie_break"))
