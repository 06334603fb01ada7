"""rnn-parameter-sharing: h⁽ᵗ⁾ = f(h⁽ᵗ⁻¹⁾, x⁽ᵗ⁾; θ) uses the same θ at every step (lecture §4).

Two consequences are measured.

* The parameter count does not depend on the sequence length τ.  The analysis builds the
  trained models' architectures (same parameters as in the runs) for inputs of length
  τ/2, τ, 2τ, 4τ and 8τ and counts their parameters: the RNN (pattern 1, ``rnn_hh``) against
  the same recurrence without sharing (``rnn_hh`` with ``shared: false``: one θ⁽ᵗ⁾ per step), whose
  count is τ times as large.  ``param_ratio`` takes, for every one of those lengths, the RNN's
  count divided by its count at the trained τ: exactly 1 if θ is shared.
* One θ runs on any length.  Both models train on delayed recall (engine/data/sequences.py:
  y⁽ᵗ⁾ = x⁽ᵗ⁻ᵈ⁾) at τ = ``seq_len``; the data set also holds test splits of lengths
  ``extra_seq_lens`` (2τ and 4τ), which the trainer evaluates as ``test_len<L>_*``.  Per seed,
  ``ratio_2x`` and ``ratio_4x`` are the RNN's accuracy at 2τ and 4τ divided by its accuracy at τ
  (``accuracy_trained``); the network without sharing has no parameters for steps beyond τ and
  cannot take those inputs at all (``test_len<L>_applicable`` = 0).

Figures: parameter count against length; accuracy at each step position (artifacts
``step_accuracy_<split>`` of engine/models/rnn.py) at τ, 2τ and 4τ.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from engine.claims.base import Analysis, Claim, mean_sd
from engine.claims.verdict import Estimate
from engine.record import Record
from engine.report.figures import OKABE_ITO, chance_line, figure_to_svg, localize_decimals, new_figure
from engine.spec import RunSpec

SHARED, UNSHARED = "shared", "unshared"   # roles: rnn_hh with shared θ, and with one θ⁽ᵗ⁾ per step
LENGTH_FACTORS = (0.5, 1, 2, 4, 8)   # lengths at which the parameter count is computed
COLORS = {SHARED: OKABE_ITO["blue"], UNSHARED: OKABE_ITO["vermillion"]}
MARKERS = {SHARED: "o", UNSHARED: "s"}

QUANTITIES = {
    "param_ratio": "RNN parameter count at length L divided by its count at the trained τ, one sample per "
                   "L ∈ {τ/2, τ, 2τ, 4τ, 8τ}",
    "accuracy_trained": "RNN (pattern 1) test accuracy at the trained length τ, per seed",
    "ratio_2x": "RNN test accuracy on sequences of length 2τ divided by that at τ, per seed",
    "ratio_4x": "RNN test accuracy on sequences of length 4τ divided by that at τ, per seed",
}


def parameter_count(kind: str, params: dict, length: int, features: int = 1, n_classes: int = 2) -> int:
    """Parameters of model ``kind`` (with ``params``) for inputs of ``length`` steps."""
    from engine.models import MODELS

    info = {"kind": "memory", "shape": (int(length), features), "n_classes": n_classes}
    return MODELS[kind].build(info, **params).n_params


def role(spec: RunSpec) -> str | None:
    """'shared' or 'unshared' for pattern-1 runs, None for any other model."""
    model = spec.model
    if model.kind != "rnn_hh":
        return None
    return SHARED if model.params.get("shared", True) else UNSHARED


def _recall(records: list[Record]) -> dict:
    """role → ok pattern-1 records on delayed recall, by seed."""
    out: dict = defaultdict(list)
    for rec in records:
        ds = rec.spec.dataset
        if ds is not None and ds.kind == "delayed_recall" and rec.status == "ok" and role(rec.spec):
            out[role(rec.spec)].append(rec)
    return {k: sorted(v, key=lambda r: r.spec.seed) for k, v in out.items()}


def _lengths(spec: RunSpec) -> tuple[int, list[int]]:
    params = spec.dataset.params
    return int(params["seq_len"]), sorted(int(n) for n in params.get("extra_seq_lens") or ())


def _counts(by_kind: dict, tau: int) -> dict:
    """role → {length: parameter count}, for the architectures that were trained."""
    lengths = sorted({max(2, int(round(f * tau))) for f in LENGTH_FACTORS})
    out = {}
    for kind, recs in by_kind.items():
        model = recs[0].spec.model
        out[kind] = {n: parameter_count(model.kind, model.params, n) for n in lengths}
    return out


def _figure_counts(counts: dict, accuracy: dict, tau: int, extra: list[int], text: dict) -> dict:
    labels = text["labels"]
    fig, (left, right) = new_figure(ncols=2)
    for kind, by_len in counts.items():
        lengths = sorted(by_len)
        left.plot(lengths, [by_len[n] for n in lengths], marker=MARKERS[kind], color=COLORS[kind],
                  label=labels[kind])
    left.axvline(tau, color="0.6", lw=0.8, ls=":")
    left.set_xscale("log", base=2)
    all_lengths = sorted({n for by_len in counts.values() for n in by_len})
    left.set_xticks(all_lengths, [str(n) for n in all_lengths])
    left.minorticks_off()
    left.set_yscale("log")
    left.set_xlabel(labels["length"])
    left.set_ylabel(labels["params"])
    left.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 0.12))
    lengths = [tau] + extra
    for kind, per_len in accuracy.items():
        xs = [n for n in lengths if per_len.get(n)]
        if xs:
            means = [np.mean(per_len[n]) for n in xs]
            right.plot(xs, means, marker=MARKERS[kind], color=COLORS[kind], label=labels[kind])
            for n in xs:
                right.plot([n] * len(per_len[n]), per_len[n], ".", color=COLORS[kind], alpha=0.5, ms=4)
        missing = [n for n in lengths if not per_len.get(n)]
        if missing:
            right.plot(missing, [0.3] * len(missing), "x", color=COLORS[kind], ms=8, mew=1.5,
                       label=labels["not_applicable"].format(model=labels[kind]), ls="none")
    right.axhline(0.5, color="0.6", lw=0.8, ls="--")
    right.text(lengths[-1] * 1.25, 0.47, labels["chance"], fontsize=7, color="0.4", ha="right", va="top")
    right.set_xscale("log", base=2)
    right.set_xticks(lengths, [str(n) for n in lengths])
    right.minorticks_off()
    right.set_xlim(lengths[0] / 1.3, lengths[-1] * 1.3)
    right.set_ylim(0.2, 1.05)
    right.set_xlabel(labels["test_length"])
    right.set_ylabel(labels["accuracy"])
    right.legend(fontsize=7, loc="center left", bbox_to_anchor=(0.0, 0.68))
    return {"id": "rnn-sharing-counts", "svg": figure_to_svg(fig),
            "caption": text["captions"]["counts"].format(tau=tau)}


def _figure_steps(recs: list[Record], tau: int, extra: list[int], delay, text: dict) -> dict | None:
    labels = text["labels"]
    splits = [("test", tau)] + [(f"len{n}", n) for n in extra]
    styles = ["-", "--", ":"]
    colors = [OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["bluish_green"], OKABE_ITO["reddish_purple"]]
    fig, ax = new_figure()
    drawn = False
    for i, (split, n) in enumerate(splits):
        curves = [r.artifacts.get(f"step_accuracy_{split}") for r in recs]
        curves = [np.asarray(c, dtype=float) for c in curves if c is not None]
        if not curves:
            continue
        acc = np.mean(curves, axis=0)
        steps = np.arange(1, len(acc) + 1)
        has = np.all(np.asarray(curves) >= 0, axis=0)
        ax.plot(steps[has], acc[has], color=colors[i % len(colors)], ls=styles[i % len(styles)], lw=1.2,
                label=labels["length_curve"].format(length=n))
        drawn = True
    if not drawn:
        return None
    ax.axvline(tau + 0.5, color="0.5", lw=0.8, ls=":")
    ax.text(tau + 1, 0.55, labels["trained_up_to"].format(tau=tau), fontsize=7, color="0.3")
    chance_line(ax, 0.5, labels["chance"])
    ax.set_ylim(0.4, 1.04)
    ax.set_xlabel(labels["step"])
    ax.set_ylabel(labels["accuracy"])
    ax.legend(fontsize=7, loc="center right")
    return {"id": "rnn-sharing-steps", "svg": figure_to_svg(fig),
            "caption": text["captions"]["steps"].format(tau=tau, delay=delay, seeds=len(recs))}


def analyze(records: list[Record], text: dict, _studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in QUANTITIES})
    by_kind = _recall(records)
    if SHARED not in by_kind:
        return analysis
    rnn = by_kind[SHARED]
    tau, extra = _lengths(rnn[0].spec)
    delay = rnn[0].spec.dataset.params.get("delay")
    labels = text["labels"]

    counts = _counts({k: v for k, v in by_kind.items() if k in (SHARED, UNSHARED)}, tau)
    analysis.quantities["param_ratio"] = Estimate.from_samples(
        [counts[SHARED][n] / counts[SHARED][tau] for n in counts[SHARED]])

    accuracy: dict = {}
    applicable: dict = {}
    for kind, recs in by_kind.items():
        if kind not in (SHARED, UNSHARED):
            continue
        per_len = {tau: [r.final["test_accuracy"] for r in recs]}
        for n in extra:
            applicable[(kind, n)] = [r.metric(f"test_len{n}_applicable") for r in recs]
            # Measured only where the model can take sequences of length n (applicable = 1).
            values = [r.final.get(f"test_len{n}_accuracy") for r in recs]
            per_len[n] = [v for v in values if v is not None]
        accuracy[kind] = per_len

    analysis.quantities["accuracy_trained"] = Estimate.from_samples(accuracy[SHARED][tau])
    for n in extra:
        if n % tau == 0 and f"ratio_{n // tau}x" in QUANTITIES:
            ratios = [r.final[f"test_len{n}_accuracy"] / r.final["test_accuracy"]
                      for r in rnn if r.final.get(f"test_len{n}_accuracy") is not None
                      and r.final["test_accuracy"] > 0]
            analysis.quantities[f"ratio_{n // tau}x"] = Estimate.from_samples(ratios)

    analysis.figures.append(_figure_counts(counts, accuracy, tau, extra, text))
    steps = _figure_steps(rnn, tau, extra, delay, text)
    if steps:
        analysis.figures.append(steps)

    rows = []
    for kind in (SHARED, UNSHARED):
        if kind not in accuracy:
            continue
        by_len = counts[kind]
        row = [labels[kind]]
        row += [f"{by_len[n]:,}".replace(",", " ") if n in by_len else "—" for n in [tau] + extra]
        row.append(mean_sd(accuracy[kind][tau]))
        for n in extra:
            ok = all(a == 1.0 for a in applicable[(kind, n)])
            row.append(mean_sd(accuracy[kind][n]) if ok and accuracy[kind][n] else labels["not_applicable_short"])
        rows.append(row)
    columns = [labels["model"]]
    columns += [labels["params_at"].format(length=n) for n in [tau] + extra]
    columns += [labels["accuracy_at"].format(length=n) for n in [tau] + extra]
    seeds = len(by_kind[SHARED])
    analysis.tables.append({"caption": text["captions"]["table"].format(tau=tau, delay=delay, seeds=seeds),
                            "columns": columns, "rows": rows})

    analysis.numbers = {
        "trained_length": tau, "test_lengths": [tau] + extra, "delay": delay,
        "parameter_counts": {kind: {str(n): c for n, c in by_len.items()} for kind, by_len in counts.items()},
        "test_accuracy": {kind: {str(n): v for n, v in per_len.items()} for kind, per_len in accuracy.items()},
        "applicable": {f"{kind}|len{n}": v for (kind, n), v in applicable.items()},
        "seeds": {kind: [r.spec.seed for r in recs] for kind, recs in by_kind.items()},
    }
    return analysis


CLAIM = Claim(
    id="rnn-parameter-sharing",
    section="4",
    order=1,
    quantities=QUANTITIES,
    analyze=analyze,
)
