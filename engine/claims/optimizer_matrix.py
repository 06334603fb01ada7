"""optimizer-matrix: every optimizer variant on every model family.

For each study (one model family on one data set), each optimizer's learning rate is tuned on
the validation split by the mean over the study's tuning seeds, the grid extended past an edge
choice (engine/tuning.py: the tuning protocol, the same function the planner runs); the chosen
rate runs the other seeds and every seed is evaluated on test.  Shown per family: learning
curves (mean and min–max band over seeds), the table of final metrics (how many seeds each rests
on, flagged when some diverged, the rate flagged when still at an edge), and a heat-map of the
mean tuning metric over optimizer × rate.  An optimizer without runs in a family is absent from
it.  The quantities a criterion may name are
"<study>.<final metric>" of the family's best optimizer (best mean validation score), e.g.
"matrix-mlp-digits.test_accuracy", and for autoencoders "<study>.mse_ratio_to_pca".
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.ticker import NullFormatter

from engine.claims._gan import ring_modes
from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate
from engine.record import Record
from engine.tuning import final_records, tuning_seeds
from engine.kit.figures import (annotate_heatmap, figure_to_svg, legend_under_figure, metric_label, model_label,
                                   new_figure, optimizer_label, optimizer_style)
from engine.spec import RunSpec

HEADLINES = ("test_accuracy", "test_mse", "test_modes", "test_mmd")


def _mean(records: list[Record], metric: str) -> float:
    values = [r.metric(metric) for r in records if r.status == "ok"]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else math.nan


def pca_test_mse(spec: RunSpec) -> float:
    """Reconstruction MSE of PCA with as many components as the autoencoder's code."""
    from sklearn.decomposition import PCA

    from engine.data import DATASETS

    data = DATASETS[spec.dataset.kind].load(None, **spec.dataset.params)
    flat = lambda x: x.reshape(len(x), -1).astype(np.float64)   # the reference, in float64
    pca = PCA(n_components=spec.model.params["code"]).fit(flat(data.x_train))
    test = flat(data.x_test)
    return float(np.mean((pca.inverse_transform(pca.transform(test)) - test) ** 2))


def _fmt(x: float) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.4g}"


def _curves(ax, cells: dict, metric: str, xkey: str, xscale: str) -> None:
    for oname, cell in cells.items():
        finals = [r for r in cell["finals"] if r.status == "ok" and metric in r.history]
        if not finals:
            continue
        n = min(len(r.history[metric]) for r in finals)
        x = np.asarray(finals[0].history[xkey][:n], dtype=float)
        ys = np.asarray([r.history[metric][:n] for r in finals], dtype=float)
        style = optimizer_style(oname)
        ax.plot(x, ys.mean(0), **style, lw=1.2, markersize=3.5, label=optimizer_label(oname))
        if len(finals) > 1:
            ax.fill_between(x, ys.min(0), ys.max(0), color=style["color"], alpha=0.2, lw=0)
    ax.set_xscale(xscale)
    ax.xaxis.set_minor_formatter(NullFormatter())  # labelled minor ticks collide on short log ranges


def _heatmap(ax, cells: dict, metric: str, mode: str, labels: dict) -> None:
    """Each optimizer's mean validation score over its tuning seeds at each rate (✕: a seed
    diverged there), the chosen rate framed."""
    lrs = sorted({lr for c in cells.values() for lr in c["tuning"].rates})
    names = list(cells)
    grid = np.full((len(names), len(lrs)), np.nan)
    diverged = []
    for i, oname in enumerate(names):
        for hp, score in cells[oname]["tuning"].points:
            j = lrs.index(hp["lr"])
            if score is not None:
                grid[i, j] = score
            else:
                diverged.append((i, j))
    # Losses span decades across a grid of rates; accuracies and mode counts do not.
    positive = ("loss" in metric or "mse" in metric) and (np.nanmin(grid) > 0 if np.isfinite(grid).any() else False)
    shown = np.log10(grid) if positive else grid
    image = ax.imshow(shown, aspect="auto", cmap="viridis_r" if mode == "min" else "viridis",
                      interpolation="nearest")
    for i, j in diverged:
        ax.text(j, i, "✕", ha="center", va="center", fontsize=8, color="#b00020")
    annotate_heatmap(ax, grid, image=image, fontsize=7)
    for i, oname in enumerate(names):
        best = cells[oname]["best"]
        if best is not None:
            j = lrs.index(best.spec.optimizer.hp["lr"])
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", lw=1.2))
    ax.set_xticks(range(len(lrs)), [f"{lr:.0e}".replace("e-0", "e-") for lr in lrs], rotation=45, fontsize=6)
    ax.set_yticks(range(len(names)), [optimizer_label(n) for n in names], fontsize=7)
    ax.set_xlabel(labels["lr"])
    cbar = ax.figure.colorbar(image, ax=ax, shrink=0.9)
    cbar.set_label(("log₁₀ " if positive else "") + metric_label(metric), fontsize=7)


