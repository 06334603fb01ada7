"""rmsprop-improves-adagrad: RMSprop "intenta ser una mejora" of Adagrad.

Three measurements.
(i) The effective step α/√(v + ε) over training (median over coordinates, logged by the network
trainer at every evaluation) of the tuned Adagrad and RMSprop runs of the optimizer × model
matrix: Adagrad's v only grows, so its step can only shrink; RMSprop's moving average forgets.
Quantity: log10(step at the end / step at the first evaluation after the start), per family and
seed.
(ii) A noisy quadratic whose minimiser jumps half-way (engine/objectives/moving_target.py):
Adagrad and RMSprop, each at the step its tuning chose on other starts (lowest mean gap over the
whole run); quantity: log10(mean tracking error after the move, Adagrad / RMSprop), per start.
(iii) The matrix family by family: the test error of tuned RMSprop against tuned Adagrad
(1 − accuracy for classifiers, MSE for the autoencoder, MMD for the GAN), seed by seed;
quantity: log10(error of Adagrad / error of RMSprop) pooled over families and seeds.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from engine.claims._tuned import at_edge, at_hp, fmt, split_studies, tuned_choice
from engine.claims.base import Analysis, Claim
from engine.claims.optimizer_matrix import final_records
from engine.claims.verdict import Estimate
from engine.record import Record
from engine.report.figures import figure_to_svg, new_figure, optimizer_label, optimizer_style

ADAGRAD, RMSPROP = "adagrad", "rmsprop"
MOVING = "rmsprop-moving-target"
ERRORS = (("test_accuracy", lambda v: 1.0 - v, "1 − accuracy"), ("test_mse", lambda v: v, "MSE"),
          ("test_mmd", lambda v: v, "MMD"))


def _matrix_cells(records: list[Record], studies: dict) -> dict:
    """matrix study → final_records cells (tuned finals per optimizer)."""
    by_study = defaultdict(list)
    for rec in records:
        by_study[rec.spec.study].append(rec)
    return {s: final_records(by_study[s], st) for s, st in studies.items()
            if st.get("claim") == "optimizer-matrix" and st.get("tune") and by_study.get(s)
            and ADAGRAD in st.get("optimizers", []) and RMSPROP in st.get("optimizers", [])}


def step_change(rec: Record) -> float | None:
    """log10(effective step at the last evaluation / at the first evaluation after step 0)."""
    eff = rec.history.get("effective_step") or []
    if rec.status != "ok" or len(eff) < 3 or not eff[1] or not eff[-1] or eff[1] <= 0 or eff[-1] <= 0:
        return None
    return math.log10(eff[-1] / eff[1])


def _effective_steps(cells: dict, text: dict, analysis: Analysis) -> None:
    labels = text["labels"]
    changes = {ADAGRAD: [], RMSPROP: []}
    fig, ax = new_figure(width="full")
    per_family = {}
    for sname, c in cells.items():
        per_family[sname] = {}
        for o in (ADAGRAD, RMSPROP):
            finals = [r for r in c[o]["finals"] if step_change(r) is not None]
            values = [step_change(r) for r in finals]
            changes[o].extend(values)
            per_family[sname][o] = values
            if not finals:
                continue
            n = min(len(r.history["effective_step"]) for r in finals)
            steps = np.asarray(finals[0].history["step"][:n], dtype=float)
            rel = np.asarray([np.asarray(r.history["effective_step"][1:n]) / r.history["effective_step"][1]
                              for r in finals])
            style = optimizer_style(o)
            ax.plot(steps[1:] / steps[-1], np.exp(np.mean(np.log(rel), axis=0)), color=style["color"],
                    ls=style["linestyle"], lw=0.9, alpha=0.85,
                    label=optimizer_label(o) if sname == next(iter(cells)) else None)
    ax.set_yscale("log")
    ax.set_xlabel(labels["fraction"])
    ax.set_ylabel(labels["relative_step"])
    ax.axhline(1.0, color="0.5", lw=0.6)
    ax.legend(fontsize=7)
    analysis.figures.append({"id": "rmsprop-effective-step", "svg": figure_to_svg(fig),
                             "caption": text["captions"]["effective_step"]})
    analysis.quantities["adagrad_step_change"] = Estimate.from_samples(changes[ADAGRAD])
    analysis.quantities["rmsprop_step_change"] = Estimate.from_samples(changes[RMSPROP])
    analysis.numbers["effective_step_log10_change"] = per_family


def _matrix(cells: dict, text: dict, analysis: Analysis) -> None:
    pooled, rows, numbers = [], [], {}
    for sname, c in cells.items():
        finals = {o: {r.spec.seed: r for r in c[o]["finals"] if r.status == "ok"} for o in (ADAGRAD, RMSPROP)}
        sample = next((r for d in finals.values() for r in d.values()), None)
        if sample is None:
            continue
        metric = next(((m, f, name) for m, f, name in ERRORS if m in sample.final), None)
        if metric is None:
            continue
        key, to_error, name = metric
        errors = {o: {s: to_error(r.final[key]) for s, r in d.items() if r.metric(key) is not None}
                  for o, d in finals.items()}
        seeds = sorted(set(errors[ADAGRAD]) & set(errors[RMSPROP]))
        ratios = [math.log10(errors[ADAGRAD][s] / errors[RMSPROP][s]) for s in seeds
                  if errors[ADAGRAD][s] > 0 and errors[RMSPROP][s] > 0]
        pooled.extend(ratios)
        est = Estimate.from_samples(ratios)
        lr = {o: c[o]["best"].spec.optimizer.hp["lr"] if c[o]["best"] else None for o in (ADAGRAD, RMSPROP)}
        mean = {o: float(np.mean(list(errors[o].values()))) if errors[o] else math.nan for o in (ADAGRAD, RMSPROP)}
        rows.append([sname.removeprefix("matrix-"), name, fmt(lr[ADAGRAD]), fmt(mean[ADAGRAD], 4), fmt(lr[RMSPROP]),
                     fmt(mean[RMSPROP], 4), "—" if est is None else est.text()])
        numbers[sname] = {"error": name, "lr": lr, "mean_error": mean, "log10_ratio": ratios}
    analysis.quantities["matrix_log_error_ratio"] = Estimate.from_samples(pooled)
    analysis.tables.append({"caption": text["captions"]["matrix_table"], "columns": text["columns"]["matrix"],
                            "rows": rows})
    analysis.numbers["matrix"] = numbers


def _moving(records: list[Record], text: dict, analysis: Analysis) -> None:
    tuning, reported = split_studies(records, MOVING)
    if not tuning or not reported:
        return
    labels = text["labels"]
    choice = tuned_choice(tuning)
    finals = {o: [r for r in at_hp(reported, o, choice[o]["hp"]) if r.status == "ok"]
              for o in (ADAGRAD, RMSPROP) if o in choice}
    after = {o: {r.spec.seed: r.final["mean_gap_phases"][-1] for r in recs} for o, recs in finals.items()}
    before = {o: {r.spec.seed: r.final["mean_gap_phases"][0] for r in recs} for o, recs in finals.items()}
    numbers = {}
    if ADAGRAD in after and RMSPROP in after:
        seeds = sorted(set(after[ADAGRAD]) & set(after[RMSPROP]))
        vals = [math.log10(after[ADAGRAD][s] / after[RMSPROP][s]) for s in seeds]
        analysis.quantities["tracking_log_ratio"] = Estimate.from_samples(vals)
        numbers["tracking_log10_ratio"] = vals
    rows = []
    fig, axes = new_figure(ncols=2)
    move_at = reported[0].spec.model.params["move_at"]
    for o, recs in finals.items():
        c = choice[o]
        rows.append([optimizer_label(o), fmt(c["hp"]["lr"]) + (" *" if at_edge(c) else ""),
                     fmt(float(np.mean(list(before[o].values())))), fmt(float(np.mean(list(after[o].values())))),
                     f"{sum(g[1] is None for g in c['grid'])}/{len(c['grid'])}"])
        numbers[o] = {"lr": c["hp"]["lr"], "grid": [[g[0]["lr"], g[1]] for g in c["grid"]],
                      "mean_gap_before": before[o], "mean_gap_after": after[o]}
        if not recs:
            continue
        style = optimizer_style(o)
        n = min(len(r.history["step"]) for r in recs)
        steps = np.asarray(recs[0].history["step"][:n], dtype=float)
        gaps = np.asarray([r.history["gap"][:n] for r in recs], dtype=float)
        eff = np.asarray([np.median(np.asarray(r.history["effective_step"][:n]), axis=1) for r in recs])
        label = f"{optimizer_label(o)} (α = {c['hp']['lr']:.3g})"
        axes[0].plot(steps, np.median(gaps, axis=0), color=style["color"], ls=style["linestyle"], lw=1, label=label)
        axes[1].plot(steps[1:], np.median(eff[:, 1:], axis=0), color=style["color"], ls=style["linestyle"], lw=1,
                     label=label)
    total = reported[0].final["steps"] if reported[0].status == "ok" else None
    for ax in axes:
        if total:
            ax.axvline(move_at * total, color="0.4", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel(labels["steps"])
    axes[0].set_ylabel(labels["gap"])
    axes[1].set_ylabel(labels["effective_step"])
    axes[0].legend(fontsize=6)
    analysis.figures.append({"id": "rmsprop-moving-target", "svg": figure_to_svg(fig),
                             "caption": text["captions"]["moving"]})
    analysis.tables.append({"caption": text["captions"]["moving_table"], "columns": text["columns"]["moving"],
                            "rows": rows})
    analysis.numbers["moving_target"] = numbers


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in QUANTITIES})
    cells = _matrix_cells(records, studies)
    if cells:
        _effective_steps(cells, text, analysis)
        _matrix(cells, text, analysis)
    _moving(records, text, analysis)
    return analysis


QUANTITIES = {
    "adagrad_step_change": "log10(Adagrad's effective step at the end / at the first evaluation), matrix "
                           "families × seeds",
    "rmsprop_step_change": "log10(RMSprop's effective step at the end / at the first evaluation), matrix "
                           "families × seeds",
    "tracking_log_ratio": "log10(mean tracking error after the move, Adagrad / RMSprop), per start",
    "matrix_log_error_ratio": "log10(test error of tuned Adagrad / of tuned RMSprop), matrix families × seeds",
}

CLAIM = Claim(
    id="rmsprop-improves-adagrad",
    section="2",
    order=3,
    quantities=QUANTITIES,
    analyze=analyze,
    reads=("optimizer-matrix",),
)
