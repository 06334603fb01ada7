"""What the two GAN claims (gan-minimax, gan-indistinguishable) share: finding a GAN study's
runs, each generator loss's tuned optimizer and its final seeds, the game's solution read from
the game itself, curves over training, and the panels that draw generated samples."""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from engine.data import DATASETS
from engine.record import Record
from engine.tuning import final_records

IDEAL_VALUE = -math.log(4.0)  # v at p_g = p_data with the best discriminator d = ½
DELTA_VALUE = 0.1             # |v − (−log 4)| ≤ δ: with d optimal, v + log 4 = 2 JSD(p_data ‖ p_g) ≤ 0.1
LOSSES = ("minimax", "non_saturating")   # the slide's game first


def generator_loss(rec: Record) -> str:
    return rec.spec.model.params.get("generator_loss", "non_saturating")


def gan_studies(records: list[Record], studies: dict, dataset_kind: str | None = None) -> dict:
    """study name → its records, for the studies whose model is a GAN (on ``dataset_kind``)."""
    out: dict = defaultdict(list)
    for rec in records:
        spec = rec.spec
        if spec.model.kind != "gan" or spec.study not in studies:
            continue
        if dataset_kind is None or (spec.dataset is not None and spec.dataset.kind == dataset_kind):
            out[spec.study].append(rec)
    return dict(out)


def final_cells(records: list[Record], study: dict) -> dict:
    """optimizer name → {'best': the tuning choice (or None), 'grid': its records, 'finals': its
    records at the choice, one per seed, sorted by seed}.  A tuned study is read as the matrix
    reads its own (the same multi-seed choice the planner made); without ``tune`` every record of
    the optimizer is final (one grid point)."""
    if study.get("tune"):
        return final_records(records, study)
    by_opt: dict = defaultdict(list)
    for rec in records:
        by_opt[rec.spec.optimizer.name if rec.spec.optimizer else None].append(rec)
    return {oname: {"best": recs[0] if recs else None, "grid": recs, "finals": sorted(recs, key=lambda r: r.spec.seed)}
            for oname in (study.get("optimizers") or list(by_opt)) for recs in [by_opt.get(oname, [])]}


def final_value(rec: Record, metric: str, diverged=None):
    """A final metric; a run that did not finish gives ``diverged`` (e.g. 0 modes) or None."""
    if rec.status != "ok":
        return diverged
    return rec.metric(metric)


def best_optimizer(cells: dict, metric: str, mode: str) -> str | None:
    """The optimizer whose final seeds have the best mean validation score (diverged seeds count
    as the worst score: a variant that survives on one seed of three is not the best)."""
    ranked = []
    for oname, cell in cells.items():
        if not cell["finals"]:
            continue
        values = [final_value(r, metric) for r in cell["finals"]]
        if any(v is None for v in values):
            values = [v for v in values if v is not None] + [-math.inf if mode == "max" else math.inf]
        ranked.append((oname, float(np.mean(values))))
    if not ranked:
        return None
    return (max if mode == "max" else min)(ranked, key=lambda t: t[1])[0]


def loss_variants(records: list[Record], studies: dict, dataset_kind: str, own_claim: str) -> dict:
    """generator loss → {'study', 'cells', 'best' (optimizer), 'finals' (its seeds), 'tune'} for the
    GAN studies on ``dataset_kind``; where two studies train one loss, ``own_claim``'s first."""
    found: dict = {}
    by_study = gan_studies(records, studies, dataset_kind)
    for sname in sorted(by_study, key=lambda s: (studies[s]["claim"] != own_claim, s)):
        study = studies[sname]
        tune = study.get("tune") or {"metric": "val_value", "mode": "max"}
        for loss in LOSSES:
            recs = [r for r in by_study[sname] if generator_loss(r) == loss]
            if not recs or loss in found:
                continue
            cells = final_cells(recs, study)
            best = best_optimizer(cells, tune["metric"], tune["mode"]) if study.get("tune") else next(iter(cells))
            found[loss] = {"study": sname, "cells": cells, "best": best, "tune": tune,
                           "finals": [] if best is None else cells[best]["finals"]}
    return found


def ring_modes(rec: Record) -> int | None:
    """How many modes the run's data set has: the Gaussian ring's, None for data without modes."""
    if rec.spec.dataset is None or rec.spec.dataset.kind != "gaussian_ring":
        return None
    return int({**DATASETS["gaussian_ring"].params, **rec.spec.dataset.params}["n_modes"])


