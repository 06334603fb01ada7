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

The control: the same quadratic rotated into a random orthonormal basis Q, where the
small-gradient directions q_i are no longer coordinates.  Everything is measured along the q_i
(the trainer tracks |q_iᵀ(θ − θ*)|; Adagrad's effective step along q_i is q_iᵀ D q_i for its
diagonal D of per-coordinate steps).  Its speedup is reported beside the verdict, not judged by a
criterion: the lecture's sentence does not say where the small gradients lie, and the rotated
problem tests the scope of the mechanism (a diagonal preconditioner helps where the
small-gradient directions are coordinates), not the sentence.
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
from engine.kit.figures import figure_to_svg, new_figure, optimizer_label

PROBLEMS = {"adagrad-quadratic": "quadratic", "adagrad-rotated": "rotated", "adagrad-logistic": "logistic"}
SGD, ADAGRAD = "gd", "adagrad"


def settle_steps(rec: Record, coordinates) -> int:
    """Steps until every listed coordinate stays within tolerance (budget + 1 if one never does)."""
    total = rec.spec.budget["max_steps"]
    steps = [rec.final["coordinate_steps"][i] for i in coordinates]
    return max(total + 1 if s is None else s for s in steps)


def direction_steps(effective, basis) -> np.ndarray:
    """Adagrad's effective step along each tracked direction q_i: with the diagonal D of
    per-coordinate steps, q_iᵀ D q_i = Σ_j Q_ji² D_jj (the coordinates themselves when Q = I)."""
    effective = np.asarray(effective, dtype=float)
    return effective if basis is None else effective @ (np.asarray(basis) ** 2)


def _colour_values(short: str, spec, problem) -> tuple[np.ndarray, str]:
    """What each tracked direction is coloured by: its curvature, or its feature's frequency."""
    if short != "logistic":
        return np.asarray(problem.scales), "curvature"
    from engine.data.rare_features import rare_probabilities

    params = spec.model.params
    freq = rare_probabilities(params["rare"], params["rare_low"], params["rare_high"])
    return np.concatenate([np.ones(params["common"]), freq]), "frequency"


def _measure(short: str, problem, choice: dict, finals: dict, text: dict, analysis: Analysis) -> dict:
    """Sets the problem's speedup and numbers; returns its table."""
    small = list(problem.small_coordinates)
    large = [i for i in range(problem.dim) if i not in small]
    basis = getattr(problem, "basis", None)
    steps = {o: {r.spec.seed: settle_steps(r, small) for r in recs} for o, recs in finals.items()}
    steps_large = {o: {r.spec.seed: settle_steps(r, large) for r in recs} for o, recs in finals.items()}
    numbers = {"small_coordinates": small, "tolerance": problem.coordinate_tol}
    if SGD in steps and ADAGRAD in steps:
        seeds = sorted(set(steps[SGD]) & set(steps[ADAGRAD]))
        vals = [math.log10(steps[SGD][s] / steps[ADAGRAD][s]) for s in seeds]
        est = Estimate.from_samples(vals, unit="start")
        analysis.quantities[f"{short}_speedup_log10"] = est
        numbers["speedup_log10"] = vals
        numbers["speedup_estimate"] = None if est is None else est.as_dict()
    rows = []
    for o, recs in finals.items():
        c = choice[o]
        eff_end = direction_steps([r.history["effective_step"][-1] for r in recs], basis)
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
    analysis.numbers[short] = numbers
    return {"caption": text["captions"][f"{short}_table"].format(tol=problem.coordinate_tol),
            "columns": text["columns"]["steps"], "rows": rows}


