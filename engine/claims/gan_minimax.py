"""gan-minimax (lecture §6): a GAN is a zero-sum game, g* = argmin_g max_d v(g, d), trained by
alternating steps.

v(g, d) = E_x log d(x) + E_z log(1 − d(g(z))) is what the discriminator maximises and the
generator minimises (engine/models/gan.py; the generator descends on the non-saturating
−E log d(g(z)), which has the same fixed point).  At the game's solution p_g = p_data, the best
discriminator answers d(x) = ½ everywhere and v = −log 4.

The experiment is the optimizer matrix's GAN study on the 8-mode Gaussian ring (it is read, not
re-trained: ``reads=("optimizer-matrix",)``): every optimizer variant alternates one step of d and
one of g, its learning rate tuned on validation, then several seeds.  Shown: v(g, d), D(real) and
D(fake) over training for the best optimizer; modes covered over training for every variant.
Quantities: the best optimizer's modes covered on test, and its mean D on real and on generated
test examples at the end.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate
from engine.record import Record
from engine.report.figures import figure_to_svg, new_figure, optimizer_label, optimizer_style
from engine.tuning import best_run

IDEAL_VALUE = -math.log(4.0)  # v at p_g = p_data with the best discriminator d = ½


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
    """optimizer name → {'best': the tuning choice (or None), 'finals': its records, one per seed,
    sorted by seed}.  Without ``tune`` every record of the optimizer is final (one grid point)."""
    by_opt: dict = defaultdict(list)
    for rec in records:
        by_opt[rec.spec.optimizer.name if rec.spec.optimizer else None].append(rec)
    tune = study.get("tune")
    out = {}
    for oname in study.get("optimizers") or list(by_opt):
        recs = by_opt.get(oname, [])
        if tune:
            grid = [r for r in recs if r.spec.seed == study["seeds"][0]]
            best = best_run(grid, tune["metric"], tune["mode"])
            finals = [] if best is None else [
                r for r in recs if r.spec.optimizer.hp == best.spec.optimizer.hp]
        else:
            best, finals = (recs[0] if recs else None), recs
        out[oname] = {"best": best, "grid": recs, "finals": sorted(finals, key=lambda r: r.spec.seed)}
    return out


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


def _fmt(x, digits=3) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _per_seed(values) -> str:
    return ", ".join("✕" if v is None else f"{v:.3g}" for v in values)


def _game_figure(cell: dict, oname: str, text: dict) -> dict:
    labels = text["labels"]
    fig, axes = new_figure(ncols=2)
    finals = cell["finals"]
    steps, value = curves(finals, "val_value")
    style = optimizer_style(oname)
    color = style["color"]
    if steps is not None:
        band(axes[0], steps, value, labels["value"], color=color)
    axes[0].axhline(IDEAL_VALUE, color="0.3", ls=":", lw=1, label=labels["ideal_value"])
    axes[0].set_xlabel(labels["steps"])
    axes[0].set_ylabel(labels["value_axis"])
    axes[0].legend(fontsize=7)
    for metric, key, ls in (("val_d_real", "d_real", "-"), ("val_d_fake", "d_fake", "--")):
        steps, values = curves(finals, metric)
        if steps is not None:
            band(axes[1], steps, values, labels[key], color=color, linestyle=ls)
    axes[1].axhline(0.5, color="0.3", ls=":", lw=1, label=labels["half"])
    axes[1].set_ylim(0, 1)
    axes[1].set_xlabel(labels["steps"])
    axes[1].set_ylabel(labels["d_axis"])
    axes[1].legend(fontsize=7)
    seeds = len([r for r in finals if r.status == "ok"])
    return {"id": "gan-minimax-game", "svg": figure_to_svg(fig),
            "caption": text["captions"]["game"].format(optimizer=optimizer_label(oname), seeds=seeds,
                                                       lr=cell["best"].spec.optimizer.hp["lr"])}


def _modes_figure(cells: dict, n_modes: int, text: dict) -> dict:
    labels = text["labels"]
    fig, ax = new_figure()
    for oname, cell in cells.items():
        steps, values = curves(cell["finals"], "val_modes")
        if steps is None:
            continue
        style = optimizer_style(oname)
        ax.plot(steps, np.nanmean(values, axis=0), label=optimizer_label(oname), lw=1.2, **style)
    ax.axhline(n_modes, color="0.3", ls=":", lw=1)
    ax.set_ylim(-0.3, n_modes + 0.5)
    ax.set_xlabel(labels["steps"])
    ax.set_ylabel(labels["modes_axis"])
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return {"id": "gan-minimax-modes", "svg": figure_to_svg(fig), "caption": text["captions"]["modes"]}


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in QUANTITIES})
    ring = gan_studies(records, studies, "gaussian_ring")
    if not ring:
        return analysis
    sname = sorted(ring)[0]
    study, recs = studies[sname], ring[sname]
    cells = final_cells(recs, study)
    tune = study.get("tune") or {"metric": "val_modes", "mode": "max"}
    best = best_optimizer(cells, tune["metric"], tune["mode"])
    n_modes = int(recs[0].spec.dataset.params.get("n_modes", 8))

    rows, per_optimizer = [], {}
    for oname, cell in cells.items():
        finals = cell["finals"]
        if cell["best"] is None:
            rows.append([optimizer_label(oname), text["labels"]["all_diverged"]] + ["—"] * 6)
            continue
        modes = [final_value(r, "test_modes", diverged=0.0) for r in finals]
        metrics = {m: [final_value(r, m) for r in finals]
                   for m in ("test_high_quality", "test_value", "test_d_real", "test_d_fake")}
        mean = lambda vs: float(np.mean([v for v in vs if v is not None])) if any(v is not None for v in vs) else math.nan
        lr = cell["best"].spec.optimizer.hp["lr"]
        rows.append([optimizer_label(oname) + (" ★" if oname == best else ""), f"{lr:.3g}", _per_seed(modes),
                     _fmt(mean(metrics["test_high_quality"])), _fmt(mean(metrics["test_value"])),
                     _fmt(mean(metrics["test_d_real"])), _fmt(mean(metrics["test_d_fake"]))])
        per_optimizer[oname] = {"lr": lr, "seeds": [r.spec.seed for r in finals], "test_modes": modes,
                                **{m: vs for m, vs in metrics.items()},
                                "grid": {f"{r.spec.optimizer.hp['lr']:g}": final_value(r, tune["metric"])
                                         for r in cell["grid"] if r.spec.seed == study["seeds"][0]}}
    analysis.numbers = {"study": sname, "best_optimizer": best, "tuned_on": tune["metric"],
                        "ideal_value": IDEAL_VALUE, "n_modes": n_modes, "optimizers": per_optimizer}
    if best is not None:
        cell = cells[best]
        finals = cell["finals"]
        analysis.quantities["best_test_modes"] = Estimate.from_samples(
            [final_value(r, "test_modes", diverged=0.0) for r in finals])
        analysis.quantities["best_test_d_real"] = Estimate.from_samples([final_value(r, "test_d_real") for r in finals])
        analysis.quantities["best_test_d_fake"] = Estimate.from_samples([final_value(r, "test_d_fake") for r in finals])
        analysis.figures.append(_game_figure(cell, best, text))
    analysis.figures.append(_modes_figure(cells, n_modes, text))
    analysis.tables.append({"caption": text["captions"]["table"].format(metric=tune["metric"]),
                            "columns": text["columns"], "rows": rows})
    return analysis


QUANTITIES = {
    "minimax_at_solution": ("share of the seeds of the slide's game (generator_loss minimax), best optimizer, "
                            "that end with every mode covered on test and |v − (−log 4)| ≤ DELTA_VALUE"),
}

CLAIM = Claim(
    id="gan-minimax",
    section="6",
    order=1,
    quantities=QUANTITIES,
    analyze=analyze,
    reads=("optimizer-matrix",),
)
