"""The tuning protocol's choice, shared by the planner (which runs to train next) and the claims
(which runs to report).

A tuned study declares ``tune: {metric, mode, seeds: k, extend: e}``.  Every grid point runs with
the study's first k seeds, and the choice is the point with the best *mean* validation metric over
those seeds; a point where any of them diverged or failed is never chosen.  A choice at the
smallest or largest learning rate of its grid is not a choice, only a bound: the grid then grows
by one rate beyond that edge, at the grid's own ratio there (lr_max · lr_max / lr_next, or
lr_min · lr_min / lr_next), and is scored again, at most e times.  A choice still at an edge is
reported as such (``Tuning.edge``).  The chosen point then runs the study's remaining seeds.

Tuning reads validation metrics only (the validator refuses any other).  Ties are common where
the metric is coarse (modes of a GAN's ring: 8 of 8 at several rates), and a tie must not silently
go to the smallest rate, so a study may name a second validation metric that breaks them:
``tune: {metric: val_modes, mode: max, tie_break: {metric: val_mmd, mode: min}}``.  What still
ties goes to the first in plan order.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

from engine.config.validate import expand_values
from engine.record import Record

LR = "lr"   # the axis a grid is extended along


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
    """`best_run` with a study's `tune:` entry (one record per grid point)."""
    return best_run(records, tune["metric"], tune["mode"], tune.get("tie_break"))


def tuning_seeds(study: dict) -> list[int]:
    """The seeds every grid point of a tuned study runs with: its first ``tune.seeds``."""
    return study["seeds"][:study["tune"].get("seeds", 1)]


def final_seeds(study: dict) -> list[int]:
    """The seeds only the chosen point runs with."""
    return study["seeds"][len(tuning_seeds(study)):]


@dataclass(frozen=True)
class Tuning:
    """What the tuning of one cell gave.

    ``points``: every grid point tried, in plan order (the declared grid, then each extension),
    with its mean validation score (None where a tuning seed diverged, failed or is not stored);
    ``hp``: the chosen point (None when no point has a score); ``extensions``: how many rates were
    added beyond the declared grid; ``edge``: "low" or "high" when the choice still sits at that edge of the
    grid it ended with (the limit was reached), else None; ``pending``: a tuning run is not
    stored yet (the planner waits; a claim reports what there is)."""

    hp: dict | None
    points: tuple
    extensions: int
    edge: str | None
    pending: bool

    @property
    def rates(self) -> list[float]:
        return sorted({hp[LR] for hp, _ in self.points if LR in hp})


def point_score(records: list[Record | None], metric: str, mode: str) -> float | None:
    """The mean of `metric` over a point's tuning seeds, as a loss (lower is better); None unless
    every seed is stored, ended ok and measured a finite value."""
    if not records or any(r is None or r.status != "ok" for r in records):
        return None
    values = [r.metric(metric) for r in records]
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    mean = sum(values) / len(values)
    return mean if mode == "min" else -mean


def _choice(points: list[dict], by_point: list[list], tune: dict) -> tuple[dict | None, list]:
    """(the best point, each point's mean score in the metric's own sign)."""
    scores = [point_score(recs, tune["metric"], tune["mode"]) for recs in by_point]
    tie = tune.get("tie_break")
    seconds = [point_score(recs, tie["metric"], tie["mode"]) if tie else 0.0 for recs in by_point]
    ranked = [(s, t if t is not None else math.inf, i) for i, (s, t) in enumerate(zip(scores, seconds))
              if s is not None]
    best = points[min(ranked)[2]] if ranked else None
    shown = [None if s is None else (s if tune["mode"] == "min" else -s) for s in scores]
    return best, shown


def edge_of(hp: dict | None, points: list[dict]) -> str | None:
    """"low" or "high" when `hp`'s rate is the smallest or largest of a grid of ≥ 2 rates."""
    rates = sorted({p[LR] for p in points if LR in p})
    if hp is None or LR not in hp or len(rates) < 2:
        return None
    return "low" if hp[LR] == rates[0] else "high" if hp[LR] == rates[-1] else None


def extension(points: list[dict], edge: str) -> list[dict]:
    """The points one rate beyond `edge`, at the grid's ratio between its two outermost rates on
    that side, for every combination of the other hyperparameters at that edge.  Rounded to four
    significant digits so that the new rate reads like the declared ones."""
    rates = sorted({p[LR] for p in points})
    outer, inner = (rates[0], rates[1]) if edge == "low" else (rates[-1], rates[-2])
    rate = float(f"{outer * outer / inner:.4g}")
    seen, out = set(), []
    for p in points:
        if p[LR] == outer:
            new = {**p, LR: rate}
            key = json.dumps(new, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(new)
    return out


def tune_cell(grid: list[dict], records_at: Callable[[dict], list], tune: dict) -> Tuning:
    """Tune one cell: `grid` its declared points (hyperparameter dicts), ``records_at(hp)`` the
    records of its tuning seeds at `hp` (None for one not stored).  Extends the grid while the
    choice sits at an edge, up to ``tune.extend`` times, and stops where a run is still missing."""
    points, limit, rounds = list(grid), tune.get("extend", 0), 0
    while True:
        by_point = [records_at(p) for p in points]
        hp, scores = _choice(points, by_point, tune)
        pending = any(r is None for recs in by_point for r in recs)
        edge = edge_of(hp, points)
        if pending or edge is None or rounds == limit:
            return Tuning(hp, tuple(zip(points, scores)), rounds, edge, pending)
        points += extension(points, edge)
        rounds += 1


def hp_key(hp: dict) -> str:
    """A hyperparameter dict as a string that compares equal when the dicts do."""
    return json.dumps(hp, sort_keys=True)


def final_records(records: list[Record], study: dict) -> dict[str, dict]:
    """A tuned study's records read as the planner chose them: optimizer name → {'tuning': its
    `Tuning`, 'best': a record at the chosen hyperparameters (None when nothing was chosen),
    'grid': the tuning seeds' records of every grid point, 'finals': every seed's record at the
    chosen hyperparameters, by seed}."""
    seeds = tuning_seeds(study)
    by_opt: dict = defaultdict(dict)
    for rec in records:
        by_opt[rec.spec.optimizer.name][(hp_key(rec.spec.optimizer.hp), rec.spec.seed)] = rec
    out = {}
    for oname in study["optimizers"]:
        mine = by_opt.get(oname, {})
        hps = list({k: json.loads(k) for k, _ in mine}.values())
        # in plan order (rates ascending), so that a tie goes where the planner sent it
        declared = sorted((hp for hp in hps if _declared(hp, (study.get("grid") or {}).get(oname) or {})),
                          key=lambda hp: (hp.get(LR, 0.0), hp_key(hp)))
        tuning = tune_cell(declared, lambda hp: [mine.get((hp_key(hp), s)) for s in seeds], study["tune"])
        finals = [] if tuning.hp is None else sorted(
            (r for (k, _), r in mine.items() if k == hp_key(tuning.hp)), key=lambda r: r.spec.seed)
        grid = [mine[(hp_key(hp), s)] for hp, _ in tuning.points for s in seeds if (hp_key(hp), s) in mine]
        out[oname] = {"tuning": tuning, "best": finals[0] if finals else None, "grid": grid, "finals": finals}
    return out


def _declared(hp: dict, axes: dict) -> bool:
    """Whether `hp` is a point of the declared grid (not one of its extensions)."""
    return all(hp.get(k) in expand_values(v) for k, v in axes.items())