def _study(sname: str, study: dict, records: list[Record], text: dict, analysis: Analysis) -> None:
    # An optimizer without runs in this family is absent from it, not "all diverged".
    cells = {o: c for o, c in final_records(records, study).items() if c["grid"] or c["finals"]}
    metric, mode = study["tune"]["metric"], study["tune"]["mode"]
    sample = next(r for r in records)
    headlines = [m for m in HEADLINES if any(m in r.final for r in records)][:2]
    labels = text["labels"]
    rows = _rows(cells, headlines, metric, labels)
    columns = [labels["optimizer"], labels["lr"], *headlines, metric, labels["seeds"],
               labels["time"], labels["diverged"]]
    _best_optimizer(sname, cells, metric, mode, sample, analysis)
    title = model_label(sample.spec.model.name)
    title = title[:1].upper() + title[1:]  # it opens the captions
    analysis.figures.append({"id": f"{sname}-curves", "svg": _curves_figure(cells, records, sample, labels),
                             "caption": text["captions"]["curves"].format(title=title)})
    fig, ax = new_figure()
    _heatmap(ax, cells, metric, mode, labels)
    analysis.figures.append({"id": f"{sname}-heatmap", "svg": figure_to_svg(fig),
                             "caption": text["captions"]["heatmap"].format(title=title, metric=metric_label(metric, units=False))})
    analysis.tables.append({"caption": text["captions"]["table"].format(title=title, metric=metric_label(metric, units=False)),
                            "columns": columns, "rows": rows, "after": f"{sname}-heatmap"})
    analysis.numbers.setdefault(sname, {})["optimizers"] = {
        o: {"lr": None if c["best"] is None else c["best"].spec.optimizer.hp["lr"],
            "tuning": {"seeds": len(tuning_seeds(study)), "rates": c["tuning"].rates,
                       "extensions": c["tuning"].extensions, "edge": c["tuning"].edge,
                       "pending": c["tuning"].pending},
            **{m: _mean(c["finals"], m) for m in (metric, *headlines)}}
        for o, c in cells.items()}


def _rows(cells: dict, headlines: list[str], metric: str, labels: dict) -> list[list]:
    """The family's table: per optimizer its chosen rate, headline metrics, seeds, time, divergences."""
    rows = []
    for oname, cell in cells.items():
        best, finals = cell["best"], cell["finals"]
        if best is None:
            rows.append([oname, labels["all_diverged"]] + ["—"] * (len(headlines) + 3)
                        + [f"{sum(r.status != 'ok' for r in cell['grid'])}/{len(cell['grid'])}"])
            continue
        lr = best.spec.optimizer.hp["lr"]
        edge = {"low": labels["edge_low"], "high": labels["edge_high"], None: ""}[cell["tuning"].edge]
        stats = []
        for m in headlines:
            est = Estimate.from_samples([r.metric(m) for r in finals if r.status == "ok"])
            stats.append("—" if est is None else
                         f"{est.mean:.4g} ± {np.std(est.values, ddof=1) if est.n > 1 else 0:.2g}")
        ok = len([r for r in finals if r.status == "ok"])
        rows.append([oname, f"{lr:.3g}{edge}", *stats, _fmt(_mean(finals, metric)),
                     f"{ok}/{len(finals)}" + ("" if ok == len(finals) else f" {labels['seeds_diverged']}"),
                     _fmt(float(np.mean([r.wall_time_s for r in finals])) if finals else math.nan),
                     f"{sum(r.status != 'ok' for r in cell['grid'])}/{len(cell['grid'])}"])
    return rows


