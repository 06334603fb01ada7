"""Why a verdict is what it is: the condition that decided it, with its number.

``evaluate`` (engine/claims/verdict.py) gives one row per condition of a claim's criterion: its
description, its outcome and its estimate (mean, interval, n and what n counts).  A verdict
follows from the outcomes (all pass: supported; one fails: not supported; else an interval
crosses a bound: inconclusive); ``verdict_reason`` names the row that decided it:

* not supported: the first condition that fails (and how many others fail too);
* inconclusive: the first condition whose interval crosses its bound (or that has one replicate);
* supported: the condition that passed with the least room, i.e. whose interval ends nearest to
  its bound, counted in widths of that interval (an interval of no width, an identity or a count,
  is never the tightest unless every condition has one);
* missing: the first condition that could not be measured;
* a conditional claim (a criterion row ``given`` a premise row) left inconclusive because a
  premise failed: that premise; a not-supported one: the first failing condition that counted
  (a conclusion whose premise failed does not count).

Each with its measured value, its 95 % interval and n, and the bound it was held to, in the
report's language: ``'falla «…» (−0,106 [−0,174; −0,0376], 10 semillas; se pedía ≥ 0)'``.
The words come from the catalogue's ``reason.*`` messages.
"""
from __future__ import annotations

import math

from engine.kit.catalog import load_catalog, message
from engine.kit.figures import replace_decimals
from .render import format_cell

__all__ = ["deciding_row", "number_text", "verdict_reason"]


def number_text(value: float, language: str) -> str:
    """A number as the report writes it: 3 significant digits, the language's decimal mark,
    powers of ten in place of e-notation, a true minus sign."""
    return format_cell(float(f"{float(value):.3g}"), language).replace("-", "−")


def _bounds(criterion: dict) -> tuple[float, float]:
    if "between" in criterion:
        return tuple(map(float, criterion["between"]))
    if "at_least" in criterion:
        return float(criterion["at_least"]), math.inf
    return -math.inf, float(criterion["at_most"])


def _room(row: dict, criterion: dict) -> float:
    """How far the interval of a passing row stays inside its bounds, in widths of the interval
    (an exact quantity, whose interval has no width, counts its distance to the bound relative to it)."""
    est = row["estimate"]
    lo, hi = _bounds(criterion)
    gaps = [g for g in (est["low"] - lo, hi - est["high"]) if math.isfinite(g)]
    width = est["high"] - est["low"]
    if not gaps or width <= 0:  # an identity or a count: it holds outright, nothing is tight
        return math.inf
    return min(gaps) / width


def _judged(rows: list[dict]) -> list[bool]:
    """Which rows count towards the verdict (as ``conditional_verdict`` counts them): a premise row
    only decides whether the rows that depend on it (``given``) count."""
    holds = {r["quantity"]: r["outcome"] == "pass" for r in rows if r.get("premise")}
    return [not r.get("premise") and holds.get(r.get("given"), True) for r in rows]


def premise_failed(verdict: str, rows: list[dict]) -> int | None:
    """Index of the failed premise that left ``verdict`` inconclusive, if one did."""
    if verdict != "inconclusive":
        return None
    return next((i for i, r in enumerate(rows) if r.get("premise") and r["outcome"] == "fail"), None)


def deciding_row(verdict: str, rows: list[dict], criteria: list[dict]) -> int | None:
    """Index of the condition that decided ``verdict`` (module doc); None when there is none."""
    judged = _judged(rows)
    if verdict == "not supported":
        return next((i for i, r in enumerate(rows) if judged[i] and r["outcome"] == "fail"), None)
    premise = premise_failed(verdict, rows)
    if premise is not None:
        return premise
    wanted = {"inconclusive": "unclear", "missing": "missing"}.get(verdict)
    if wanted is not None:
        return next((i for i, r in enumerate(rows) if r["outcome"] == wanted), None)
    if not rows:
        return None
    return min(range(len(rows)), key=lambda i: _room(rows[i], criteria[i]))


def _expected(criterion: dict, catalog, language: str) -> str:
    lo, hi = _bounds(criterion)
    if math.isinf(hi):
        return message(catalog, "reason.at_least", bound=number_text(lo, language))
    if math.isinf(lo):
        return message(catalog, "reason.at_most", bound=number_text(hi, language))
    if lo == hi:
        return message(catalog, "reason.equal", bound=number_text(lo, language))
    return message(catalog, "reason.between", low=number_text(lo, language), high=number_text(hi, language))


def _measured(estimate: dict, catalog, language: str) -> str:
    mean = number_text(estimate["mean"], language)
    if estimate.get("method") == "exact":
        return message(catalog, "reason.exact", mean=mean)
    unit = estimate.get("unit") or "seed"
    try:
        units = message(catalog, f"reason.units.{unit}")
    except KeyError:  # a unit the catalogue does not name yet: its own word
        units = unit + "s"
    if estimate["n"] < 2:
        return message(catalog, "reason.single", mean=mean, units=units)
    return message(catalog, "reason.interval", mean=mean, low=number_text(estimate["low"], language),
                   high=number_text(estimate["high"], language), n=estimate["n"], units=units)


def verdict_reason(verdict: str, rows: list[dict], criteria: list[dict], language: str) -> str:
    """One sentence: which condition decided ``verdict``, its measured value and its bound.

    ``rows`` are ``evaluate``'s rows (description, outcome, estimate), ``criteria`` the claim's
    criterion entries in the same order (their bounds).  Starts in lower case: it follows the
    verdict's name ("No respaldada: falla …").
    """
    catalog = load_catalog(language)
    key = verdict.replace(" ", "_")
    index = deciding_row(verdict, rows, criteria)
    if index is None:
        return message(catalog, f"verdict_reason.{key}")
    row, criterion = rows[index], criteria[index]
    description = replace_decimals(row["description"] or row["quantity"], catalog["format"]["decimal"])
    condition = message(catalog, "reason.condition", text=description)
    if verdict == "missing":
        return message(catalog, "reason.missing", condition=condition)
    fields = {"condition": condition, "measured": _measured(row["estimate"], catalog, language),
              "expected": _expected(criterion, catalog, language), "count": len(rows)}
    if verdict == "supported":
        return message(catalog, "reason.supported_one" if len(rows) == 1 else "reason.supported", **fields)
    if premise_failed(verdict, rows) is not None:
        return message(catalog, "reason.premise_not_reached", **fields)
    if verdict == "inconclusive" and row["estimate"]["n"] < 2:
        return message(catalog, "reason.inconclusive_single", **fields)
    text = message(catalog, f"reason.{key}", **fields)
    judged = _judged(rows)
    others = sum(1 for i, r in enumerate(rows) if r["outcome"] == row["outcome"] and (judged[i] or r.get("premise"))) - 1
    if others:
        text += " " + message(catalog, f"reason.{key}_more_{'one' if others == 1 else 'many'}", count=others)
    return text