def _error_panels(axes, finals: dict, problem, colour, labels: dict) -> None:
    """Error per tracked direction over steps, one panel per optimizer (its first reported start)."""
    small = problem.small_coordinates
    for ax, o in zip(axes, (SGD, ADAGRAD)):
        if not finals.get(o):
            ax.set_visible(False)
            continue
        rec = finals[o][0]
        st = np.asarray(rec.history["step"], dtype=float)
        err = np.asarray(rec.history["coordinate_error"], dtype=float)
        for i in range(problem.dim):
            ax.loglog(np.maximum(st, 1), np.maximum(err[:, i], 1e-12), color=colour(i),
                      lw=1.4 if i in small else 0.8, ls="-" if i in small else "--")
        ax.axhline(problem.coordinate_tol, color="0.4", lw=0.8, ls=":")
        ax.set_ylim(1e-6, 3)
        symbol = "λ" if rec.spec.optimizer.kind == "sgd" else "α"
        ax.set_title(f"{optimizer_label(o)} ({symbol} = {rec.spec.optimizer.hp['lr']:.3g})", fontsize=8)
        ax.set_xlabel(labels["steps"])
    axes[0].set_ylabel(labels["error"])


def _figure(short: str, spec, problem, finals: dict, text: dict) -> dict:
    labels = text["labels"]
    values, colour_label = _colour_values(short, spec, problem)
    norm = LogNorm(vmin=values.min(), vmax=values.max())
    cmap = cm.viridis
    colour = lambda i: cmap(norm(values[i]))
    small = problem.small_coordinates
    fig, axes = new_figure(ncols=3)
    _error_panels(axes[:2], finals, problem, colour, labels)
    if finals.get(ADAGRAD):
        rec = finals[ADAGRAD][0]
        st = np.asarray(rec.history["step"], dtype=float)
        eff = direction_steps(rec.history["effective_step"], getattr(problem, "basis", None))
        for i in range(problem.dim):
            axes[2].loglog(np.maximum(st[1:], 1), eff[1:, i], color=colour(i),
                           lw=1.4 if i in small else 0.8, ls="-" if i in small else "--")
        if finals.get(SGD):
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
    bar.set_label(labels[colour_label], fontsize=7)
    return {"id": f"adagrad-{short}", "svg": figure_to_svg(fig),
            "caption": text["captions"][short].format(tol=problem.coordinate_tol)}


def _problem(sname: str, records: list[Record], text: dict, analysis: Analysis) -> None:
    tuning, reported = split_studies(records, sname)
    if not tuning or not reported:
        return
    short = PROBLEMS[sname]
    spec = reported[0].spec
    problem = OBJECTIVES[spec.model.kind].build(**spec.model.params)
    choice = tuned_choice(tuning)
    finals = {o: [r for r in at_hp(reported, o, choice[o]["hp"]) if r.status == "ok"]
              for o in (SGD, ADAGRAD) if o in choice}
    table = _measure(short, problem, choice, finals, text, analysis)
    figure = _figure(short, spec, problem, finals, text)
    analysis.figures.append(figure)
    analysis.tables.append({**table, "after": figure["id"]})


def _speedups(text: dict, analysis: Analysis) -> None:
    """One row per problem: its speedup estimate, and whether a criterion judges it."""
    rows = []
    for short in PROBLEMS.values():
        est = analysis.quantities.get(f"{short}_speedup_log10")
        if short in analysis.numbers:
            rows.append([text["labels"]["problems"][short], text["labels"]["roles"][short],
                         "—" if est is None else est.text()])
    if rows:
        tol = analysis.numbers[next(s for s in PROBLEMS.values() if s in analysis.numbers)]["tolerance"]
        analysis.tables.append({"caption": text["captions"]["speedups"].format(tol=tol),
                                "columns": text["columns"]["speedups"], "rows": rows})


def analyze(records: list[Record], text: dict, _studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in QUANTITIES})
    for sname in PROBLEMS:
        _problem(sname, records, text, analysis)
    _speedups(text, analysis)
    return analysis


QUANTITIES = {
    "quadratic_speedup_log10": "log10(steps GD needs / steps Adagrad needs) until every small-curvature "
                               "coordinate of the scaled quadratic stays within tolerance, per start",
    "logistic_speedup_log10": "log10(steps GD needs / steps Adagrad needs) until every rare feature's "
                              "weight stays within tolerance of the minimiser, per start",
    "rotated_speedup_log10": "the same on the rotated quadratic, along its small-curvature eigendirections "
                             "(a reported control, not a criterion), per start",
}

CLAIM = Claim(
    id="adagrad-small-gradients",
    section="2",
    order=2,
    quantities=QUANTITIES,
    analyze=analyze,
)
