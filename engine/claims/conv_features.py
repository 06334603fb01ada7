"""conv-features: kernels extract features; the feature maps, flattened, feed a dense network.

A CNN against an MLP with no fewer parameters, trained alike (same optimizer, budget and seeds),
on three data sets:

* ``digits``: scikit-learn's 8×8 images;
* ``mnist1d``: MNIST-1D (Greydanus 2020), where the digit's template sits at a random shift, so
  translation matters;
* ``shuffled``: the same MNIST-1D with its 40 positions shuffled by one fixed permutation (the
  data set parameter ``permute_seed``).  Neighbours are no longer neighbours: a convolution's prior
  (local, translation-shared kernels) no longer fits, while an MLP, blind to the order of its
  inputs, loses nothing.  The paper: CNN 94 % → 56 %, MLP 68 % either way.

A condition is told by the record's data set (kind, and ``permute_seed``), a model by its kind
(``cnn`` / ``mlp``).  Per seed, the CNN's advantage is its test accuracy minus the MLP's of the
same seed.  Quantities: ``cnn_accuracy_<c>``, ``mlp_accuracy_<c>``, ``advantage_<c>`` for each
condition c, and ``params_ratio`` (MLP parameters / CNN parameters, per condition and seed: the
MLP must have no fewer).  Figures: accuracies with the paper's values, the first layer's learned
kernels, the feature maps of one example; tables: the results and the layer shapes.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from matplotlib.ticker import MaxNLocator

from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate
from engine.record import Record
from engine.report.figures import OKABE_ITO, figure_to_svg, format_number, new_figure
from engine.spec import RunSpec

CONDITIONS = ("digits", "mnist1d", "shuffled")
MODELS = ("cnn", "mlp")
# Greydanus (2020), "Scaling down deep learning", table 1 (test accuracy, MNIST-1D).
PAPER = {("mnist1d", "cnn"): 0.94, ("mnist1d", "mlp"): 0.68, ("shuffled", "cnn"): 0.56, ("shuffled", "mlp"): 0.68}
COLOURS = {"cnn": OKABE_ITO["vermillion"], "mlp": OKABE_ITO["blue"]}

QUANTITIES = {
    **{f"{m}_accuracy_{c}": f"test accuracy of the {m.upper()} on {c}, per seed" for c in CONDITIONS for m in MODELS},
    **{f"advantage_{c}": f"CNN test accuracy minus MLP test accuracy on {c}, paired by seed" for c in CONDITIONS},
    "params_ratio": "MLP parameters / CNN parameters, per condition and seed (≥ 1: the MLP has no fewer)",
}


def condition(spec: RunSpec) -> str | None:
    data = spec.dataset
    if data is not None and data.kind == "digits":
        return "digits"
    if data is not None and data.kind == "mnist1d":
        return "mnist1d" if data.params.get("permute_seed") is None else "shuffled"
    return None


def _cells(records: list[Record]) -> dict:
    """(condition, model kind) → {seed: record}, finished runs only."""
    cells: dict = defaultdict(dict)
    for rec in records:
        c, kind = condition(rec.spec), rec.spec.model.kind
        if c is None or kind not in MODELS or rec.status != "ok" or rec.metric("test_accuracy") is None:
            continue
        cells[(c, kind)][rec.spec.seed] = rec
    return cells


def _model(rec: Record):
    """The model of a record, rebuilt (shapes and parameter counts only)."""
    from engine.data import DATASETS
    from engine.models import build_model

    spec = rec.spec
    data = DATASETS[spec.dataset.kind].load(None, **spec.dataset.params)
    return build_model(spec.model.kind, data.info, **spec.model.params)


def _accuracy_figure(cells: dict, text: dict) -> dict:
    labels = text["labels"]
    fig, ax = new_figure()
    present = [c for c in CONDITIONS if any((c, m) in cells for m in MODELS)]
    width = 0.36
    for j, m in enumerate(MODELS):
        for i, c in enumerate(present):
            recs = cells.get((c, m), {})
            if not recs:
                continue
            acc = np.array([r.final["test_accuracy"] for r in recs.values()])
            x = i + (j - 0.5) * width
            ax.bar(x, acc.mean(), width * 0.9, color=COLOURS[m], alpha=0.85,
                   label=labels[m] if i == 0 else None)
            ax.plot(np.full(len(acc), x), acc, "o", color="black", ms=2.5, zorder=3)
            ax.text(x, acc.mean() + 0.015, format_number(100 * acc.mean(), 3), ha="center", va="bottom", fontsize=7)
            if (c, m) in PAPER:
                ax.plot([x - width * 0.45, x + width * 0.45], [PAPER[(c, m)]] * 2, "--", color="black", lw=1,
                        label=labels["paper"] if (c, m) == ("mnist1d", "cnn") else None)
    ax.set_xticks(range(len(present)), [labels[c] for c in present])
    ax.set_ylim(0, 1.25)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel(labels["accuracy"])
    ax.legend(loc="upper center", fontsize=7, ncol=3)
    return {"id": "conv-features-accuracy", "svg": figure_to_svg(fig), "caption": text["captions"]["accuracy"]}


def _kernel_figure(cells: dict, text: dict) -> dict | None:
    shown = [(c, cells[(c, "cnn")]) for c in ("mnist1d", "digits") if (c, "cnn") in cells]
    shown = [(c, recs[min(recs)]) for c, recs in shown if "kernels" in recs[min(recs)].artifacts]
    if not shown:
        return None
    labels = text["labels"]
    fig, axes = new_figure(ncols=len(shown))
    axes = np.atleast_1d(axes)
    for ax, (c, rec) in zip(axes, shown):
        w = np.asarray(rec.artifacts["kernels"])[:, 0]   # first input channel: (O, *k)
        ax.grid(False)
        if w.ndim == 2:   # 1-D kernels: one row per kernel
            lim = np.abs(w).max()
            image = ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
            ax.set_xlabel(labels["tap"])
            ax.set_ylabel(labels["kernel"])
            ax.set_xticks(range(w.shape[1]))
        else:             # 2-D kernels: a grid of small images
            n = w.shape[0]
            cols = int(math.ceil(math.sqrt(n)))
            rows = int(math.ceil(n / cols))
            k = w.shape[1]
            mosaic = np.full((rows * (k + 1) - 1, cols * (k + 1) - 1), np.nan)
            for i in range(n):
                r, q = divmod(i, cols)
                mosaic[r * (k + 1):r * (k + 1) + k, q * (k + 1):q * (k + 1) + k] = w[i]
            lim = np.nanmax(np.abs(mosaic))
            image = ax.imshow(mosaic, cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set_title(labels[c] + f" ({labels['seed']} {rec.spec.seed})", fontsize=8)
    return {"id": "conv-features-kernels", "svg": figure_to_svg(fig), "caption": text["captions"]["kernels"]}


def _maps_figure(cells: dict, c: str, text: dict) -> dict | None:
    recs = cells.get((c, "cnn"))
    if not recs:
        return None
    rec = recs[min(recs)]
    art = rec.artifacts
    maps = [np.asarray(art[f"maps_{i}"]) for i in range(8) if f"maps_{i}" in art]
    if not maps:
        return None
    labels = text["labels"]
    x = np.asarray(art["example"])[0]
    label = int(art["example_label"])
    if x.ndim == 1:   # MNIST-1D: the signal, then each layer's maps as channel × position
        fig, axes = new_figure(ncols=1 + len(maps))
        axes[0].plot(x, np.arange(len(x)), color="black", lw=1)
        axes[0].invert_yaxis()
        axes[0].set_ylabel(labels["position"])
        axes[0].set_xlabel(labels["signal"])
        axes[0].set_title(labels["input"].format(label=label), fontsize=8)
        for i, (ax, m) in enumerate(zip(axes[1:], maps)):
            ax.grid(False)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.imshow(m.T, cmap="magma", aspect="auto")
            ax.set_title(labels["layer"].format(i=i + 1, shape="×".join(map(str, m.shape))), fontsize=8)
            ax.set_xlabel(labels["channel"])
    else:             # digits: the image, then the first layer's maps
        m = maps[0]
        n = min(len(m), 15)
        fig, axes = new_figure(ncols=8, nrows=2)
        fig.set_size_inches(6.3, 2.0)
        axes = axes.ravel()
        for ax in axes:
            ax.grid(False)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0].imshow(x, cmap="gray_r")
        axes[0].set_title(labels["input"].format(label=label), fontsize=7)
        for i in range(n):
            axes[i + 1].imshow(m[i], cmap="magma")
            axes[i + 1].set_title(f"{i + 1}", fontsize=7)
        for ax in axes[n + 1:]:
            ax.set_visible(False)
    return {"id": f"conv-features-maps-{c}", "svg": figure_to_svg(fig),
            "caption": text["captions"][f"maps_{c}"].format(label=label, seed=rec.spec.seed)}


def _shape(shape) -> str:
    return " × ".join(str(s) for s in shape)


def analyze(records: list[Record], text: dict, _studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in QUANTITIES})
    cells = _cells(records)
    if not cells:
        return analysis
    labels = text["labels"]
    models = {key: _model(next(iter(recs.values()))) for key, recs in cells.items()}
    accuracy = {key: {s: r.final["test_accuracy"] for s, r in recs.items()} for key, recs in cells.items()}
    ratios, numbers = [], {}
    for c in CONDITIONS:
        for m in MODELS:
            if (c, m) in accuracy:
                analysis.quantities[f"{m}_accuracy_{c}"] = Estimate.from_samples(
                    [accuracy[(c, m)][s] for s in sorted(accuracy[(c, m)])])
        if (c, "cnn") in accuracy and (c, "mlp") in accuracy:
            seeds = sorted(set(accuracy[(c, "cnn")]) & set(accuracy[(c, "mlp")]))
            analysis.quantities[f"advantage_{c}"] = Estimate.from_samples(
                [accuracy[(c, "cnn")][s] - accuracy[(c, "mlp")][s] for s in seeds])
            ratio = models[(c, "mlp")].n_params / models[(c, "cnn")].n_params
            ratios += [ratio] * len(seeds)
            numbers[c] = {"seeds": seeds, "params_ratio": ratio,
                          "advantage": [accuracy[(c, "cnn")][s] - accuracy[(c, "mlp")][s] for s in seeds]}
        for m in MODELS:
            if (c, m) in accuracy:
                numbers.setdefault(c, {})[m] = {
                    "model": cells[(c, m)][min(cells[(c, m)])].spec.model.name,
                    "n_params": models[(c, m)].n_params,
                    "test_accuracy": [accuracy[(c, m)][s] for s in sorted(accuracy[(c, m)])],
                    "mean_test_accuracy": float(np.mean(list(accuracy[(c, m)].values()))),
                    "seconds": [r.metric("seconds") for r in cells[(c, m)].values()],
                    "paper": PAPER.get((c, m)),
                }
    analysis.quantities["params_ratio"] = Estimate.from_samples(ratios)
    analysis.numbers = numbers

    analysis.figures.append(_accuracy_figure(cells, text))
    rows = []
    for c in CONDITIONS:
        for m in MODELS:
            if (c, m) not in cells:
                continue
            rec = cells[(c, m)][min(cells[(c, m)])]
            acc = np.array(list(accuracy[(c, m)].values()))
            spec = rec.spec
            rows.append([labels[c], labels[m], spec.model.name, f"{models[(c, m)].n_params:,}".replace(",", " "),
                         f"{acc.mean():.3f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:.3f}",
                         "—" if (c, m) not in PAPER else f"{PAPER[(c, m)]:.2f}",
                         f"{spec.optimizer.name} λ={spec.optimizer.hp.get('lr'):g}, "
                         f"B={spec.batch}, {spec.budget.get('epochs')} ep.", str(len(acc))])
    analysis.tables.append({"caption": text["captions"]["results"], "columns": text["columns"]["results"],
                            "rows": rows, "after": "conv-features-accuracy"})
    kernels = _kernel_figure(cells, text)
    if kernels:
        analysis.figures.append(kernels)
    for c in ("mnist1d", "digits"):
        maps = _maps_figure(cells, c, text)
        if maps:
            analysis.figures.append(maps)
    for c in ("digits", "mnist1d"):
        shape_rows = []
        for m in MODELS:
            if (c, m) not in models:
                continue
            for row in models[(c, m)].layers:
                if not row["layout"]:  # the lecture's layers only, their shapes channels first
                    shape_rows.append([labels[m], row["name"], _shape(row["channels_first_shape"]),
                                       str(row["n_params"])])
            shape_rows.append([labels[m], labels["total"], "", str(models[(c, m)].n_params)])
        if shape_rows:
            analysis.tables.append({"caption": text["captions"]["shapes"].format(data=labels[c]),
                                    "columns": text["columns"]["shapes"], "rows": shape_rows})
    return analysis


CLAIM = Claim(id="conv-features", section="3", order=2, quantities=QUANTITIES, analyze=analyze)
