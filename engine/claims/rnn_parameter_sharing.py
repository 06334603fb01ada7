"""rnn-parameter-sharing: h⁽ᵗ⁾ = f(h⁽ᵗ⁻¹⁾, x⁽ᵗ⁾; θ) uses the same θ at every step (lecture §4).

Two consequences are measured.

* The parameter count does not depend on the sequence length τ.  The analysis builds the trained
  RNN's architecture (pattern 1, ``rnn_hh``, same parameters as in the runs) for inputs of length
  τ/2, τ, 2τ, 4τ and 8τ and counts its parameters; ``param_ratio`` is the largest count over the
  smallest (exact: 1 if θ is shared).  The same recurrence without sharing (``rnn_hh`` with
  ``shared: false``: one θ⁽ᵗ⁾ per step) is counted alike: τ times as many.
* One θ runs on any length, and the test is whether it keeps doing the task there.  The RNN
  trains on running parity (engine/data/counting.py: y⁽ᵗ⁾ = x⁽¹⁾ + … + x⁽ᵗ⁾ mod 2), whose answer at
  every step depends on the whole sequence so far, at τ = ``seq_len``; the data set also holds
  test splits of lengths 2τ and 4τ (``extra_seq_lens``).  A seed has learnt the task when its
  test accuracy at τ reaches ``LEARNT``; ``learnt_share`` is the share of seeds that did.  For
  each seed that learnt it, the ratio at L = 2τ and 4τ is its accuracy on the steps τ < t ≤ L of
  the sequences of length L (from the per-step accuracies, artifacts ``step_accuracy_len<L>`` of
  engine/models/rnn.py: steps it never met in training only) divided by its accuracy at τ, and
  the seed generalises when that ratio is at least ``KEPT``; ``generalised_2x`` and
  ``generalised_4x`` are the shares of the learnt seeds that do.  Shares of seeds get Wilson's
  interval: an accuracy of exactly 1 at every seed, which this task can give, would make a
  t interval of the mean a zero-width one.

The network without sharing has no parameters for a step beyond τ and cannot take a longer
input at all; its runs on delayed recall (y⁽ᵗ⁾ = x⁽ᵗ⁻³⁾, engine/data/sequences.py, the runs that
rnn-three-patterns also reads) record that as ``test_len<L>_applicable`` = 0.  Delayed recall is
shown for contrast: its answer needs only the last 3 inputs, so a network that does it at τ does
it at any length.

Figures: parameter count against length, and accuracy against test length (both tasks); the
accuracy at each step position for parity at τ, 2τ and 4τ.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from engine.claims.base import Analysis, Claim, mean_sd
from engine.claims.verdict import Estimate
from engine.record import Record
from engine.kit.figures import OKABE_ITO, chance_line, figure_to_svg, legend_below, new_figure
from engine.spec import RunSpec

SHARED, UNSHARED = "shared", "unshared"   # roles: rnn_hh with shared θ, and with one θ⁽ᵗ⁾ per step
TASKS = {"running_count": "parity", "delayed_recall": "recall"}   # data set kind → task
LENGTH_FACTORS = (0.5, 1, 2, 4, 8)   # lengths at which the parameter count is computed
LEARNT = 0.99                        # a seed has learnt parity at τ when its test accuracy reaches this
KEPT = 0.95                          # … and generalises when it keeps this share of it beyond τ
COLORS = {SHARED: OKABE_ITO["blue"], UNSHARED: OKABE_ITO["vermillion"]}
MARKERS = {SHARED: "o", UNSHARED: "s"}
TASK_STYLE = {"parity": "-", "recall": ":"}

QUANTITIES = {
    "param_ratio": "largest over smallest RNN parameter count across L ∈ {τ/2, τ, 2τ, 4τ, 8τ} (exact)",
    "learnt_share": "share of the seeds whose RNN reaches test accuracy ≥ 0.99 on running parity at τ (Wilson)",
    "generalised_2x": "share of the learnt seeds whose accuracy on steps τ < t ≤ 2τ of length-2τ sequences is "
                      "≥ 0.95 × their accuracy at τ (Wilson)",
    "generalised_4x": "the same on steps τ < t ≤ 4τ of length-4τ sequences",
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


def by_task(records: list[Record]) -> dict:
    """(task, role) → ok pattern-1 records, sorted by seed."""
    out: dict = defaultdict(list)
    for rec in records:
        ds = rec.spec.dataset
        if ds is not None and ds.kind in TASKS and rec.status == "ok" and role(rec.spec):
            out[(TASKS[ds.kind], role(rec.spec))].append(rec)
    return {k: sorted(v, key=lambda r: r.spec.seed) for k, v in out.items()}


def beyond_accuracy(step_accuracy, tau: int) -> float | None:
    """Accuracy on the steps t > τ, from the accuracy at each step position (−1: no target there);
    every step with a target has one per sequence, so their mean is the accuracy over those steps."""
    acc = np.asarray(step_accuracy, dtype=float)[tau:]
    acc = acc[acc >= 0]
    return float(acc.mean()) if acc.size else None


def _lengths(spec: RunSpec) -> tuple[int, list[int]]:
    params = spec.dataset.params
    return int(params["seq_len"]), sorted(int(n) for n in params.get("extra_seq_lens") or ())


def _counts(model_params: dict, tau: int) -> dict:
    """role → {length: parameter count} for the pattern-1 architecture with and without sharing."""
    lengths = sorted({max(2, int(round(f * tau))) for f in LENGTH_FACTORS})
    return {r: {n: parameter_count("rnn_hh", {**model_params, "shared": r == SHARED}, n) for n in lengths}
            for r in (SHARED, UNSHARED)}


def _accuracy_by_length(recs: list[Record], tau: int, extra: list[int]) -> dict:
    """length → per-seed accuracy: the test accuracy at τ, and on the steps beyond τ at each longer
    length (only where the model could take that length)."""
    out = {tau: [r.final["test_accuracy"] for r in recs]}
    for n in extra:
        values = [beyond_accuracy(r.artifacts[f"step_accuracy_len{n}"], tau) for r in recs
                  if f"step_accuracy_len{n}" in r.artifacts]
        out[n] = [v for v in values if v is not None]
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
    legend_below(left)
    lengths = [tau] + extra
    for (task, kind), per_len in accuracy.items():
        xs = [n for n in lengths if per_len.get(n)]
        if xs:
            right.plot(xs, [np.mean(per_len[n]) for n in xs], marker=MARKERS[kind], color=COLORS[kind],
                       ls=TASK_STYLE[task], label=labels["curve"].format(task=labels[task], model=labels[kind]))
            for n in xs:
                right.plot([n] * len(per_len[n]), per_len[n], ".", color=COLORS[kind], alpha=0.5, ms=4)
        missing = [n for n in lengths if not per_len.get(n)]
        if missing and kind == UNSHARED:
            right.plot(missing, [0.27] * len(missing), "x", color=COLORS[kind], ms=8, mew=1.5,
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
    legend_below(right)
    return {"id": "rnn-sharing-counts", "svg": figure_to_svg(fig),
            "caption": text["captions"]["counts"].format(tau=tau)}


def _figure_steps(recs: list[Record], tau: int, extra: list[int], text: dict) -> dict | None:
    """Accuracy at each step position on parity: the mean over seeds at τ, 2τ and 4τ, and each
    seed's curve at the longest length."""
    labels = text["labels"]
    splits = [("test", tau)] + [(f"len{n}", n) for n in extra]
    styles = ["-", "--", ":"]
    colors = [OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["bluish_green"], OKABE_ITO["reddish_purple"]]
    fig, ax = new_figure()
    drawn = False
    for i, (split, n) in enumerate(splits):
        curves = [np.asarray(c, dtype=float) for r in recs if (c := r.artifacts.get(f"step_accuracy_{split}"))]
        if not curves:
            continue
        steps = np.arange(1, n + 1)
        if split == splits[-1][0]:
            for curve in curves:
                ax.plot(steps, curve, color=colors[i % len(colors)], lw=0.5, alpha=0.35)
        ax.plot(steps, np.mean(curves, axis=0), color=colors[i % len(colors)], ls=styles[i % len(styles)], lw=1.4,
                label=labels["length_curve"].format(length=n))
        drawn = True
    if not drawn:
        return None
    ax.axvline(tau + 0.5, color="0.5", lw=0.8, ls=":")
    # above the axes: inside, the seeds' curves run through it
    ax.text(tau + 1, 1.01, labels["trained_up_to"].format(tau=tau), fontsize=7, color="0.3",
            transform=ax.get_xaxis_transform(), va="bottom")
    chance_line(ax, 0.5, labels["chance"])
    ax.set_ylim(0.35, 1.04)
    ax.set_xlabel(labels["step"])
    ax.set_ylabel(labels["accuracy"])
    legend_below(ax, ncols=len(splits))
    return {"id": "rnn-sharing-steps", "svg": figure_to_svg(fig),
            "caption": text["captions"]["steps"].format(tau=tau, seeds=len(recs))}


