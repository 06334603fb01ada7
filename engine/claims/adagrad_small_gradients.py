"""adagrad-small-gradients: Adagrad lets us "avanzar en alguna dirección incluso cuando el
gradiente es pequeño".

Two problems whose coordinates have gradients of very different sizes: a separable quadratic
with curvatures over three decades (engine/objectives/scaled_quadratic.py) and logistic
regression on data with rare binary features (engine/objectives/logistic_rare.py, data from
engine/data/rare_features.py).  Plain gradient descent (the SGD rule on the full objective) and
Adagrad, each at the step its tuning chose on other starts.  The trainer tracks each
coordinate's error |θ_i − θ*_i| relative to its start and the step after which it stays below
the tolerance; the measured quantity, per start, is log10 of (steps GD needs in the
small-gradient coordinates) / (steps Adagrad needs), where "needs" is the slowest of those
coordinates.  A coordinate that never settles counts as the whole budget plus one (a lower
bound, which can only shrink the ratio for GD).  The effective step α/√(v + ε) per coordinate
shows the mechanism.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib import cm
from matplotlib.ticker import LogLocator, NullLocator

from engine.claims._tuned import at_edge, at_hp, fmt, split_studies, tuned_choice
from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate
from engine.objectives import OBJECTIVES
from engine.record import Record
from engine.report.figures import figure_to_svg, new_figure, optimizer_label

PROBLEMS = {"adagrad-quadratic": "quadratic", "adagrad-logistic": "logistic"}
SGD, ADAGRAD = "gd", "adagrad"


def settle_steps(rec: Record, coordinates) -> int:
    """Steps until every listed coordinate stays within tolerance (budget + 1 if one never does)."""
    total = rec.spec.budget["max_steps"]
    steps = [rec.final["coordinate_steps"][i] for i in coordinates]
    return max(total + 1 if s is None else s for s in steps)


def _problem(sname: str, records: list[Record], text: dict, analysis: Analysis) -> None:
    tuning, reported = split_studies(records, sname)
    if not tuning or not reported:
        return
    short = PROBLEMS[sname]
    labels = text["labels"]
    spec = reported[0].spec
    problem = OBJECTIVES[spec.model.kind].build(**spec.model.params)
    small = list(problem.small_coordinates)
    large = [i for i in range(problem.dim) if i not in small]
    choice = tuned_choice(tuning)
    finals = {o: [r for r in at_hp(reported, o, choice[o]["hp"]) if r.status == "ok"]
              for o in (SGD, ADAGRAD) if o in choice}
    steps = {o: {r.spec.seed: settle_steps(r, small) for r in recs} for o, recs in finals.items()}
    steps_large = {o: {r.spec.seed: settle_steps(r, large) for r in recs} for o, recs in finals.items()}
    numbers = {"small_coordinates": small, "tolerance": problem.coordinate_tol}
    if SGD in steps and ADAGRAD in steps:
        seeds = sorted(set(steps[SGD]) & set(steps[ADAGRAD]))
        vals = [math.log10(steps[SGD][s] / steps[ADAGRAD][s]) for s in seeds]
        analysis.quantities[f"{short}_speedup_log10"] = Estimate.from_samples(vals)
        numbers["speedup_log10"] = vals
    rows = []
    for o, recs in finals.items():
        c = choice[o]
        eff_end = np.asarray([r.history["effective_step"][-1] for r in recs])
        eff_small, eff_large = np.median(eff_end[:, small]), np.median(eff_end[:, large])
        total = recs[0].spec.budget["max_steps"] if recs else 0
        unsettled = sum(s > total for s in steps[o].values())
        rows.append([optimizer_label(o), fmt(c["hp"]["lr"]) + (" *" if at_edge(c) else ""),
                     fmt(float(np.median(list(steps_large[o].values())))),
                     fmt(float(np.median(list(steps[o].values())))) + (f" ({unsettled}↑)" if unsettled else ""),
                     fmt(float(eff_large)), fmt(float(eff_small)),
                     f"{sum(g[1] is None for g in c['grid'])}/{len(c['grid'])}"])
        numbers[o] = {"lr": c["hp"]["lr"], "grid": [[g[0]["lr"], g[1]] for g in c["grid"]],
                      "steps_small": {str(s): v for s, v in steps[o].items()},
                      "steps_large": {str(s): v for s, v in steps_large[o].items()},
                      "effective_step_end_small": float(eff_small), "effective_step_end_large": float(eff_large),
                      "unsettled_small": unsettled}
    analysis.tables.append({"caption": text["captions"][f"{short}_table"].format(tol=problem.coordinate_tol),
                            "columns": text["columns"]["steps"], "rows": rows})
    analysis.numbers[short] = numbers

    # Error per coordinate over steps, one panel per optimizer (first reported start).
    if short == "quadratic":
        values, norm_label = np.asarray(problem.scales), labels["curvature"]
    else:
        params = spec.model.params
        from engine.data.rare_features import rare_probabilities
        freq = rare_probabilities(params["rare"], params["rare_low"], params["rare_high"])
        values, norm_label = np.concatenate([np.ones(params["common"]), freq]), labels["frequency"]
    norm = LogNorm(vmin=values.min(), vmax=values.max())
    cmap = cm.viridis
    fig, axes = new_figure(ncols=3)
    for ax, o in zip(axes[:2], (SGD, ADAGRAD)):
        if not finals.get(o):
            ax.set_visible(False)
            continue
        rec = finals[o][0]
        st = np.asarray(rec.history["step"], dtype=float)
        err = np.asarray(rec.history["coordinate_error"], dtype=float)
        for i in range(problem.dim):
            ax.loglog(np.maximum(st, 1), np.maximum(err[:, i], 1e-12), color=cmap(norm(values[i])),
                      lw=1.4 if i in small else 0.8, ls="-" if i in small else "--")
        ax.axhline(problem.coordinate_tol, color="0.4", lw=0.8, ls=":")
        ax.set_ylim(1e-6, 3)
        symbol = "λ" if rec.spec.optimizer.kind == "sgd" else "α"
        ax.set_title(f"{optimizer_label(o)} ({symbol} = {rec.spec.optimizer.hp['lr']:.3g})", fontsize=8)
        ax.set_xlabel(labels["steps"])
    axes[0].set_ylabel(labels["error"])
    ada = finals.get(ADAGRAD)
    if ada:
        rec = ada[0]
        st = np.asarray(rec.history["step"], dtype=float)
        eff = np.asarray(rec.history["effective_step"], dtype=float)
        for i in range(problem.dim):
            axes[2].loglog(np.maximum(st[1:], 1), eff[1:, i], color=cmap(norm(values[i])),
                           lw=1.4 if i in small else 0.8, ls="-" if i in small else "--")
        if SGD in finals and finals[SGD]:
            axes[2].axhline(finals[SGD][0].spec.optimizer.hp["lr"], color="black", lw=1, ls=":",
                            label=labels["sgd_step"])
            axes[2].legend(fontsize=6)
        axes[2].set_xlabel(labels["steps"])
        axes[2].set_ylabel(labels["effective_step"])
    for ax in axes:  # few ticks: minor log ticks cost seconds to lay out and say little here
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(LogLocator(numticks=5))
            axis.set_minor_locator(NullLocator())
    bar = fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes[2], shrink=0.9)
    bar.set_label(norm_label, fontsize=7)
    analysis.figures.append({"id": f"adagrad-{short}", "svg": figure_to_svg(fig),
                             "caption": text["captions"][short].format(tol=problem.coordinate_tol)})


def analyze(records: list[Record], text: dict, _studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in QUANTITIES})
    for sname in PROBLEMS:
        _problem(sname, records, text, analysis)
    return analysis


QUANTITIES = {
    "quadratic_speedup_log10": "log10(steps GD needs / steps Adagrad needs) until every small-curvature "
                               "coordinate of the scaled quadratic stays within tolerance, per start",
    "logistic_speedup_log10": "log10(steps GD needs / steps Adagrad needs) until every rare feature's "
                              "weight stays within tolerance of the minimiser, per start",
}

CLAIM = Claim(
    id="adagrad-small-gradients",
    section="2",
    order=2,
    quantities=QUANTITIES,
    analyze=analyze,
)
