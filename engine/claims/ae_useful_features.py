"""ae-useful-features (lecture §5): an undercomplete autoencoder "learns useful properties".

It reads the runs of ae-undercomplete (no network trains twice).  After training, each
autoencoder run stored (engine/models/autoencoder.py, ``artifacts``, with engine/analysis/probes.py)
the test accuracy of a
linear probe — multinomial logistic regression on standardised features, fitted on the training
split with L-BFGS (deterministic) — on three features of the same size: the learned code, PCA
and a Gaussian random projection drawn from the run's seed.  All fits happen at training time;
the report only reads them.

Quantities at code size 8, per seed of the MLP autoencoder:
* ``probe_gain_over_random``: probe accuracy on the code minus on a random projection;
* ``probe_gain_over_pca``: probe accuracy on the code minus on PCA.
Figures: probe accuracy against code size, and the 2-D codes of the test split coloured by class.
"""
from __future__ import annotations

import numpy as np

from engine.claims.ae_undercomplete import AE_KINDS, COLORS, FOCUS_CODE, by_kind_and_code, load_data, mean_sd
from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate
from engine.record import Record
from engine.kit.figures import figure_to_svg, new_figure

PROBES = ("probe_code", "probe_pca", "probe_random")
# Ten classes: Paul Tol's "muted" colours plus black; the digit is also written at each class mean.
CLASS_COLORS = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677",
                "#882255", "#AA4499", "#000000")


def _probe(rec: Record, name: str):
    value = rec.artifacts.get(name)
    return None if value is None else float(value)


def _by_seed(recs: list[Record], name: str) -> dict:
    return {r.spec.seed: v for r in recs if (v := _probe(r, name)) is not None}


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    labels, captions = text["labels"], text["captions"]
    cells = by_kind_and_code(records)
    analysis = Analysis(quantities={q: None for q in CLAIM.quantities})
    cells = {key: recs for key, recs in cells.items() if any(_probe(r, "probe_code") is not None for r in recs)}
    if not cells:
        return analysis
    codes = sorted({code for _, code in cells})
    analysis.quantities.update(_quantities(cells.get(("autoencoder", FOCUS_CODE), [])))
    analysis.figures.append({"id": "ae-useful-features-probe", "svg": _probe_figure(cells, codes, labels),
                             "caption": captions["probe"].format(focus=FOCUS_CODE)})
    codes_svg = _codes_figure(cells, labels)
    if codes_svg is not None:
        analysis.figures.append({"id": "ae-useful-features-codes", "svg": codes_svg,
                                 "caption": captions["codes"]})
    rows, numbers = _table(cells, codes)
    analysis.tables.append({"caption": captions["table"], "columns": text["columns"], "rows": rows})
    analysis.numbers = {"probe_accuracy_by_code": numbers, "focus_code": FOCUS_CODE,
                        "probe": "logistic regression (L2, C = 1, L-BFGS) on standardised features, "
                                 "fitted on the training split at training time, accuracy on test"}
    return analysis


def _quantities(focus: list[Record]) -> dict:
    """The gains of the code's probe over a random projection's and PCA's, paired by seed, at the
    focus code size."""
    quantities = {}
    code_acc, pca_acc, rand_acc = (_by_seed(focus, n) for n in PROBES)
    seeds = sorted(set(code_acc) & set(rand_acc))
    if seeds:
        quantities["probe_gain_over_random"] = Estimate.from_samples(
            [code_acc[s] - rand_acc[s] for s in seeds])
    seeds = sorted(set(code_acc) & set(pca_acc))
    if seeds:
        quantities["probe_gain_over_pca"] = Estimate.from_samples(
            [code_acc[s] - pca_acc[s] for s in seeds])
    quantities["probe_accuracy_code8"] = Estimate.from_samples(list(code_acc.values())) if code_acc else None
    return quantities


