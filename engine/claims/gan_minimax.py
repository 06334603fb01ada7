"""gan-minimax (lecture §6): a GAN is a zero-sum game, g* = argmin_g max_d v(g, d), trained by
alternating steps.

v(g, d) = E_x log d(x) + E_z log(1 − d(g(z))) is what the discriminator maximises.  The slide's
game has the generator minimise the same v (``generator_loss: minimax``, study gan-minimax-ring);
the practical variant has it minimise −E log d(g(z)) instead (``non_saturating``, Goodfellow et al.
2014 §3, the optimizer matrix's GAN study, read here: ``reads=("optimizer-matrix",)``).  Both run
every optimizer with the same grids, tuning, budget and first seeds on the 8-mode Gaussian ring.

At the game's solution p_g = p_data, the best discriminator answers d(x) = ½ and v = −log 4.  d ≈ ½
alone proves nothing (a weak discriminator against a generator that covers no mode sits there
too), so a seed is at the solution when both hold on test: every mode covered and
|v − (−log 4)| ≤ δ (engine/claims/_gan.py).  The verdict judges the slide's game: the share of
its best optimizer's seeds at the solution.  Shown for both losses: v, D(real) and D(fake) over
training for the best optimizer; modes covered over training for every optimizer; samples over
training.
"""
from __future__ import annotations

import math

import numpy as np

from engine.claims._gan import (DELTA_VALUE, IDEAL_VALUE, LOSSES, at_solution, band, curves, final_value,
                                fmt, loss_variants, per_seed, samples_over_training)
from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate
from engine.record import Record
from engine.kit.figures import figure_to_svg, legend_below, new_figure, optimizer_label, optimizer_style

LOSS_COLORS = {"minimax": "#D55E00", "non_saturating": "#0072B2"}


def _game_figure(variants: dict, text: dict) -> dict:
    labels = text["labels"]
    fig, axes = new_figure(ncols=2)
    for loss, variant in variants.items():
        if variant["best"] is None:
            continue
        name = f"{labels[loss]} ({optimizer_label(variant['best'])})"
        steps, value = curves(variant["finals"], "val_value")
        if steps is not None:
            band(axes[0], steps, value, name, color=LOSS_COLORS[loss])
        for metric, ls in (("val_d_real", "-"), ("val_d_fake", "--")):
            steps, values = curves(variant["finals"], metric)
            if steps is not None:
                band(axes[1], steps, values, f"{labels[loss]}: {labels[metric[4:]]}", color=LOSS_COLORS[loss],
                     linestyle=ls)
    axes[0].axhline(IDEAL_VALUE, color="0.3", ls=":", lw=1, label=labels["ideal_value"])
    axes[0].axhspan(IDEAL_VALUE - DELTA_VALUE, IDEAL_VALUE + DELTA_VALUE, color="0.5", alpha=0.12, lw=0)
    axes[0].set_xlabel(labels["steps"])
    axes[0].set_ylabel(labels["value_axis"])
    legend_below(axes[0])
    axes[1].axhline(0.5, color="0.3", ls=":", lw=1, label=labels["half"])
    axes[1].set_ylim(0, 1)
    axes[1].set_xlabel(labels["steps"])
    axes[1].set_ylabel(labels["d_axis"])
    legend_below(axes[1])
    fig.set_figheight(fig.get_figheight() + 0.8)   # room for the five-line legend: the axes kept their labels' height
    return {"id": "gan-minimax-game", "svg": figure_to_svg(fig), "caption": text["captions"]["game"]}


