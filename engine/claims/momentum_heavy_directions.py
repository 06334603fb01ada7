"""momentum-heavy-directions: momentum "sigue la dirección de gradientes pesados".

Measured on quadratics of condition number κ (engine/objectives/quadratic.py): the steps that
GD and momentum need to reach a fixed relative accuracy, each at the best step size (and β) of
its grid, for every seed.  Theory (Polyak 1964; Goh 2017): GD needs O(κ) steps, momentum
O(√κ), so the fitted slopes of log(steps) against log(κ) should be near 1 and 0.5.
Trajectories on an elongated valley and on Rosenbrock show *why*: the moving average cancels
the gradient components that flip sign across the valley and accumulates those along it.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate
from engine.objectives import OBJECTIVES
from engine.record import Record
from engine.kit.figures import figure_to_svg, legend_below, new_figure, optimizer_label, optimizer_style

# Which rule each slope belongs to: plain GD is the `sgd` rule on a deterministic objective.
SLOPE_OF_KIND = {"sgd": "slope_gd", "momentum": "slope_momentum"}


def theory_steps(kappa: float, target: float, accelerated: bool) -> float:
    """Steps for the worst-case contraction q to shrink f − f* by `target` (f ∝ q^{2t}):
    GD at λ = 2/(L+μ): q = (κ−1)/(κ+1); heavy ball at its optimum: q = (√κ−1)/(√κ+1)."""
    r = math.sqrt(kappa) if accelerated else kappa
    q = (r - 1) / (r + 1)
    return math.log(1 / target) / (2 * math.log(1 / q))


def _best_per_cell(records: list[Record]) -> dict:
    """(optimizer name, seed, κ) → the record that reached the target in the fewest steps."""
    best: dict = {}
    for rec in records:
        steps = rec.metric("steps_to_target")   # None: diverged, or never reached the target
        if rec.status != "ok" or steps is None:
            continue
        s = rec.spec
        cell = (s.optimizer.name, s.seed, s.vary["kappa"])
        if cell not in best or steps < best[cell].final["steps_to_target"]:
            best[cell] = rec
    return best


def _grid_edges(records: list[Record]) -> dict:
    """optimizer name → {hyperparameter: (min, max)} over the grid that was run."""
    seen: dict = defaultdict(lambda: defaultdict(set))
    for rec in records:
        for k, v in rec.spec.optimizer.hp.items():
            if not isinstance(v, str):
                seen[rec.spec.optimizer.name][k].add(v)
    return {o: {k: (min(v), max(v)) for k, v in hps.items() if len(v) > 1} for o, hps in seen.items()}


def _fit_slope(kappas, steps) -> float | None:
    if len(kappas) < 2:
        return None
    return float(np.polyfit(np.log(kappas), np.log(steps), 1)[0])


def slopes_per_seed(records: list[Record]) -> dict[str, list]:
    """optimizer name → its fitted slope of log steps against log κ for each seed (in seed order;
    None for a seed that reached the target at fewer than two κ), each κ at its best grid point."""
    best = _best_per_cell(records)
    kappas = sorted({r.spec.vary["kappa"] for r in records})
    seeds = sorted({r.spec.seed for r in records})
    out = {}
    for oname in dict.fromkeys(r.spec.optimizer.name for r in records):
        out[oname] = []
        for seed in seeds:
            ks = [k for k in kappas if (oname, seed, k) in best]
            out[oname].append(_fit_slope(ks, [best[(oname, seed, k)].final["steps_to_target"] for k in ks]))
    return out


def _scaling(records: list[Record], text: dict, analysis: Analysis) -> None:
    best = _best_per_cell(records)
    edges = _grid_edges(records)
    kappas = sorted({r.spec.vary["kappa"] for r in records})
    optimizers = list(dict.fromkeys(r.spec.optimizer.name for r in records))
    kinds = {r.spec.optimizer.name: r.spec.optimizer.kind for r in records}
    seeds = sorted({r.spec.seed for r in records})
    target = records[0].spec.budget["target"]

    fig, ax = new_figure()
    slopes: dict = {}
    rows = []
    per_optimizer = slopes_per_seed(records)
    for oname in optimizers:
        per_seed = per_optimizer[oname]
        quantity = SLOPE_OF_KIND.get(kinds[oname])
        if quantity:
            slopes[quantity] = Estimate.from_samples(per_seed)
        means = [np.mean([best[(oname, s, k)].final["steps_to_target"] for s in seeds if (oname, s, k) in best])
                 if any((oname, s, k) in best for s in seeds) else np.nan for k in kappas]
        style = optimizer_style(oname)
        color, name = style["color"], optimizer_label(oname)
        ax.loglog(kappas, means, style["marker"], color=color, label=text["labels"]["measured"].format(optimizer=name))
        est = slopes.get(quantity)
        if est is not None:
            ok = np.isfinite(means)
            coef = np.polyfit(np.log(np.array(kappas)[ok]), np.log(np.array(means)[ok]), 1)
            ax.loglog(kappas, np.exp(np.polyval(coef, np.log(kappas))), "-", color=color, lw=1,
                      label=text["labels"]["fit"].format(optimizer=name, slope=est.mean))
        accelerated = kinds[oname] == "momentum"
        ax.loglog(kappas, [theory_steps(k, target, accelerated) for k in kappas], ":", color=color, lw=1,
                  label=text["labels"]["theory"].format(optimizer=name))
        for k, m in zip(kappas, means):
            cells = [best[(oname, s, k)] for s in seeds if (oname, s, k) in best]
            hp = cells[0].spec.optimizer.hp if cells else {}
            at_edge = [h for h, (lo, hi) in edges.get(oname, {}).items() if hp.get(h) in (lo, hi)]
            rows.append([oname, f"{k:.4g}", "—" if not cells else f"{m:.4g}",
                         f"{theory_steps(k, target, accelerated):.4g}",
                         ", ".join(f"{h}={v:.3g}" for h, v in hp.items() if not isinstance(v, str)) or "—",
                         ", ".join(at_edge) or "—", f"{len(cells)}/{len(seeds)}"])
    ax.set_xlabel(text["labels"]["kappa"])
    ax.set_ylabel(text["labels"]["steps"].format(target=target))
    ax.legend(fontsize=7)
    analysis.figures.append({"id": "momentum-scaling", "svg": figure_to_svg(fig),
                             "caption": text["captions"]["scaling"].format(target=target)})
    analysis.tables.append({"caption": text["captions"]["table"].format(target=target),
                            "columns": text["columns"], "rows": rows})
    analysis.quantities.update(slopes)
    analysis.numbers["scaling"] = {
        "kappas": kappas, "seeds": seeds, "target": target,
        "best_steps": {f"{o}|seed={s}|kappa={k:g}": r.final["steps_to_target"] for (o, s, k), r in best.items()},
        "best_hyperparameters": {f"{o}|seed={s}|kappa={k:g}": r.spec.optimizer.hp for (o, s, k), r in best.items()},
    }


def _trajectories(records: list[Record], text: dict, analysis: Analysis) -> None:
    by_model: dict = defaultdict(list)
    for rec in records:
        if rec.status in ("ok", "diverged") and "path" in rec.history and rec.spec.seed == records[0].spec.seed:
            by_model[rec.spec.model.name].append(rec)
    if not by_model:
        return
    fig, axes = new_figure(ncols=len(by_model))
    axes = np.atleast_1d(axes)
    for ax, (mname, recs) in zip(axes, sorted(by_model.items())):
        model = recs[0].spec.model
        problem = OBJECTIVES[model.kind].build(**model.params)
        paths = [np.asarray(r.history["path"]) for r in recs]
        pts = np.concatenate(paths + [problem.minimizer[None, :]])
        lo, hi = pts.min(0), pts.max(0)
        pad = 0.15 * (hi - lo) + 1e-9
        xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 200)
        ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 200)
        gx, gy = np.meshgrid(xs, ys)
        fz = np.asarray(problem.value(np.stack([gx.ravel(), gy.ravel()], axis=1))).reshape(gx.shape)
        levels = np.quantile(fz, np.linspace(0.01, 0.95, 14) ** 2)
        ax.contour(gx, gy, fz, levels=np.unique(levels), colors="0.75", linewidths=0.6)
        for rec, path in zip(recs, paths):
            o = rec.spec.optimizer
            hp = ", ".join(f"{k}={v:g}" for k, v in o.hp.items() if not isinstance(v, str))
            style = optimizer_style(o.name)
            ax.plot(path[:, 0], path[:, 1], color=style["color"], linestyle=style["linestyle"], lw=1,
                    label=f"{optimizer_label(o.name)} ({hp}): {len(path) - 1} {text['labels']['steps_short']}")
        ax.plot(*problem.minimizer, "*", color="black", ms=8)
        ax.plot(*paths[0][0], "o", color="black", ms=4)
        ax.set_title(text["labels"].get("models", {}).get(mname, mname), fontsize=9)
        legend_below(ax)  # inside the axes it covered the paths
    analysis.figures.append({"id": "momentum-trajectories", "svg": figure_to_svg(fig),
                             "caption": text["captions"]["trajectories"]})


def analyze(records: list[Record], text: dict, _studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in SLOPE_OF_KIND.values()})
    scaling = [r for r in records if "kappa" in r.spec.vary]
    if scaling:
        _scaling(scaling, text, analysis)
    _trajectories([r for r in records if "kappa" not in r.spec.vary], text, analysis)
    return analysis


CLAIM = Claim(
    id="momentum-heavy-directions",
    section="2",
    quantities={"slope_gd": "fitted slope of log(steps to target) against log(κ), gradient descent",
                "slope_momentum": "fitted slope of log(steps to target) against log(κ), momentum"},
    analyze=analyze,
)
