r"""minibatch-unbiased: "∇θJ(θ) = −E ∇θ log p_model(y|x)": the cost gradient is an expectation
over the training set, so the mean gradient of a random minibatch estimates it without bias.

Measured by the procedure engine/procedures/gradient_noise.py on real models and data (the digits
MLP and the digits CNN), at the initialisation and part-way through training with the study's
optimizer: for each B in 1, 2, 4, …, 256, many minibatches drawn without replacement give the bias
of their mean gradient against the full gradient and $E\|g_B - g\|^2$.  The law of sampling
without replacement is $E\|g_B - g\|^2 = \frac{\sigma^2}{B}\frac{N-B}{N-1}$, so after multiplying
by $(N-1)/(N-B)$ the variance falls as $1/B$: slope −1 in log-log.

Quantities (each measured once per seed, then an interval over seeds):

* ``slope_min`` / ``slope_max``: per seed, the smallest and largest fitted slope of
  log(variance · (N−1)/(N−B)) against log B over every (model, measurement point);
* ``bias_ratio_max``: per seed, the largest ‖mean of the draws' g_B − g‖ / its standard error
  √(E‖g_B − g‖²/draws) over every (model, point, B); sampling noise alone gives ≈ 1.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate, estimates
from engine.record import Record
from engine.kit.figures import figure_to_svg, legend_under_figure, new_figure

# Okabe-Ito: one colour and marker per measurement point (initialisation, part-way).
POINT_STYLES = [("#0072B2", "o"), ("#D55E00", "s"), ("#009E73", "^"), ("#CC79A7", "D")]


def gradient_noise_cases(records: list[Record]) -> dict:
    """model name → seed → {train step → statistics of that point}."""
    cases: dict = defaultdict(dict)
    for rec in records:
        procedure = rec.spec.procedure
        if rec.status != "ok" or procedure is None or procedure.kind != "gradient_noise":
            continue
        h = rec.history
        cases[rec.spec.model.name][rec.spec.seed] = {
            t: {**point, "train_loss": loss} for t, point, loss in zip(h["train_steps"], h["points"], h["train_loss"])}
    return dict(cases)


def per_seed_quantities(cases: dict) -> dict:
    """seed → {'slope_min', 'slope_max', 'bias_ratio_max'} over every model and point that seed has."""
    seeds = sorted({s for by_seed in cases.values() for s in by_seed})
    out = {}
    for seed in seeds:
        slopes, ratios = [], []
        for by_seed in cases.values():
            for point in by_seed.get(seed, {}).values():
                if point.get("slope") is not None:
                    slopes.append(point["slope"])
                ratios += [b / s for b, s in zip(point["bias"], point["bias_se"]) if s > 0]
        if slopes:
            out[seed] = {"slope_min": min(slopes), "slope_max": max(slopes),
                         "bias_ratio_max": max(ratios) if ratios else None}
    return out


def _point_label(text: dict, step: int) -> str:
    return text["labels"]["init"] if step == 0 else text["labels"]["trained"].format(steps=step)


def analyze(records: list[Record], text: dict, _studies: dict) -> Analysis:
    names = ("slope_min", "slope_max", "bias_ratio_max")
    analysis = Analysis(quantities={q: None for q in names})
    cases = gradient_noise_cases(records)
    if not cases:
        return analysis
    per_seed = per_seed_quantities(cases)
    analysis.quantities.update(estimates(per_seed.values(), names))
    labels = text["labels"]
    models = sorted(cases)

    fig_v, axes_v = new_figure(ncols=len(models))
    fig_b, axes_b = new_figure(ncols=len(models))
    axes_v, axes_b = np.atleast_1d(axes_v), np.atleast_1d(axes_b)
    rows, numbers = [], {}
    for ax_v, ax_b, model in zip(axes_v, axes_b, models):
        by_seed = cases[model]
        steps = sorted({t for points in by_seed.values() for t in points})
        numbers[model] = {}
        for j, step in enumerate(steps):
            color, marker = POINT_STYLES[j % len(POINT_STYLES)]
            points = [by_seed[s][step] for s in sorted(by_seed) if step in by_seed[s]]
            bs = np.asarray(points[0]["batch_sizes"], dtype=float)
            same = [p for p in points if p["batch_sizes"] == points[0]["batch_sizes"]]
            variance = np.mean([p["variance"] for p in same], axis=0)
            theory = np.mean([p["theory"] for p in same], axis=0)
            ratios = np.array([np.asarray(p["bias"]) / np.asarray(p["bias_se"]) for p in same])
            label = _point_label(text, step)
            ax_v.loglog(bs, theory, "-", color=color, lw=1, label=labels["theory"].format(point=label))
            ax_v.loglog(bs, variance, marker, color=color, ms=4, ls="none", label=labels["measured"].format(point=label))
            for r in ratios:
                ax_b.plot(bs, r, marker, color=color, ms=3, alpha=0.45, ls="none")
            ax_b.plot(bs, ratios.mean(axis=0), "-", color=color, lw=1, label=label)
            slope = Estimate.from_samples([p["slope"] for p in points])
            n, p_count = points[0]["n"], points[0]["p"]
            rows.append([model, label, f"{np.mean([p['train_loss'] for p in points]):.3g}", str(n), str(p_count),
                         f"{np.mean([p['sigma2'] for p in points]):.3g}", f"{np.mean([p['grad_norm'] for p in points]):.3g}",
                         slope.text() if slope else "—", f"{ratios.max():.2f}", str(len(points))])
            numbers[model][f"t{step}"] = {
                "batch_sizes": bs.tolist(), "n": n, "n_params": p_count,
                "slope_per_seed": [p["slope"] for p in points],
                "bias_ratio_max_per_seed": [p["bias_ratio_max"] for p in points],
                "variance_mean": variance.tolist(), "theory_mean": theory.tolist(),
                "train_loss_per_seed": [p["train_loss"] for p in points]}
        _label_panels(ax_v, ax_b, model, labels)
    # one legend under the panels (they share their lines); inside an axes it covered points
    legend_under_figure(fig_v, ax_v, ncols=2)
    legend_under_figure(fig_b, ax_b, ncols=2)
    analysis.figures.append({"id": "minibatch-variance", "svg": figure_to_svg(fig_v), "caption": text["captions"]["variance"]})
    analysis.figures.append({"id": "minibatch-bias", "svg": figure_to_svg(fig_b), "caption": text["captions"]["bias"]})
    analysis.tables.append({"caption": text["captions"]["table"], "columns": text["columns"], "rows": rows})
    analysis.numbers = {"per_seed": {str(s): v for s, v in per_seed.items()}, "cases": numbers}
    return analysis


def _label_panels(ax_v, ax_b, model: str, labels: dict) -> None:
    """Titles, log₂ batch axes, and the bias panel's guides at 1 and 3 standard errors."""
    for ax in (ax_v, ax_b):
        ax.set_title(model, fontsize=9)
        ax.set_xscale("log", base=2)
        ax.set_xlabel(labels["batch"])
    ax_v.set_ylabel(labels["variance"])
    ax_b.axhline(3.0, color="0.3", ls="--", lw=0.8)
    ax_b.axhline(1.0, color="0.6", ls=":", lw=0.8)
    ax_b.set_ylim(bottom=0)
    ax_b.set_ylabel(labels["bias_ratio"])


CLAIM = Claim(
    id="minibatch-unbiased",
    section="1",
    order=1,
    quantities={
        "slope_min": "per seed, the smallest fitted log-log slope of E‖g_B − g‖²·(N−1)/(N−B) against B over models and points",
        "slope_max": "per seed, the largest fitted log-log slope of E‖g_B − g‖²·(N−1)/(N−B) against B over models and points",
        "bias_ratio_max": "per seed, the largest ‖mean g_B − g‖ / standard error over models, points and B",
    },
    analyze=analyze,
)