def _modes_figure(variants: dict, n_modes: int, text: dict) -> dict:
    labels = text["labels"]
    fig, axes = new_figure(ncols=2)
    for ax, loss in zip(axes, LOSSES):
        ax.set_title(labels[loss], fontsize=8)
        ax.axhline(n_modes, color="0.3", ls=":", lw=1)
        ax.set_ylim(-0.3, n_modes + 0.5)
        ax.set_xlabel(labels["steps"])
        ax.set_ylabel(labels["modes_axis"])
        for oname, cell in (variants.get(loss) or {}).get("cells", {}).items():
            steps, values = curves(cell["finals"], "val_modes")
            if steps is not None:
                ax.plot(steps, np.nanmean(values, axis=0), label=optimizer_label(oname), lw=1.2,
                        **optimizer_style(oname))
    axes[1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return {"id": "gan-minimax-modes", "svg": figure_to_svg(fig), "caption": text["captions"]["modes"]}


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else math.nan


def _optimizer_rows(loss: str, variant: dict, n_modes: int, text: dict) -> tuple[list, dict]:
    """The table's rows for one generator loss, and its numbers for claims.json."""
    labels, rows, numbers = text["labels"], [], {}
    for oname, cell in variant["cells"].items():
        finals = cell["finals"]
        if cell["best"] is None:
            rows.append([labels[loss], optimizer_label(oname), labels["all_diverged"]] + ["—"] * 5)
            continue
        modes = [final_value(r, "test_modes", diverged=0.0) for r in finals]
        solved = [at_solution(r, n_modes) for r in finals]
        metrics = {m: [final_value(r, m) for r in finals] for m in ("test_value", "test_d_real", "test_d_fake")}
        lr = cell["best"].spec.optimizer.hp["lr"]
        star = " ★" if oname == variant["best"] else ""
        rows.append([labels[loss], optimizer_label(oname) + star, f"{lr:.3g}", per_seed(modes),
                     f"{sum(solved)}/{len(solved)}", fmt(_mean(metrics["test_value"])),
                     fmt(_mean(metrics["test_d_real"])), fmt(_mean(metrics["test_d_fake"]))])
        numbers[oname] = {"lr": lr, "seeds": [r.spec.seed for r in finals], "test_modes": modes,
                          "at_solution": solved, **metrics}
    return rows, numbers


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in QUANTITIES})
    variants = loss_variants(records, studies, "gaussian_ring", CLAIM_ID)
    if not variants:
        return analysis
    any_rec = next(r for v in variants.values() for c in v["cells"].values() for r in c["grid"])
    n_modes = int(any_rec.spec.dataset.params.get("n_modes", 8))
    rows, numbers = [], {}
    for loss in LOSSES:
        if loss not in variants:
            continue
        variant = variants[loss]
        loss_rows, per_optimizer = _optimizer_rows(loss, variant, n_modes, text)
        rows += loss_rows
        solved = [at_solution(r, n_modes) for r in variant["finals"]]
        numbers[loss] = {"study": variant["study"], "best_optimizer": variant["best"],
                         "tuned_on": variant["tune"]["metric"], "at_solution": solved,
                         "optimizers": per_optimizer}
        if loss == "minimax" and solved:
            analysis.quantities["minimax_at_solution"] = Estimate.proportion(sum(solved), len(solved), unit="seed")
    analysis.numbers = {"ideal_value": IDEAL_VALUE, "delta_value": DELTA_VALUE, "n_modes": n_modes,
                        "judged": "minimax", **numbers}
    analysis.figures.append(_game_figure(variants, text))
    analysis.figures.append(_modes_figure(variants, n_modes, text))
    fig = samples_over_training(variants, text["labels"], text["labels"]["step_title"])
    if fig is not None:
        analysis.figures.append({"id": "gan-minimax-samples", "svg": figure_to_svg(fig),
                                 "caption": text["captions"]["samples"]})
    tune = next(iter(variants.values()))["tune"]["metric"]
    analysis.tables.append({"caption": text["captions"]["table"].format(metric=tune),
                            "columns": text["columns"], "rows": rows})
    return analysis


CLAIM_ID = "gan-minimax"
QUANTITIES = {
    "minimax_at_solution": ("share of the seeds of the slide's game (generator_loss minimax), best optimizer, "
                            "that end with every mode covered on test and |v − (−log 4)| ≤ 0.1"),
}

CLAIM = Claim(
    id=CLAIM_ID,
    section="6",
    order=1,
    quantities=QUANTITIES,
    analyze=analyze,
    reads=("optimizer-matrix",),
)
