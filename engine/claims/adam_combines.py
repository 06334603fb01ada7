"""adam-combines: Adam combines RMSprop and momentum and "es una de las más utilizadas".

Three measurements, each declared before the numbers are seen:

1. *The reduction.*  At β₁ = 0 Adam's m̂_t is g_t, and Adam is RMSprop with the bias-corrected
   v̂_t = v_t/(1 − β₂ᵗ) (ε outside the root in both).  The procedure ``adam-rmsprop``
   (engine/procedures/adam_rmsprop.py) runs engine/optim/adam.py at β₁ = 0 and
   engine/optim/rmsprop.py with the correction folded into its step, on the same gradients
   (noisy ones too), and the lecture's uncorrected RMSprop beside them.  Quantities:
   ``max_rel_diff_bias_corrected`` (largest coordinate difference along the trajectory over the
   trajectory's scale, the largest over all runs: rounding only) and, for contrast,
   ``max_rel_diff_uncorrected``.  Both are exact (a deterministic identity checked on every run,
   not a mean over seeds: n counts the runs).
2. *Sensitivity to the learning rate.*  On studies that run a dense grid of rates with every
   seed (no tuning), the score of a rate is its final validation accuracy (a diverged run scores
   0).  For each family, optimizer and seed, the *good range* is the set of rates whose score is
   within ``MARGIN`` = 0.02 (2 points of accuracy) of that curve's best; its width in decades
   is measured on the piecewise-linear interpolation of score against log₁₀(rate), so it is not
   quantised to the grid's spacing.  A good range touching an end of the grid is *censored*
   (the width is a lower bound) and flagged.  Quantities, one value per seed averaged over the
   families: ``width_adam``, ``width_sgd``, ``width_momentum`` and the paired differences
   ``width_adam_minus_sgd``, ``width_adam_minus_momentum``.
3. *Rank.*  From the optimizer matrix (reads=("optimizer-matrix",)): in every family the seven
   variants are ranked seed by seed on the family's test score (heuristics_no_theory.score_metric;
   1 = best, ties averaged, a diverged seed last), among the optimizers that ran in that family.
   A family of m optimizers has ranks 1..m; so that families of different sizes weigh alike,
   Adam's rank r there is put on the scale of the matrix's ``VARIANTS`` = 7 variants,
   1 + (r − 1)·(7 − 1)/(m − 1) (the rank itself when m = 7).  ``adam_rank`` is that rank averaged
   over the families within each seed, one value per seed (n = seeds, never families × seeds).
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from matplotlib.ticker import NullFormatter

from engine.claims.base import Analysis, Claim
from engine.claims.heuristics_no_theory import (family_scores, metric_label, optimizer_label, optimizer_style,
                                               seed_ranks)
from engine.claims.verdict import Estimate
from engine.objectives import OBJECTIVES
from engine.record import Record
from engine.kit.figures import figure_to_svg, legend_under_figure, new_figure

MARGIN = 0.02
SCORE = "val_accuracy"
SENSITIVITY_OPTIMIZERS = {"sgd": "minibatch-sgd", "momentum": "momentum"}   # quantity suffix → name
ADAM = "adam"
VARIANTS = 7   # the lecture's variants: the scale adam_rank is reported on
TINY = 1e-18   # floor for plotting exact zeros on a log axis


# ----------------------------------------------------------------------------- sensitivity

def good_range(lrs, scores, margin: float = MARGIN) -> dict:
    """Width in decades of {rate: score ≥ max(score) − margin} on the piecewise-linear
    interpolation of score against log₁₀(rate); also the ends of that set and whether it touches
    an end of the grid (censored)."""
    order = np.argsort(lrs)
    x = np.log10(np.asarray(lrs, dtype=float)[order])
    y = np.asarray(scores, dtype=float)[order]
    y = np.where(np.isfinite(y), y, 0.0)
    tau = float(y.max()) - margin
    width, lo, hi = 0.0, math.inf, -math.inf
    for i in range(len(x) - 1):
        a, b = y[i], y[i + 1]
        if a >= tau and b >= tau:
            seg = (x[i], x[i + 1])
        elif a >= tau:
            seg = (x[i], x[i] + (x[i + 1] - x[i]) * (a - tau) / (a - b))
        elif b >= tau:
            seg = (x[i + 1] - (x[i + 1] - x[i]) * (b - tau) / (b - a), x[i + 1])
        else:
            continue
        width += seg[1] - seg[0]
        lo, hi = min(lo, seg[0]), max(hi, seg[1])
    if len(x) == 1 or not math.isfinite(lo):
        lo = hi = float(x[int(np.argmax(y))])
    return {"width": float(width), "low": 10 ** lo, "high": 10 ** hi, "threshold": tau,
            "best": float(y.max()), "best_lr": float(10 ** x[int(np.argmax(y))]),
            "censored": bool(y[0] >= tau or y[-1] >= tau)}


def sensitivity(records: list[Record]) -> dict:
    """study → optimizer → seed → good_range(...) plus the curve, for untuned grid studies."""
    cells: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for rec in records:
        spec = rec.spec
        value = rec.metric(SCORE)
        cells[spec.study][spec.optimizer.name][spec.seed].append(
            (spec.optimizer.hp["lr"], 0.0 if value is None or not math.isfinite(value) else float(value),
             rec.status != "ok"))
    out: dict = {}
    order = [ADAM, *SENSITIVITY_OPTIMIZERS.values()]
    for sname in sorted(cells):
        opts = cells[sname]
        out[sname] = {}
        for oname in sorted(opts, key=lambda o: (order.index(o) if o in order else len(order), o)):
            seeds = opts[oname]
            out[sname][oname] = {}
            for seed in sorted(seeds):
                points = seeds[seed]
                points.sort()
                lrs = [p[0] for p in points]
                scores = [p[1] for p in points]
                out[sname][oname][seed] = {**good_range(lrs, scores), "lrs": lrs, "scores": scores,
                                           "diverged": sum(p[2] for p in points)}
    return out


def _sensitivity_quantities(sens: dict) -> dict[str, Estimate | None]:
    """Per seed, the mean over families of each width and of Adam's paired differences."""
    seeds = sorted({s for fam in sens.values() for o in fam.values() for s in o})
    per_seed: dict = defaultdict(list)
    for seed in seeds:
        fams = [f for f in sens.values() if all(seed in f.get(o, {}) for o in (ADAM, *SENSITIVITY_OPTIMIZERS.values()))]
        if not fams:
            continue
        w = {o: float(np.mean([f[o][seed]["width"] for f in fams])) for o in (ADAM, *SENSITIVITY_OPTIMIZERS.values())}
        per_seed["width_adam"].append(w[ADAM])
        for short, oname in SENSITIVITY_OPTIMIZERS.items():
            per_seed[f"width_{short}"].append(w[oname])
            per_seed[f"width_adam_minus_{short}"].append(w[ADAM] - w[oname])
    names = ["width_adam"] + [f"width_{s}" for s in SENSITIVITY_OPTIMIZERS] + \
            [f"width_adam_minus_{s}" for s in SENSITIVITY_OPTIMIZERS]
    return {n: Estimate.from_samples(per_seed.get(n, [])) for n in names}


