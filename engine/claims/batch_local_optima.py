"""batch-local-optima: batch (deterministic) methods "tienden a quedar atrapados en óptimos locales".

(a) A finite sum of tilted double wells (engine/objectives/tilted_wells.py) whose mean has a
shallow local and a deeper global minimum, both known in closed form.  Full-batch GD and
minibatch SGD start from the same points, each at the step its tuning chose (on other starts),
with the same budget of terms processed; the measured quantity is the fraction of starts that
end in the global basin (with Wilson intervals), and the paired gain SGD − GD over the starts.
(b) A small MLP on digits over many seeds: the final training loss of full-batch GD and of
minibatch SGD at the same examples processed (each tuned on validation), and, as a control, of
GD given as many updates as SGD: if GD were trapped, it would stay above SGD even then.
"""
from __future__ import annotations

import math

import numpy as np

from engine.claims._tuned import at_edge, at_hp, fmt, split_studies, tuned_choice, wilson
from engine.claims.base import Analysis, Claim
from engine.claims.optimizer_matrix import final_records
from engine.claims.verdict import Estimate
from engine.objectives import OBJECTIVES
from engine.record import Record
from engine.report.figures import figure_to_svg, new_figure, optimizer_label, optimizer_style

WELLS = "local-optima-wells"
MLP = "local-optima-mlp"
MLP_STEPS = "local-optima-mlp-steps"
FULL, MINI = "gd", "minibatch-sgd"


def _wells(records: list[Record], text: dict, analysis: Analysis) -> None:
    tuning, reported = split_studies(records, WELLS)
    if not tuning or not reported:
        return
    choice = tuned_choice(tuning)
    labels = text["labels"]
    finals = {o: at_hp(reported, o, choice[o]["hp"]) for o in (FULL, MINI) if o in choice}
    in_global = {o: {r.spec.seed: (r.status == "ok" and r.metric("basin") == 0) for r in recs}
                 for o, recs in finals.items()}
    rows, numbers = [], {}
    for o, recs in finals.items():
        n, k = len(recs), sum(in_global[o].values())
        lo, hi = wilson(k, n)
        c = choice[o]
        rows.append([optimizer_label(o), fmt(c["hp"]["lr"]) + (" *" if at_edge(c) else ""),
                     str(recs[0].final["steps"]) if recs else "—",
                     str(recs[0].final["examples"]) if recs else "—",
                     f"{k}/{n}", f"{k / n:.2f} [{lo:.2f}, {hi:.2f}]" if n else "—",
                     f"{sum(g[1] is None for g in c['grid'])}/{len(c['grid'])}"])
        numbers[o] = {"lr": c["hp"]["lr"], "tuning_score": c["score"], "starts": n, "in_global": k,
                      "fraction": k / n if n else None, "wilson_95": [lo, hi],
                      "grid": [[g[0]["lr"], g[1]] for g in c["grid"]]}
        if n:
            analysis.quantities[f"global_fraction_{'gd' if o == FULL else 'sgd'}"] = Estimate(k / n, lo, hi, n, ())
    if FULL in in_global and MINI in in_global:
        seeds = sorted(set(in_global[FULL]) & set(in_global[MINI]))
        gains = [float(in_global[MINI][s]) - float(in_global[FULL][s]) for s in seeds]
        analysis.quantities["global_fraction_gain"] = Estimate.from_samples(gains)
        numbers["paired_gain"] = {"starts": len(seeds), "mean": float(np.mean(gains)) if gains else None,
                                  "sgd_only": sum(g > 0 for g in gains), "gd_only": sum(g < 0 for g in gains)}
    analysis.tables.append({"caption": text["captions"]["wells_table"], "columns": text["columns"]["wells"],
                            "rows": rows})
    analysis.numbers["wells"] = numbers

    spec = reported[0].spec
    problem = OBJECTIVES[spec.model.kind].build(**spec.model.params)
    g, b, l = problem.critical_points
    fig, axes = new_figure(ncols=2)
    xs = np.linspace(-2.2, 2.2, 400)[:, None]
    slopes = np.linspace(-1, 1, 7) * spec.model.params["spread"]
    for s in slopes:
        axes[0].plot(xs[:, 0], np.asarray(problem.value(xs)) + s * xs[:, 0], color="0.8", lw=0.6)
    axes[0].plot(xs[:, 0], np.asarray(problem.value(xs)), color="black", lw=1.5, label=labels["mean"])
    axes[0].plot([g], [float(problem.value(np.array([[g]]))[0])], "*", color="black", ms=9, label=labels["global"])
    axes[0].plot([l], [float(problem.value(np.array([[l]]))[0])], "o", mfc="white", color="black", ms=6,
                 label=labels["local"])
    axes[0].axvline(b, color="0.5", ls=":", lw=1)
    axes[0].set_ylim(-1.5, 2.5)
    axes[0].set_xlabel(labels["x"])
    axes[0].set_ylabel(labels["f"])
    axes[0].legend(fontsize=6, loc="upper center")
    for o, recs in finals.items():
        style = optimizer_style(o)
        starts = [problem.initial_point(np.random.default_rng(r.spec.seed))[0] for r in recs]
        ends = [r.final["x"][0] if r.status == "ok" else math.nan for r in recs]
        axes[1].plot(starts, ends, ls="none", marker=style["marker"], color=style["color"], ms=3.5,
                     alpha=0.8, label=optimizer_label(o))
    for y, ls in ((g, "-"), (l, "--")):
        axes[1].axhline(y, color="0.6", ls=ls, lw=0.8)
    axes[1].axvline(b, color="0.5", ls=":", lw=1)
    axes[1].set_xlabel(labels["start"])
    axes[1].set_ylabel(labels["end"])
    axes[1].legend(fontsize=6)
    analysis.figures.append({"id": "local-optima-wells", "svg": figure_to_svg(fig),
                             "caption": text["captions"]["wells"]})