def _table(groups: dict, accuracy: dict, tau: int, extra: list[int], text: dict) -> dict:
    labels = text["labels"]
    rows = []
    for (task, kind), recs in groups.items():
        row = [labels[task], labels[kind]]
        row += [f"{parameter_count('rnn_hh', recs[0].spec.model.params, n):,}".replace(",", " ") for n in [tau] + extra]
        row.append(mean_sd(accuracy[(task, kind)][tau]))
        for n in extra:
            applicable = all(r.metric(f"test_len{n}_applicable") == 1.0 for r in recs)
            values = accuracy[(task, kind)].get(n)
            row.append(mean_sd(values) if applicable and values else labels["not_applicable_short"])
        row.append(str(len(recs)))
        rows.append(row)
    columns = [labels["task"], labels["model"]]
    columns += [labels["params_at"].format(length=n) for n in [tau] + extra]
    columns += [labels["accuracy_at"].format(length=tau)]
    columns += [labels["beyond_at"].format(length=n, tau=tau) for n in extra] + [labels["seeds"]]
    return {"caption": text["captions"]["table"].format(tau=tau), "columns": columns, "rows": rows}


def _ratios(parity: list[Record], tau: int, extra: list[int]) -> dict:
    """k → per learnt seed, accuracy beyond τ at length kτ over the accuracy at τ."""
    learnt = [r for r in parity if r.final["test_accuracy"] >= LEARNT]
    out = {}
    for n in extra:
        if n % tau == 0 and f"generalised_{n // tau}x" in QUANTITIES:
            values = [beyond_accuracy(r.artifacts[f"step_accuracy_len{n}"], tau) / r.final["test_accuracy"]
                      for r in learnt if f"step_accuracy_len{n}" in r.artifacts]
            out[n // tau] = values
    return out


def analyze(records: list[Record], text: dict, _studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in QUANTITIES})
    groups = by_task(records)
    parity = groups.get(("parity", SHARED))
    if not parity:
        return analysis
    tau, extra = _lengths(parity[0].spec)
    counts = _counts({k: v for k, v in parity[0].spec.model.params.items() if k != "shared"}, tau)
    shared = counts[SHARED].values()
    analysis.quantities["param_ratio"] = Estimate.exact(max(shared) / min(shared), unit="length", n=len(counts[SHARED]))
    learnt = sum(r.final["test_accuracy"] >= LEARNT for r in parity)
    analysis.quantities["learnt_share"] = Estimate.proportion(learnt, len(parity), unit="seed")
    ratios = _ratios(parity, tau, extra)
    for k, values in ratios.items():
        analysis.quantities[f"generalised_{k}x"] = Estimate.proportion(sum(v >= KEPT for v in values), len(values),
                                                                      unit="seed")

    groups = {key: recs for key, recs in groups.items() if _lengths(recs[0].spec) == (tau, extra)}
    accuracy = {key: _accuracy_by_length(recs, tau, extra) for key, recs in groups.items()}
    analysis.figures.append(_figure_counts(counts, accuracy, tau, extra, text))
    steps = _figure_steps(parity, tau, extra, text)
    if steps:
        analysis.figures.append(steps)
    analysis.tables.append(_table(groups, accuracy, tau, extra, text))
    analysis.numbers = {
        "trained_length": tau, "test_lengths": [tau] + extra, "learnt_at": LEARNT, "kept_at": KEPT,
        "parameter_counts": {kind: {str(n): c for n, c in by_len.items()} for kind, by_len in counts.items()},
        "learnt_seeds": [r.spec.seed for r in parity if r.final["test_accuracy"] >= LEARNT],
        "ratios": {f"{k}x": v for k, v in ratios.items()},
        "accuracy": {f"{task}|{kind}": {str(n): v for n, v in per_len.items()}
                     for (task, kind), per_len in accuracy.items()},
        "applicable": {f"{task}|{kind}|len{n}": [r.metric(f"test_len{n}_applicable") for r in recs]
                       for (task, kind), recs in groups.items() for n in extra},
        "seeds": {f"{task}|{kind}": [r.spec.seed for r in recs] for (task, kind), recs in groups.items()},
    }
    return analysis


CLAIM = Claim(
    id="rnn-parameter-sharing",
    section="4",
    order=1,
    quantities=QUANTITIES,
    analyze=analyze,
)