def _sensitivity_figure(sens: dict, families: dict, text: dict):
    labels = text["labels"]
    fig, axes = new_figure(ncols=max(len(sens), 1))
    axes = np.atleast_1d(axes)
    for ax, (sname, opts) in zip(axes, sens.items()):
        for oname, seeds in opts.items():
            curves = list(seeds.values())
            lrs = np.asarray(curves[0]["lrs"])
            ys = np.asarray([c["scores"] for c in curves if len(c["scores"]) == len(lrs)])
            style = optimizer_style(oname)
            ax.plot(lrs, ys.mean(0), color=style["color"], marker=style["marker"], ms=3, lw=1.1,
                    linestyle=style.get("linestyle", "-"), label=optimizer_label(oname))
            if len(ys) > 1:
                ax.fill_between(lrs, ys.min(0), ys.max(0), color=style["color"], alpha=0.18, lw=0)
            # the good range of each seed, as a bar at its threshold
            for c in curves:
                ax.plot([c["low"], c["high"]], [c["threshold"]] * 2, color=style["color"], lw=2.5,
                        alpha=0.55, solid_capstyle="butt")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(labels["lr"])
        ax.set_ylabel(metric_label(SCORE))
        ax.set_title(families.get(sname, sname), fontsize=8)
        ax.set_ylim(bottom=0)
    legend_under_figure(fig, axes[-1], ncols=3)  # inside an axes it covered curves
    return fig


def _sensitivity_table(sens: dict, families: dict, text: dict) -> list[list[str]]:
    rows = []
    for sname, opts in sens.items():
        for oname, seeds in opts.items():
            cs = list(seeds.values())
            est = Estimate.from_samples([c["width"] for c in cs])
            width = "—" if est is None else (f"{est.mean:.2f}" if est.n < 2 else
                                             f"{est.mean:.2f} [{est.low:.2f}, {est.high:.2f}]")
            lrs = cs[0]["lrs"]
            rows.append([families.get(sname, sname), optimizer_label(oname),
                         f"{lrs[0]:.0e} – {lrs[-1]:.0e} ({len(lrs)})",
                         f"{np.mean([c['best'] for c in cs]):.3f}",
                         ", ".join(f"{c['best_lr']:.2g}" for c in cs),
                         width,
                         f"{sum(c['censored'] for c in cs)}/{len(cs)}",
                         f"{sum(c['diverged'] for c in cs)}/{len(lrs) * len(cs)}"])
    return rows


