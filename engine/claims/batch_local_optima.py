"""batch-local-optima: batch (deterministic) methods "tienden a quedar atrapados en óptimos locales".

"Stuck" means stopped, so every run compared here is trained until it has converged, and every
quantity is computed from converged runs only (how many converged is reported).

(a) A finite sum of 64 terms on a rippled bowl in 2-D (engine/objectives/ripple_lattice.py): a
minimum at every lattice point, the global one at 0, and every term stationary at every minimum, so
that both full-batch GD and minibatch SGD (B = 4) at a constant step can converge anywhere.  From
the same 100 starts, each method at the step its tuning chose on 20 other starts (the lowest mean
final gap f − f* among the steps at which every tuning start converged), each run until
‖∇f‖ ≤ 10⁻⁶ (cap: the same terms processed): the share of starts that end at the global minimum,
the paired gain SGD − GD, and the same gain with GD at SGD's step (only the noise differs).
(b) A small MLP on digits, full-batch GD against minibatch SGD over 10 seeds, each run until its
training loss changes by at most a tolerance over an epoch, each at the rate that gave the lowest
mean converged training loss on 3 tuning seeds: log10 of GD's over SGD's final training loss, seed
by seed.
"""
from __future__ import annotations

import math

import numpy as np

from engine.claims._tuned import at_edge, at_hp, fmt, split_studies, tuned_choice
from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate
from engine.objectives import OBJECTIVES
from engine.objectives.ripple_lattice import flow_minimum
from engine.record import Record
from engine.kit.figures import figure_to_svg, new_figure, optimizer_label, optimizer_style

LATTICE = "local-optima-lattice"
MLP = "local-optima-mlp"
FULL, MINI = "gd", "minibatch-sgd"


def converged(rec: Record) -> bool:
    return rec.status == "ok" and bool(rec.final.get("converged"))


def converged_score(quantity: str):
    """A tuning score: the run's final ``quantity`` if it converged, else +∞, so that a step at
    which any tuning run did not converge is never chosen."""
    return lambda rec: rec.final[quantity] if converged(rec) else math.inf


def paired(a: dict, b: dict, value) -> list[float]:
    """value(a[s], b[s]) over the seeds (starts) where both runs converged."""
    return [value(a[s], b[s]) for s in sorted(set(a) & set(b)) if converged(a[s]) and converged(b[s])]


def in_global(rec: Record) -> float:
    return float(rec.final["basin"] == 0)


def _by_seed(records: list[Record]) -> dict:
    return {r.spec.seed: r for r in records}


def left_start_basin(rec: Record, problem) -> bool:
    """Whether the run ended at another minimum than gradient flow from its start reaches."""
    params = rec.spec.model.params
    start = problem.initial_point(np.random.default_rng(rec.spec.seed))
    return bool(np.any(np.rint(rec.final["x"]) != flow_minimum(start, params["a"], params["b"])))


def _grid_text(choice: dict) -> str:
    ok = sum(g[1] is not None and math.isfinite(g[1]) for g in choice["grid"])
    return f"{ok}/{len(choice['grid'])}"


