"""The tuning protocol's choice, shared by the planner (which seeds to run next) and the claims
(which runs to report)."""
from __future__ import annotations


def best_run(records: list[dict], metric: str, mode: str) -> dict | None:
    """The tuning choice: the record with the best final validation metric; diverged and failed
    runs are never chosen.  Ties go to the first in plan order."""
    scored = [r for r in records if r["status"] == "ok" and r["final"].get(metric) is not None]
    if not scored:
        return None
    pick = min if mode == "min" else max
    return pick(scored, key=lambda r: r["final"][metric])
