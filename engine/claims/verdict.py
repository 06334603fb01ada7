"""Verdicts computed from data against criteria declared in experiments.yaml beforehand.

A quantity is an Estimate: a value with a 95 % interval, the unit its n counts (``unit``: "seed",
"start", …) and how the interval was made (``method``):

- ``t``: the mean of independent replicates (seeds, starts) with Student's t interval;
- ``wilson``: a proportion of independent replicates with Wilson's score interval;
- ``exact``: a quantity with no sampling error (a count, an identity, a parameter ratio): its
  interval is the value itself, and it passes or fails outright.

A criterion passes when the whole interval lies inside the declared range, fails when the whole
interval lies outside, and is unclear otherwise.  An estimated (not exact) quantity measured fewer
than ``MIN_SAMPLES`` times has no interval worth the name, so it is always unclear: one seed
supports nothing.  Nor has a t interval of zero width (every replicate gave the same value, e.g.
8 of 8 modes on every seed): it claims a certainty its n lacks, so it is unclear too; a quantity
that is truly without sampling error must say so (``Estimate.exact``).  The claim is `supported` when every criterion passes, `not supported` when any
fails, `inconclusive` otherwise, and `missing` when a quantity could not be measured at all.

A conditional sentence ("at convergence, …") tests its conclusion only where its premise holds:
a criterion may name, with ``given``, the quantity of another criterion, its premise.  A premise
row is reported but never fails the claim by itself; a row whose premise does not pass is moot
(its fail does not count), and a claim with a moot row is at best `inconclusive`, for the reason
that its premise was not reached when a premise fails outright (engine/report/reason.py says which).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

METHODS = ("t", "wilson", "exact")
Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's 95 % score interval for a binomial proportion ``successes / n``."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def holm(pvalues) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: sort the m p-values ascending,
    p₍ᵢ₎ becomes max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎).  Rejecting where the adjusted value is
    below α controls the family-wise error rate at α (Holm 1979).  Equals
    ``statsmodels.stats.multitest.multipletests(p, method='holm')[1]``."""
    p = [float(x) for x in pvalues]
    m = len(p)
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: p[i])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int
    values: tuple[float, ...] = ()
    unit: str = "seed"       # what n counts: "seed", "start", …
    method: str = "t"        # how [low, high] was made: one of METHODS

    @classmethod
    def from_samples(cls, samples, unit: str = "seed") -> "Estimate | None":
        """The mean of independent replicates with its t interval (None when none is finite)."""
        xs = np.asarray([s for s in samples if s is not None and math.isfinite(s)], dtype=float)
        if xs.size == 0:
            return None
        mean = float(xs.mean())
        if xs.size == 1:
            return cls(mean, mean, mean, 1, tuple(xs.tolist()), unit, "t")
        from scipy import stats  # here: scipy.stats takes ≈ 0.5 s to import, and a report whose
                                 # analyses are all cached never computes an interval

        half = float(stats.t.ppf(0.975, xs.size - 1) * xs.std(ddof=1) / math.sqrt(xs.size))
        return cls(mean, mean - half, mean + half, int(xs.size), tuple(xs.tolist()), unit, "t")

    @classmethod
    def proportion(cls, successes: int, n: int, unit: str = "start") -> "Estimate | None":
        """The share ``successes / n`` of independent replicates, with Wilson's interval."""
        if n == 0:
            return None
        lo, hi = wilson(successes, n)
        return cls(successes / n, lo, hi, int(n), (float(successes),), unit, "wilson")

    @classmethod
    def exact(cls, value: float, unit: str = "exact", n: int = 1) -> "Estimate":
        """A quantity without sampling error; `n` says how many cases it summarises."""
        value = float(value)
        return cls(value, value, value, int(n), (value,), unit, "exact")

    @property
    def degenerate(self) -> bool:
        """An interval of zero width on an estimated quantity: it claims a certainty its n lacks."""
        return self.method != "exact" and self.n > 1 and self.low == self.high

    def text(self) -> str:
        """Language-neutral: the value, its 95 % interval and what n counts."""
        if self.method == "exact":
            return f"{self.mean:.3g} (exact)"
        if self.n == 1:
            return f"{self.mean:.3g} (n = 1)"
        how = " Wilson" if self.method == "wilson" else ""
        return f"{self.mean:.3g}, 95 %{how} [{self.low:.3g}, {self.high:.3g}] (n = {self.n} {self.unit}s)"

    def as_dict(self) -> dict:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n,
                "values": list(self.values), "unit": self.unit, "method": self.method}


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
    lo, hi = _range(criterion)
    if estimate.method == "exact":
        return "pass" if lo <= estimate.mean <= hi else "fail"
    if estimate.n < MIN_SAMPLES or estimate.degenerate:
        return "unclear"
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


def conditional_verdict(rows: list[dict]) -> str:
    """``verdict`` over rows that may carry ``given`` (their premise's quantity) or ``premise``."""
    outcomes = [r["outcome"] for r in rows]
    if "missing" in outcomes:
        return "missing"
    holds = {r["quantity"]: r["outcome"] == "pass" for r in rows if r.get("premise")}
    judged = [r["outcome"] for r in rows if not r.get("premise") and holds.get(r.get("given"), True)]
    moot = any(not holds.get(r["given"], True) for r in rows if r.get("given"))
    if "fail" in judged:
        return "not supported"
    if moot or any(o != "pass" for o in judged) or not all(holds.values()):
        return "inconclusive"
    return "supported"


def evaluate(criteria: list[dict], quantities: dict[str, Estimate | None]) -> tuple[str, list[dict]]:
    """The verdict and one row per criterion (quantity, expected, measured, outcome; ``given``
    and ``premise`` where the criterion is conditional)."""
    premises = {c["given"] for c in criteria if "given" in c}
    rows = []
    for c in criteria:
        est = quantities.get(c["quantity"])
        rows.append({"quantity": c["quantity"], "description": c.get("description", ""),
                     "expected": expected_text(c), "measured": est.text() if est else "—",
                     "outcome": check(c, est),
                     "estimate": None if est is None else est.as_dict(),
                     **({"given": c["given"]} if "given" in c else {}),
                     **({"premise": True} if c["quantity"] in premises else {})})
    return conditional_verdict(rows), rows