# ----------------------------------------------------------------------------- reduction

def _paths_panel(ax, rec: Record, names: dict) -> None:
    """The three paths of one noise-free run on the objective's contours: Adam with β₁ = 0,
    bias-corrected RMSprop (markers) and plain RMSprop."""
    model = rec.spec.model
    problem = OBJECTIVES[model.kind].build(**model.params)
    pts = np.concatenate([np.asarray(rec.history[f"path_{k}"]) for k in names] + [problem.minimizer[None, :]])
    lo, hi = pts.min(0), pts.max(0)
    pad = 0.15 * (hi - lo) + 1e-9
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], 160),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], 160))
    fz = np.asarray(problem.value(np.stack([gx.ravel(), gy.ravel()], axis=1))).reshape(gx.shape)
    ax.contour(gx, gy, fz, levels=np.unique(np.quantile(fz, np.linspace(0.01, 0.95, 12) ** 2)),
               colors="0.8", linewidths=0.6)
    p = {k: np.asarray(rec.history[f"path_{k}"]) for k in names}
    ax.plot(p["adam"][:, 0], p["adam"][:, 1], "-", color=optimizer_style("adam")["color"], lw=2.2,
            label=names["adam"])
    every = max(len(p["rmsprop_bc"]) // 25, 1)
    ax.plot(p["rmsprop_bc"][::every, 0], p["rmsprop_bc"][::every, 1], "o", mfc="none", ms=4,
            color="#000000", label=names["rmsprop_bc"])
    ax.plot(p["rmsprop"][:, 0], p["rmsprop"][:, 1], "--", color=optimizer_style("rmsprop")["color"],
            lw=1.2, label=names["rmsprop"])
    ax.plot(*problem.minimizer, "*", color="black", ms=8)
    ax.set_title(model.name, fontsize=8)
    ax.legend(fontsize=6, loc="best")


def _reduction(records: list[Record], text: dict, analysis: Analysis) -> None:
    labels = text["labels"]
    ok = [r for r in records if r.status == "ok"]
    for q in ("max_rel_diff_bias_corrected", "max_rel_diff_uncorrected"):
        analysis.quantities[q] = Estimate.exact(max(r.final[q] for r in ok), unit="run", n=len(ok)) if ok else None
    paths = [r for r in records if "path_adam" in r.history]
    noisy = [r for r in records if "path_adam" not in r.history]
    fig, axes = new_figure(ncols=2)
    names = {"adam": labels["adam0"], "rmsprop_bc": labels["rmsprop_bc"], "rmsprop": labels["rmsprop"]}
    if paths:
        _paths_panel(axes[0], paths[0], names)
    else:
        axes[0].set_visible(False)
    ax = axes[1]
    for i, rec in enumerate(noisy or records):
        step = np.asarray(rec.history["step"])
        ax.plot(step, np.maximum(rec.history["diff_uncorrected"], TINY), "--",
                color=optimizer_style("rmsprop")["color"], lw=1, label=labels["diff_uncorrected"] if i == 0 else None)
        ax.plot(step, np.maximum(rec.history["diff_bias_corrected"], TINY), "-", color="#000000", lw=1,
                label=labels["diff_bias_corrected"] if i == 0 else None)
    ax.set_yscale("log")
    ax.set_xlabel(labels["steps"])
    ax.set_ylabel(labels["diff"])
    ax.legend(fontsize=6)
    analysis.figures.append({"id": "adam-reduction", "svg": figure_to_svg(fig),
                             "caption": text["captions"]["reduction"].format(n=len(noisy or records))})
    rows = []
    for rec in records:
        f, pp = rec.final, rec.spec.procedure.params
        rows.append([rec.spec.model.name, str(rec.spec.seed),
                     f"{pp['lr']:g}, {pp['beta2']:g}, {pp['eps']:g}, {pp['noise']:g}", str(pp["steps"]),
                     f"{f['max_abs_diff_bias_corrected']:.2e}", f"{f['max_rel_diff_bias_corrected']:.2e}",
                     f"{f['max_rel_diff_uncorrected']:.2e}"])
    analysis.tables.append({"caption": text["captions"]["reduction_table"], "columns": text["columns"]["reduction"],
                            "rows": rows, "after": "adam-reduction"})
    analysis.numbers["reduction"] = [{"study": r.spec.study, "seed": r.spec.seed,
                                      **{k: r.final[k] for k in ("max_abs_diff_bias_corrected",
                                                                    "max_rel_diff_bias_corrected",
                                                                    "max_abs_diff_uncorrected",
                                                                    "max_rel_diff_uncorrected")}}
                                     for r in records]


# ----------------------------------------------------------------------------- rank

def scaled_rank(rank: float, m: int, scale: int = VARIANTS) -> float:
    """A rank among m optimizers on the scale of `scale` of them: 1 + (r − 1)(scale − 1)/(m − 1)."""
    return 1.0 + (rank - 1.0) * (scale - 1) / (m - 1) if m > 1 else 1.0


def _rank(records: list[Record], studies: dict, text: dict, analysis: Analysis) -> None:
    families = family_scores(records, studies)
    per_seed: dict = defaultdict(list)
    table = {}
    for sname, fam in families.items():
        if ADAM not in fam["optimizers"]:
            continue
        ranks = seed_ranks(fam)
        m = len(fam["optimizers"])
        for seed, r in ranks.items():
            per_seed[seed].append(scaled_rank(r[ADAM], m))
        if ranks:
            table[sname] = {"model": fam["model"], "metric": fam["metric"],
                            "ranks": [r[ADAM] for r in ranks.values()], "n_optimizers": m}
    n_fam = max((len(v) for v in per_seed.values()), default=0)
    values = [float(np.mean(v)) for v in per_seed.values() if len(v) == n_fam and n_fam]
    analysis.quantities["adam_rank"] = Estimate.from_samples(values)
    analysis.numbers["rank"] = {"per_family": table, "per_seed_mean": values}
    if table:
        analysis.tables.append({
            "caption": text["captions"]["rank_table"], "columns": text["columns"]["rank"],
            "rows": [[t["model"], metric_label(t["metric"]), ", ".join(f"{x:g}" for x in t["ranks"]),
                      f"{np.mean(t['ranks']):.2f}", str(t["n_optimizers"])] for t in table.values()]})


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in CLAIM_QUANTITIES})
    procedure = [r for r in records if r.spec.procedure is not None and r.spec.procedure.kind == "adam-rmsprop"]
    grid = [r for r in records if r.spec.claim == "adam-combines" and not r.spec.procedure
            and r.spec.optimizer and not studies.get(r.spec.study, {}).get("tune")]
    matrix = [r for r in records if studies.get(r.spec.study, {}).get("tune")]
    if procedure:
        procedure.sort(key=lambda r: (r.spec.study, r.spec.model.name, r.spec.seed))
        _reduction(procedure, text, analysis)
    if grid:
        sens = sensitivity(grid)
        families = {s: next(r.spec.model.name for r in grid if r.spec.study == s) for s in sens}
        analysis.quantities.update(_sensitivity_quantities(sens))
        analysis.figures.append({"id": "adam-lr-sensitivity", "svg": figure_to_svg(_sensitivity_figure(sens, families, text)),
                                 "caption": text["captions"]["sensitivity"].format(margin=MARGIN)})
        analysis.tables.append({"caption": text["captions"]["sensitivity_table"].format(margin=MARGIN),
                                "columns": text["columns"]["sensitivity"],
                                "rows": _sensitivity_table(sens, families, text), "after": "adam-lr-sensitivity"})
        analysis.numbers["sensitivity"] = {
            "margin": MARGIN, "score": SCORE,
            "widths": {s: {o: {str(seed): {k: c[k] for k in ("width", "low", "high", "best", "best_lr", "censored")}
                               for seed, c in seeds.items()} for o, seeds in opts.items()} for s, opts in sens.items()}}
    if matrix:
        _rank(matrix, studies, text, analysis)
    return analysis


CLAIM_QUANTITIES = {
    "max_rel_diff_bias_corrected": "largest |θ_Adam(β₁=0) − θ_RMSprop with v̂| along the trajectory, over max‖θ‖∞",
    "max_rel_diff_uncorrected": "the same against the lecture's RMSprop without bias correction",
    "width_adam": "width in decades of the rates within 0.02 validation accuracy of the best, Adam (mean over families)",
    "width_sgd": "the same for minibatch SGD",
    "width_momentum": "the same for momentum",
    "width_adam_minus_sgd": "Adam's width minus minibatch SGD's, per seed, mean over families",
    "width_adam_minus_momentum": "Adam's width minus momentum's, per seed, mean over families",
    "adam_rank": "Adam's rank among the optimizers that ran in each family (1 = best), on the scale of 7 "
                 "variants, mean over families within a seed",
}

CLAIM = Claim(
    id="adam-combines",
    section="2",
    order=4,
    quantities=CLAIM_QUANTITIES,
    analyze=analyze,
    reads=("optimizer-matrix",),
)
