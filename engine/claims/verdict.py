"""Verdicts computed from data against criteria declared in experiments.yaml beforehand.

A quantity is measured over seeds as an Estimate (mean and a 95 % interval).  A criterion
passes when the whole interval lies inside the declared range, fails when the whole interval
lies outside, and is unclear otherwise.  A quantity measured fewer than ``MIN_SAMPLES`` times has
no interval worth the name, so it is always unclear: one seed supports nothing.  The claim is `supported` when every criterion passes,
`not supported` when any fails, `inconclusive` otherwise, and `missing` when a quantity could
not be measured at all.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int
    values: tuple[float, ...] = ()

    @classmethod
    def from_samples(cls, samples) -> "Estimate | None":
        xs = np.asarray([s for s in samples if s is not None and math.isfinite(s)], dtype=float)
        if xs.size == 0:
            return None
        mean = float(xs.mean())
        if xs.size == 1:
            return cls(mean, mean, mean, 1, tuple(xs.tolist()))
        from scipy import stats  # here: scipy.stats takes ≈ 0.5 s to import, and a report whose
                                 # analyses are all cached never computes an interval

        half = float(stats.t.ppf(0.975, xs.size - 1) * xs.std(ddof=1) / math.sqrt(xs.size))
        return cls(mean, mean - half, mean + half, int(xs.size), tuple(xs.tolist()))

    def text(self) -> str:
        """Language-neutral: the mean, its 95 % interval and the number of seeds n."""
        if self.n == 1:
            return f"{self.mean:.3g} (n = 1)"
        return f"{self.mean:.3g}, 95 % [{self.low:.3g}, {self.high:.3g}] (n = {self.n})"


def estimates(samples, names) -> dict[str, "Estimate | None"]:
    """One Estimate per quantity in `names`, from per-sample dicts (each seed's quantities)."""
    samples = list(samples)
    return {q: Estimate.from_samples([s.get(q) for s in samples]) for q in names}


def _range(criterion: dict) -> tuple[float, float]:
    if "between" in criterion:
        return tuple(criterion["between"])
    if "at_least" in criterion:
        return criterion["at_least"], math.inf
    return -math.inf, criterion["at_most"]


def expected_text(criterion: dict) -> str:
    lo, hi = _range(criterion)
    if math.isinf(hi):
        return f"≥ {lo:g}"
    if math.isinf(lo):
        return f"≤ {hi:g}"
    return f"∈ [{lo:g}, {hi:g}]"


MIN_SAMPLES = 2


def check(criterion: dict, estimate: Estimate | None) -> str:
    """'pass', 'fail', 'unclear' or 'missing' for one criterion."""
    if estimate is None:
        return "missing"
    if estimate.n < MIN_SAMPLES:
        return "unclear"
    lo, hi = _range(criterion)
    if lo <= estimate.low and estimate.high <= hi:
        return "pass"
    if estimate.high < lo or estimate.low > hi:
        return "fail"
    return "unclear"


def verdict(outcomes: list[str]) -> str:
    if "missing" in outcomes:
        return "missing"
    if all(o == "pass" for o in outcomes):
        return "supported"
    if "fail" in outcomes:
        return "not supported"
    return "inconclusive"


def evaluate(criteria: list[dict], quantities: dict[str, Estimate | None]) -> tuple[str, list[dict]]:
    """The verdict and one row per criterion (quantity, expected, measured, outcome)."""
    rows = []
    for c in criteria:
        est = quantities.get(c["quantity"])
        rows.append({"quantity": c["quantity"], "description": c.get("description", ""),
                     "expected": expected_text(c), "measured": est.text() if est else "—",
                     "outcome": check(c, est),
                     "estimate": None if est is None else {"mean": est.mean, "low": est.low,
                                                           "high": est.high, "n": est.n,
                                                           "values": list(est.values)}})
    return verdict([r["outcome"] for r in rows]), rows