def _best_optimizer(sname: str, cells: dict, metric: str, mode: str, sample: Record, analysis: Analysis) -> None:
    """The family's best optimizer and its test metrics as quantities (with the ratio to PCA's
    error for autoencoders)."""
    # An optimizer whose chosen rate diverged on some seeds cannot be the family's best on the
    # seeds that survived; it competes only when no optimizer kept all its seeds.
    ranked = [(o, _mean(c["finals"], metric)) for o, c in cells.items() if c["finals"]]
    ranked = [(o, v) for o, v in ranked if math.isfinite(v)]
    whole = [(o, v) for o, v in ranked if all(r.status == "ok" for r in cells[o]["finals"])]
    ranked = whole or ranked
    if not ranked:
        return
    best_opt = (min if mode == "min" else max)(ranked, key=lambda t: t[1])[0]
    finals = [r for r in cells[best_opt]["finals"] if r.status == "ok"]
    for m in {k for r in finals for k in r.final}:
        if m.startswith("test_"):
            analysis.quantities[f"{sname}.{m}"] = Estimate.from_samples([r.metric(m) for r in finals])
    n_modes = ring_modes(sample)
    if n_modes is not None:   # modes covered is a count capped at n_modes: judged as a share of seeds
        analysis.quantities[f"{sname}.all_modes"] = Estimate.proportion(
            sum((r.metric("test_modes") or 0) >= n_modes for r in finals), len(finals), unit="seed")
    if sample.spec.model.kind in ("autoencoder", "linear_autoencoder", "vae"):
        pca = pca_test_mse(sample.spec)
        analysis.quantities[f"{sname}.mse_ratio_to_pca"] = Estimate.from_samples(
            [r.final["test_mse"] / pca for r in finals])
        analysis.numbers.setdefault(sname, {})["pca_test_mse"] = pca
    analysis.numbers.setdefault(sname, {})["best_optimizer"] = best_opt


def _curves_figure(cells: dict, records: list[Record], sample: Record, labels: dict) -> str:
    """Validation curves of each optimizer at its chosen rate: the loss (a GAN's MMD) and, when
    recorded, the accuracy or the modes covered."""
    fig, axes = new_figure(ncols=2)
    xkey = "examples" if "epochs" in sample.spec.budget else "step"
    # The loss is what every optimizer minimises; for a GAN it is the discriminator's, so the
    # distance between real and generated samples tells more.
    curve_metric = "val_mmd" if "val_mmd" in sample.history else "val_loss"
    # Examples processed span decades (one epoch of GD … all of single-example SGD); GAN steps do not.
    xscale = "log" if xkey == "examples" else "linear"
    _curves(axes[0], cells, curve_metric, xkey, xscale)
    if all(v > 0 for c in cells.values() for r in c["finals"] if r.status == "ok"
           for v in r.history.get(curve_metric, []) if v is not None):
        axes[0].set_yscale("log")
    axes[0].set_xlabel(labels["examples"] if xkey == "examples" else labels["steps"])
    axes[0].set_ylabel(curve_metric)
    legend_under_figure(fig, axes[0], ncols=4)  # inside an axes it covered curves
    second = "val_accuracy" if any("val_accuracy" in r.history for r in records) else (
        "val_modes" if any("val_modes" in r.history for r in records) else None)
    if second:
        _curves(axes[1], cells, second, xkey, xscale)
        axes[1].set_xlabel(labels["examples"] if xkey == "examples" else labels["steps"])
        axes[1].set_ylabel(second)
    else:
        axes[1].set_visible(False)
    return figure_to_svg(fig)


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    analysis = Analysis(quantities={})
    by_study: dict = defaultdict(list)
    for rec in records:
        by_study[rec.spec.study].append(rec)
    for sname, study in studies.items():
        if by_study.get(sname) and study.get("tune"):
            _study(sname, study, by_study[sname], text, analysis)
    cells = [(s, o, c["tuning"], c["lr"]) for s, n in analysis.numbers.items() for o, c in n["optimizers"].items()]
    analysis.numbers["tuning"] = {
        "cells": len(cells),
        "interior": sum(lr is not None and t["rates"][0] < lr < t["rates"][-1] for _, _, t, lr in cells),
        "extended": sum(t["extensions"] > 0 for _, _, t, _ in cells),
        "flagged_at_edge": [f"{s}/{o} ({t['edge']})" for s, o, t, _ in cells if t["edge"] and not t["pending"]]}
    return analysis


CLAIM = Claim(
    id="optimizer-matrix",
    section="7",
    quantities={},
    study_metrics=True,   # '<study>.<final metric>' of a study that serves this claim
    analyze=analyze,
)
