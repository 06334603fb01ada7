"""Helpers shared by the claims that tune on analytic objectives (batch-local-optima,
adagrad-small-gradients, rmsprop-improves-adagrad).

Their studies come in pairs: ``<study>-tuning`` runs every grid point from its own starts (seeds)
and ``<study>`` runs the same grid from the starts that are reported (one pair per optimizer
where the optimizers' budgets in steps differ).  Each optimizer's step is
the grid point with the lowest mean tuning score over the tuning starts (by default the mean gap
f − f* over the run, the objective both optimizers minimise); a grid point where any tuning start
diverged is never chosen.  The reported numbers are those of the other starts at that point, so
the choice and the measurement never see the same starts.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict

import numpy as np

from engine.record import Record
from engine.tuning import hp_key

TUNING_SUFFIX = "-tuning"


def split_studies(records: list[Record], base: str) -> tuple[list[Record], list[Record]]:
    """(tuning records, reported records) of the studies named ``base`` or ``base-…`` (a pair per
    optimizer when their budgets differ, e.g. ``base-gd`` and ``base-gd-tuning``)."""
    mine = [r for r in records if r.spec.study == base or r.spec.study.startswith(base + "-")]
    tuning = [r for r in mine if r.spec.study.endswith(TUNING_SUFFIX)]
    reported = [r for r in mine if not r.spec.study.endswith(TUNING_SUFFIX)]
    return tuning, reported


def mean_gap(rec: Record) -> float:
    return rec.final["mean_gap"]


def tuned_choice(tuning: list[Record], score=mean_gap) -> dict:
    """optimizer name → {'hp', 'score', 'grid': [(hp, mean score or None if any start diverged)]}."""
    cells: dict = defaultdict(lambda: defaultdict(list))
    for rec in tuning:
        o = rec.spec.optimizer
        cells[o.name][hp_key(o.hp)].append(rec)
    out = {}
    for oname, by_hp in cells.items():
        grid = []
        for key, recs in by_hp.items():
            ok = all(r.status == "ok" for r in recs)
            value = float(np.mean([score(r) for r in recs])) if ok else None
            grid.append((json.loads(key), value))
        grid.sort(key=lambda g: g[0].get("lr", 0.0))
        scored = [g for g in grid if g[1] is not None and math.isfinite(g[1])]
        best = min(scored, key=lambda g: g[1]) if scored else None
        out[oname] = {"hp": None if best is None else best[0], "score": None if best is None else best[1],
                      "grid": grid}
    return out


def at_hp(records: list[Record], oname: str, hp: dict | None) -> list[Record]:
    """The records of optimizer ``oname`` at hyperparameters ``hp``, by seed."""
    if hp is None:
        return []
    key = hp_key(hp)
    return sorted((r for r in records if r.spec.optimizer.name == oname
                   and hp_key(r.spec.optimizer.hp) == key), key=lambda r: r.spec.seed)


def at_edge(choice: dict) -> bool:
    """Whether the chosen learning rate is the smallest or largest of the grid."""
    lrs = [g[0].get("lr") for g in choice["grid"]]
    return choice["hp"] is not None and len(lrs) > 1 and choice["hp"].get("lr") in (min(lrs), max(lrs))


def fmt(x, digits: int = 3) -> str:
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}g}"