def _probe_figure(cells: dict, codes: list[int], labels: dict) -> str:
    """Probe accuracy against code size: the two codes, PCA and random projections."""
    def series(kind, name):
        out = [(c, list(_by_seed(cells.get((kind, c), []), name).values())) for c in codes]
        return [(c, v) for c, v in out if v]

    fig, ax = new_figure(width="half")
    lines = [("autoencoder", "probe_code", COLORS["autoencoder"], "-", labels["autoencoder"]),
             ("linear_autoencoder", "probe_code", COLORS["linear_autoencoder"], "-", labels["linear_autoencoder"]),
             ("autoencoder", "probe_pca", COLORS["pca"], "--", labels["pca"]),
             ("autoencoder", "probe_random", COLORS["random"], ":", labels["random"])]
    for kind, name, color, style, label in lines:
        points = series(kind, name)
        if not points:
            continue
        xs = [c for c, _ in points]
        ax.plot(xs, [np.mean(v) for _, v in points], color=color, ls=style, marker="o", label=label)
        ax.fill_between(xs, [min(v) for _, v in points], [max(v) for _, v in points], color=color, alpha=0.2, lw=0)
    ax.set_xscale("log", base=2)
    ax.set_xticks(codes, [str(c) for c in codes])
    ax.xaxis.set_minor_formatter(lambda *_: "")
    ax.set_xlabel(labels["code"])
    ax.set_ylabel(labels["accuracy"])
    ax.legend(loc="lower right", fontsize=7)
    return figure_to_svg(fig)


def _codes_figure(cells: dict, labels: dict) -> str | None:
    """The 2-D codes of the test split (first seed), coloured by class; None without 2-D codes."""
    panels = [(kind, cells[(kind, 2)][0]) for kind in AE_KINDS
              if (kind, 2) in cells and cells[(kind, 2)][0].artifacts.get("codes")]
    if not panels:
        return None
    data = load_data(panels[0][1].spec)
    fig, axes = new_figure(ncols=len(panels))
    axes = np.atleast_1d(axes)
    for ax, (kind, rec) in zip(axes, panels):
        h = np.asarray(rec.artifacts["codes"], dtype=float)
        y = np.asarray(data.y_test)[:len(h)]
        for label in range(10):
            pts = h[y == label]
            # hundreds of codes: an image at print resolution (engine/kit/figures.py, RASTER_DPI)
            ax.scatter(pts[:, 0], pts[:, 1], s=4, color=CLASS_COLORS[label], alpha=0.6, lw=0, rasterized=True)
            if len(pts):
                cx, cy = np.median(pts, axis=0)
                ax.text(cx, cy, str(label), fontsize=10, weight="bold", ha="center", va="center",
                        color=CLASS_COLORS[label],
                        bbox={"boxstyle": "circle,pad=0.15", "fc": "white", "ec": CLASS_COLORS[label], "lw": 0.6})
        ax.set_title(labels[kind], fontsize=9)
        ax.set_xlabel("$h_1$")
        ax.set_ylabel("$h_2$")
    return figure_to_svg(fig)


def _table(cells: dict, codes: list[int]) -> tuple[list, dict]:
    """Rows (code size, random, PCA, linear code, MLP code: mean ± sd) and the values per seed."""
    rows, numbers = [], {}
    for code in codes:
        ae, lin = cells.get(("autoencoder", code), []), cells.get(("linear_autoencoder", code), [])
        anyone = ae or lin
        rows.append([str(code), mean_sd(_by_seed(anyone, "probe_random").values()),
                     mean_sd(_by_seed(anyone, "probe_pca").values()),
                     mean_sd(_by_seed(lin, "probe_code").values()), mean_sd(_by_seed(ae, "probe_code").values())])
        numbers[str(code)] = {"random": list(_by_seed(anyone, "probe_random").values()),
                              "pca": list(_by_seed(anyone, "probe_pca").values()),
                              "linear_autoencoder": list(_by_seed(lin, "probe_code").values()),
                              "autoencoder": list(_by_seed(ae, "probe_code").values())}
    return rows, numbers


CLAIM = Claim(
    id="ae-useful-features",
    section="5",
    order=2,
    quantities={
        "probe_gain_over_random": "linear-probe test accuracy on the 8-D code minus on an 8-D random projection",
        "probe_gain_over_pca": "linear-probe test accuracy on the 8-D code minus on 8 PCA components",
        "probe_accuracy_code8": "linear-probe test accuracy on the 8-D code of the MLP autoencoder",
    },
    analyze=analyze,
    reads=("ae-undercomplete",),
)
