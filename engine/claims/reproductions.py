"""Published results reproduced by the handout's runs, apart from the lecture's verdicts.

Each row compares one published number with ours, read from stored records as a claim reads
them: ours is a mean over independent replicates (seeds) with its 95 % t interval, and the
difference is ours − published with the same interval shifted.  The status is declared here,
before the numbers: "reproduced" when the published value lies inside our interval; "close" when
it does not but |ours − published| is within the row's tolerance; "not reproduced" otherwise;
"undecided" when ours rests on one seed or its interval has zero width; "missing" without runs.  The tolerances are the margins the handout used when these numbers
were criteria: 2 points of accuracy for MNIST-1D, ±0.15 on the √κ and κ slopes, ±0.1 on the
1/B slope.

Rows:

* MNIST-1D (Greydanus 2020, table 1): the paper's CNN 94 % and MLP 68 % test accuracy, against
  the runs of the study ``conv-features-mnist1d`` (the paper's models, Adam λ = 0.01, batch
  100, 3,800 training signals).  The paper trains 6,000 steps (about 158 epochs); ours trains
  the study's budget, which is said in the row.
* Momentum's √κ law (Polyak 1964; Goh 2017): steps to a fixed accuracy on a quadratic grow as
  κ¹ for gradient descent and κ^½ for heavy-ball momentum, each at its best step; our slopes of
  log steps against log κ, one fit per seed, from ``momentum-scaling``.
* The 1/B law of minibatch gradient noise: E‖g_B − g‖² ∝ 1/B (with the finite-population
  factor): slope −1; ours the mean over models and measurement points of each seed's fitted
  slopes, one value per seed, from ``gradient-noise-digits``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.claims.verdict import Estimate
from engine.record import Record


@dataclass(frozen=True)
class Published:
    id: str
    source: str
    quantity: str          # a key of the reproductions' labels (templates/messages)
    value: float
    tolerance: float
    study: str


PUBLISHED = (
    Published("mnist1d-cnn", "Greydanus 2020", "mnist1d_cnn_accuracy", 0.94, 0.02, "conv-features-mnist1d"),
    Published("mnist1d-mlp", "Greydanus 2020", "mnist1d_mlp_accuracy", 0.68, 0.02, "conv-features-mnist1d"),
    Published("sqrt-kappa-momentum", "Polyak 1964; Goh 2017", "slope_momentum", 0.5, 0.15, "momentum-scaling"),
    Published("kappa-gd", "Polyak 1964; Goh 2017", "slope_gd", 1.0, 0.15, "momentum-scaling"),
    Published("inverse-batch", "1/B", "slope_noise", -1.0, 0.1, "gradient-noise-digits"),
)
MNIST1D_MODELS = {"mnist1d-cnn": "cnn", "mnist1d-mlp": "mlp"}   # the model kind of each row


def status(estimate: Estimate | None, published: float, tolerance: float) -> str:
    """'reproduced', 'close', 'not reproduced', 'undecided' or 'missing' (see the module's docstring)."""
    if estimate is None:
        return "missing"
    if estimate.n < 2 or estimate.degenerate:
        return "undecided"
    if estimate.low <= published <= estimate.high:
        return "reproduced"
    return "close" if abs(estimate.mean - published) <= tolerance else "not reproduced"


def _mnist1d(records: list[Record], row: Published) -> Estimate | None:
    kind = MNIST1D_MODELS[row.id]
    return Estimate.from_samples([r.metric("test_accuracy") for r in records
                                  if r.status == "ok" and r.spec.model.kind == kind])


def _momentum(records: list[Record], row: Published) -> Estimate | None:
    from engine.claims.momentum_heavy_directions import SLOPE_OF_KIND, slopes_per_seed

    kind = next(k for k, q in SLOPE_OF_KIND.items() if q == row.quantity)
    per_optimizer = slopes_per_seed(records)
    names = {r.spec.optimizer.name for r in records if r.spec.optimizer.kind == kind}
    return next((Estimate.from_samples(per_optimizer[o]) for o in sorted(names) if o in per_optimizer), None)


def _noise(records: list[Record], row: Published) -> Estimate | None:
    from engine.claims.minibatch_unbiased import gradient_noise_cases

    cases = gradient_noise_cases(records)
    seeds = sorted({s for by_seed in cases.values() for s in by_seed})
    per_seed = []
    for seed in seeds:
        slopes = [p["slope"] for by_seed in cases.values() for p in by_seed.get(seed, {}).values()
                  if p.get("slope") is not None]
        if slopes:
            per_seed.append(float(np.mean(slopes)))
    return Estimate.from_samples(per_seed)


MEASURE = {"mnist1d-cnn": _mnist1d, "mnist1d-mlp": _mnist1d, "sqrt-kappa-momentum": _momentum,
           "kappa-gd": _momentum, "inverse-batch": _noise}


def _budget(records: list[Record]) -> dict:
    return dict(records[0].spec.budget) if records else {}


def reproductions(records: list[Record]) -> list[dict]:
    """One row per published result: source, quantity, published value, ours (an Estimate as a
    dict), the difference ours − published with its interval, the tolerance, the status and the
    budget of the runs it rests on."""
    by_study: dict = {}
    for rec in records:
        by_study.setdefault(rec.spec.study, []).append(rec)
    rows = []
    for row in PUBLISHED:
        mine = by_study.get(row.study, [])
        est = MEASURE[row.id](mine, row) if mine else None
        rows.append({
            "id": row.id, "source": row.source, "quantity": row.quantity, "study": row.study,
            "published": row.value, "tolerance": row.tolerance,
            "ours": None if est is None else est.as_dict(),
            "difference": None if est is None else {
                "mean": est.mean - row.value, "low": est.low - row.value, "high": est.high - row.value},
            "status": status(est, row.value, row.tolerance), "budget": _budget(mine),
        })
    return rows