def _lattice(records: list[Record], text: dict, analysis: Analysis) -> None:
    tuning, reported = split_studies(records, LATTICE)
    if not tuning or not reported:
        return
    choice = tuned_choice(tuning, converged_score("final_gap"))
    if FULL not in choice or MINI not in choice or choice[MINI]["hp"] is None:
        return
    runs = {FULL: _by_seed(at_hp(reported, FULL, choice[FULL]["hp"])),
            MINI: _by_seed(at_hp(reported, MINI, choice[MINI]["hp"])),
            "gd-same-step": _by_seed(at_hp(reported, FULL, choice[MINI]["hp"]))}
    steps = {FULL: choice[FULL]["hp"], MINI: choice[MINI]["hp"], "gd-same-step": choice[MINI]["hp"]}
    names = {FULL: optimizer_label(FULL), MINI: optimizer_label(MINI), "gd-same-step": text["labels"]["gd_same_step"]}
    problem = OBJECTIVES[reported[0].spec.model.kind].build(**reported[0].spec.model.params)
    rows, numbers = [], {}
    for name, by_seed in runs.items():
        done = [r for r in by_seed.values() if converged(r)]
        k = int(sum(in_global(r) for r in done))
        left = sum(left_start_basin(r, problem) for r in done)
        est = Estimate.proportion(k, len(done), unit="start")
        tuned = choice[FULL if name == FULL else MINI]
        rows.append([names[name], fmt(steps[name]["lr"]) + (" *" if at_edge(tuned) else ""),
                     f"{len(done)}/{len(by_seed)}", f"{k}/{len(done)}",
                     f"{est.mean:.2f} [{est.low:.2f}, {est.high:.2f}]" if est else "—",
                     f"{left}/{len(done)}", fmt(float(np.median([r.final["steps"] for r in done]))) if done else "—"])
        numbers[name] = {"lr": steps[name]["lr"], "runs": len(by_seed), "converged": len(done), "in_global": k,
                         "left_start_basin": left,
                         "fraction": est.mean if est else None, "wilson_95": [est.low, est.high] if est else None}
        if name != "gd-same-step":
            analysis.quantities[f"global_fraction_{'gd' if name == FULL else 'sgd'}"] = est
    for o in (FULL, MINI):
        numbers[o].update(tuning_score=choice[o]["score"], at_edge=at_edge(choice[o]),
                          grid=[[g[0]["lr"], g[1] if g[1] is None or math.isfinite(g[1]) else None]
                                for g in choice[o]["grid"]])
    for quantity, control in (("global_fraction_gain", FULL), ("global_fraction_gain_same_step", "gd-same-step")):
        gains = paired(runs[MINI], runs[control], lambda s, g: in_global(s) - in_global(g))
        analysis.quantities[quantity] = Estimate.from_samples(gains, unit="start")
        numbers[quantity] = {"pairs": len(gains), "sgd_only": sum(g > 0 for g in gains),
                             "gd_only": sum(g < 0 for g in gains)}
    analysis.tables.append({"caption": text["captions"]["lattice_table"], "columns": text["columns"]["lattice"],
                            "rows": rows})
    analysis.numbers["lattice"] = numbers
    analysis.figures.append({"id": "local-optima-lattice", "caption": text["captions"]["lattice"],
                             "svg": _lattice_figure(reported[0], runs, numbers, names, text["labels"])})


def _lattice_figure(example: Record, runs: dict, numbers: dict, names: dict, labels: dict) -> str:
    """Left: the mean objective's level curves with each start marked by which method ended at the
    global minimum.  Right: the share of converged runs at the global minimum, Wilson intervals."""
    params = example.spec.model.params
    problem = OBJECTIVES[example.spec.model.kind].build(**params)
    fig, (ax, bx) = new_figure(ncols=2)
    grid = np.linspace(-3, 3, 241)
    xx, yy = np.meshgrid(grid, grid)
    zz = np.asarray(problem.gap(np.stack([xx.ravel(), yy.ravel()], axis=1))).reshape(xx.shape)
    ax.contour(xx, yy, zz, levels=np.linspace(0, float(zz.max()), 25), colors="0.8", linewidths=0.5)
    lattice = np.arange(-3, 4)
    ax.plot(*np.meshgrid(lattice, lattice), ls="none", marker=".", color="0.5", ms=3)
    ax.plot([0], [0], "*", color="black", ms=10, label=labels["global"])
    outcome_styles = (((1, 1), "both", "#009E73", "o"), ((1, 0), "sgd_only", "#0072B2", "^"),
                      ((0, 1), "gd_only", "#D55E00", "v"), ((0, 0), "neither", "0.4", "x"))
    sgd, gd = runs[MINI], runs[FULL]
    seeds = [s for s in sorted(set(sgd) & set(gd)) if converged(sgd[s]) and converged(gd[s])]
    for (s_ok, g_ok), key, color, marker in outcome_styles:
        pts = [problem.initial_point(np.random.default_rng(s)) for s in seeds
               if (in_global(sgd[s]), in_global(gd[s])) == (s_ok, g_ok)]
        if pts:
            ax.plot(*np.array(pts).T, ls="none", marker=marker, color=color, ms=3.5, mfc="none" if marker != "x" else None,
                    label=labels[key])
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    for j, name in enumerate(runs):
        n = numbers[name]
        if n["fraction"] is None:
            continue
        style = optimizer_style(MINI if name == MINI else FULL)
        bx.bar(j, n["fraction"], color=style["color"], alpha=0.35 if name == "gd-same-step" else 0.8)
        bx.errorbar(j, n["fraction"], yerr=[[n["fraction"] - n["wilson_95"][0]], [n["wilson_95"][1] - n["fraction"]]],
                    color="black", capsize=3, lw=1)
    bx.set_xticks(range(len(runs)), [names[n].replace(" (", "\n(") for n in runs], fontsize=7)
    bx.set_ylim(0, 1)
    bx.set_ylabel(labels["global_share"])
    return figure_to_svg(fig)