def _mlp(records: list[Record], text: dict, studies: dict, analysis: Analysis) -> None:
    labels = text["labels"]
    groups = {}
    if MLP in studies:
        cells = final_records([r for r in records if r.spec.study == MLP], studies[MLP])
        for o in (FULL, MINI):
            if o in cells:
                groups[o] = cells[o]
    if MLP_STEPS in studies:
        cells = final_records([r for r in records if r.spec.study == MLP_STEPS], studies[MLP_STEPS])
        if FULL in cells:
            groups["gd-steps"] = cells[FULL]
    if not groups:
        return
    loss = {name: {r.spec.seed: r.metric("train_loss") for r in cell["finals"] if r.status == "ok"}
            for name, cell in groups.items()}
    groups = {name: cell for name, cell in groups.items() if loss[name]}
    if not groups:
        return
    ratios = {}
    for name, quantity in ((FULL, "mlp_loss_log_ratio"), ("gd-steps", "mlp_loss_log_ratio_equal_steps")):
        if name in loss and MINI in loss:
            seeds = sorted(set(loss[name]) & set(loss[MINI]))
            vals = [math.log10(loss[name][s] / loss[MINI][s]) for s in seeds
                    if loss[name][s] and loss[MINI][s] and loss[name][s] > 0 and loss[MINI][s] > 0]
            analysis.quantities[quantity] = Estimate.from_samples(vals)
            ratios[quantity] = vals
    names = {FULL: labels["gd_examples"], "gd-steps": labels["gd_steps"], MINI: optimizer_label(MINI)}
    fig, ax = new_figure(width="half")
    rows = []
    for j, (name, cell) in enumerate(groups.items()):
        values = [v for v in loss[name].values() if v is not None]
        style = optimizer_style(FULL if name == "gd-steps" else name)
        jitter = np.linspace(-0.15, 0.15, max(len(values), 1))[:len(values)]
        ax.plot(j + jitter, values, ls="none", marker=style["marker"], color=style["color"], ms=4,
                mfc="white" if name == "gd-steps" else style["color"])
        if values:
            ax.plot([j - 0.25, j + 0.25], [np.median(values)] * 2, color="black", lw=1)
        best = cell["best"]
        first = cell["finals"][0] if cell["finals"] else None
        rows.append([names[name], fmt(best.spec.optimizer.hp["lr"]) if best else "—",
                     str(first.final["steps"]) if first else "—",
                     str(first.final["examples"]) if first else "—",
                     f"{np.mean(values):.3g} ± {np.std(values, ddof=1):.2g}" if len(values) > 1 else fmt(
                         values[0] if values else None),
                     f"{min(values):.3g} – {max(values):.3g}" if values else "—", str(len(values))])
    ax.set_xticks(range(len(groups)), [names[n].replace(", ", ",\n").replace(" (", "\n(") for n in groups],
                  fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel(labels["train_loss"])
    analysis.figures.append({"id": "local-optima-mlp", "svg": figure_to_svg(fig),
                             "caption": text["captions"]["mlp"]})
    analysis.tables.append({"caption": text["captions"]["mlp_table"], "columns": text["columns"]["mlp"],
                            "rows": rows})
    analysis.numbers["mlp"] = {"train_loss": {n: {str(s): v for s, v in d.items()} for n, d in loss.items()},
                               "log10_ratios": ratios,
                               "lr": {n: c["best"].spec.optimizer.hp["lr"] if c["best"] else None
                                      for n, c in groups.items()}}


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in CLAIM_QUANTITIES})
    _wells(records, text, analysis)
    _mlp(records, text, studies, analysis)
    return analysis


CLAIM_QUANTITIES = {
    "global_fraction_gain": "paired over the same starts: (ends in the global basin with minibatch SGD) − "
                            "(with full-batch GD), mean and t-interval over starts",
    "global_fraction_gd": "fraction of starts that full-batch GD ends in the global basin (Wilson interval)",
    "global_fraction_sgd": "fraction of starts that minibatch SGD ends in the global basin (Wilson interval)",
    "mlp_loss_log_ratio": "log10(final training loss of GD / of minibatch SGD), same seed, same examples processed",
    "mlp_loss_log_ratio_equal_steps": "log10(final training loss of GD with as many updates as SGD / of minibatch "
                                      "SGD), same seed",
}

CLAIM = Claim(
    id="batch-local-optima",
    section="1",
    order=2,
    quantities=CLAIM_QUANTITIES,
    analyze=analyze,
)