def at_solution(rec: Record, n_modes: int | None) -> bool:
    """The game at its solution, read from the game on test: |v − (−log 4)| ≤ δ and, where the
    modes are known, every mode covered.  A diverged run is not."""
    if rec.status != "ok" or rec.metric("test_value") is None:
        return False
    close = abs(rec.metric("test_value") - IDEAL_VALUE) <= DELTA_VALUE
    return close and (n_modes is None or (rec.metric("test_modes") or 0) >= n_modes)


def curves(records: list[Record], metric: str):
    """(steps, values (n_seeds, n_points)) of the finished records that logged ``metric``."""
    ok = [r for r in records if r.status == "ok" and metric in r.history]
    if not ok:
        return None, None
    n = min(len(r.history[metric]) for r in ok)
    steps = np.asarray(ok[0].history["step"][:n], dtype=float)
    values = np.asarray([[np.nan if v is None else v for v in r.history[metric][:n]] for r in ok], dtype=float)
    return steps, values


def band(ax, steps, values, label, **style):
    ax.plot(steps, np.nanmean(values, axis=0), label=label, lw=1.2, **style)
    if len(values) > 1:
        ax.fill_between(steps, np.nanmin(values, axis=0), np.nanmax(values, axis=0),
                        color=style.get("color"), alpha=0.2, lw=0)


def ring_panel(ax, samples, centres, std, title):
    theta = np.linspace(0, 2 * np.pi, 200)
    for c in centres:
        ax.plot(c[0] + 3 * std * np.cos(theta), c[1] + 3 * std * np.sin(theta), color="0.55", lw=0.6)
    samples = np.asarray(samples, dtype=float)
    # hundreds of points: an image at print resolution (engine/kit/figures.py, RASTER_DPI)
    ax.scatter(samples[:, 0], samples[:, 1], s=1.5, color="#0072B2", alpha=0.6, lw=0, rasterized=True)
    ax.set_xlim(-2.8, 2.8)
    ax.set_ylim(-2.8, 2.8)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=7)


def image_panel(ax, samples, title, columns=4):
    images = np.asarray(samples, dtype=float).reshape(len(samples), 8, 8)
    rows = math.ceil(len(images) / columns)
    canvas = np.zeros((rows * 9 - 1, columns * 9 - 1))  # white gaps (0 = white in gray_r)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * 9:r * 9 + 8, c * 9:c * 9 + 8] = image
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=7)


def fmt(x, digits=3) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def per_seed(values) -> str:
    return ", ".join("✕" if v is None or not math.isfinite(v) else f"{v:.3g}" for v in values)


def samples_over_training(variants: dict, loss_names: dict, step_title: str):
    """A figure of generated samples at each snapshot along training: one row per generator loss
    (its best optimizer's first seed; the same noise in every panel), or None without snapshots."""
    from engine.data import DATASETS
    from engine.kit.figures import new_figure

    shown = [(loss, v["finals"][0]) for loss, v in variants.items()
             if v["finals"] and v["finals"][0].status == "ok"
             and "samples" in (v["finals"][0].artifacts.get("snapshots") or {})]
    if not shown:
        return None
    ncols = max(len(rec.artifacts["snapshots"]["step"]) for _, rec in shown)
    fig, axes = new_figure(ncols=ncols, nrows=len(shown))
    axes = np.asarray(axes).reshape(len(shown), ncols)
    fig.set_figheight(1.5 * len(shown))
    for row, (loss, rec) in zip(axes, shown):
        snaps = rec.artifacts["snapshots"]
        data = DATASETS[rec.spec.dataset.kind].load(None, **rec.spec.dataset.params)
        for ax in row[len(snaps["step"]):]:
            ax.set_visible(False)
        for ax, step, sample in zip(row, snaps["step"], snaps["samples"]):
            if "centres" in data.info:
                ring_panel(ax, sample, data.info["centres"], data.info["std"], step_title.format(step=step))
            else:
                image_panel(ax, sample, step_title.format(step=step), columns=4)
        # the loss names its row, left of the first panel, broken before its parenthesis
        row[0].set_ylabel(loss_names[loss].replace(" (", "\n("), fontsize=7)
    return fig