def _mlp(records: list[Record], text: dict, analysis: Analysis) -> None:
    tuning, reported = split_studies(records, MLP)
    if not reported:
        return
    choice = tuned_choice(tuning, converged_score("train_loss_full")) if tuning else {}
    runs = {o: _by_seed([r for r in reported if r.spec.optimizer.name == o]) for o in (FULL, MINI)}
    runs = {o: by_seed for o, by_seed in runs.items() if by_seed}
    if not runs:
        return
    rows, numbers = [], {}
    fig, ax = new_figure(width="half")
    for j, (o, by_seed) in enumerate(runs.items()):
        lr = next(iter(by_seed.values())).spec.optimizer.hp["lr"]
        tuned = choice.get(o, {}).get("hp")
        done = [r for r in by_seed.values() if converged(r)]
        losses = [r.final["train_loss_full"] for r in done]
        style = optimizer_style(o)
        for k, r in enumerate(sorted(by_seed.values(), key=lambda r: r.spec.seed)):
            if r.status == "ok":
                ax.plot(j + 0.3 * (k / max(len(by_seed) - 1, 1) - 0.5), r.final["train_loss_full"], ls="none",
                        marker=style["marker"], color=style["color"], ms=4, mfc=style["color"] if converged(r) else "white")
        if losses:
            ax.plot([j - 0.25, j + 0.25], [np.median(losses)] * 2, color="black", lw=1)
        rows.append([optimizer_label(o), fmt(lr) + ("" if tuned is None or tuned["lr"] == lr else " ≠"),
                     _grid_text(choice[o]) if o in choice else "—", f"{len(done)}/{len(by_seed)}",
                     fmt(float(np.median([r.final["epochs"] for r in done]))) if done else "—",
                     f"{np.mean(losses):.3g} ± {np.std(losses, ddof=1):.2g}" if len(losses) > 1 else fmt(
                         losses[0] if losses else None),
                     f"{min(losses):.3g} – {max(losses):.3g}" if losses else "—"])
        numbers[o] = {"lr": lr, "tuned_lr": None if tuned is None else tuned["lr"],
                      "rate_is_tuned": tuned is not None and tuned["lr"] == lr,
                      "tuning_grid": [[g[0]["lr"], g[1] if g[1] is None or math.isfinite(g[1]) else None]
                                      for g in choice[o]["grid"]] if o in choice else None,
                      "at_edge": at_edge(choice[o]) if o in choice else None,
                      "runs": len(by_seed), "converged": len(done),
                      "train_loss": {str(r.spec.seed): r.final.get("train_loss_full") for r in by_seed.values()},
                      "converged_seeds": sorted(r.spec.seed for r in done)}
    if FULL in runs and MINI in runs:
        ratios = paired(runs[FULL], runs[MINI],
                        lambda g, s: math.log10(g.final["train_loss_full"] / s.final["train_loss_full"]))
        analysis.quantities["mlp_converged_loss_log_ratio"] = Estimate.from_samples(ratios, unit="seed")
        numbers["log10_ratios"] = ratios
    ax.set_xticks(range(len(runs)), [optimizer_label(o) for o in runs], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel(text["labels"]["train_loss"])
    analysis.figures.append({"id": "local-optima-mlp", "svg": figure_to_svg(fig), "caption": text["captions"]["mlp"]})
    analysis.tables.append({"caption": text["captions"]["mlp_table"], "columns": text["columns"]["mlp"],
                            "rows": rows})
    analysis.numbers["mlp"] = numbers


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in CLAIM_QUANTITIES})
    _lattice(records, text, analysis)
    _mlp(records, text, analysis)
    return analysis


CLAIM_QUANTITIES = {
    "global_fraction_gain": "paired over the same starts, both runs converged: (ends at the global minimum with "
                            "minibatch SGD) − (with full-batch GD), each at its tuned step; mean and t-interval",
    "global_fraction_gain_same_step": "the same with GD at SGD's tuned step (only the noise differs)",
    "global_fraction_gd": "share of converged full-batch GD runs that end at the global minimum (Wilson interval)",
    "global_fraction_sgd": "share of converged minibatch SGD runs that end at the global minimum (Wilson interval)",
    "mlp_converged_loss_log_ratio": "log10(final training loss of GD / of minibatch SGD), same seed, both "
                                    "converged; mean and t-interval over seeds",
}

CLAIM = Claim(
    id="batch-local-optima",
    section="1",
    order=2,
    quantities=CLAIM_QUANTITIES,
    analyze=analyze,
)
