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
condition c; ``params_ratio``, the smallest over the conditions of MLP parameters / CNN
parameters (exact: the MLP must have no fewer); and ``edge_gain_<c>``.

"Bordes" (edges).  An edge detector — the difference [−1, 1], a Sobel kernel — answers to a change
of the input and not to its level: its response to a constant input, the kernel's sum, is zero.
For a kernel w of n taps (each input channel's slice of a first-layer kernel) the share of its
energy away from spatial frequency zero is, by Parseval's identity on its n-point DFT ŵ,

    H(w) = Σ_{f ≠ 0} |ŵ(f)|² / Σ_f |ŵ(f)|² = 1 − (Σ_i w_i)² / (n Σ_i w_i²),

1 for a kernel blind to the mean level, 0 for a constant (smoothing) kernel, and 1 − 1/n on
average for a random kernel with independent entries of any common spread (``RANDOM_SHARE``).
``edge_gain_<c>`` is, per seed, the mean H of the first layer's learnt kernels minus the mean H of
the same layer's kernels at initialisation (rebuilt from the run's seed, exactly as the trainer
drew them).  The published MNIST-1D accuracies (``PAPER``) are carried in the numbers, for the
handout's table of reproductions, and are no part of the verdict.

Figures: accuracies, edge-likeness of learnt against initial kernels, the first layer's learnt
kernels, the feature maps of one example; tables: the results and the layer shapes.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from matplotlib.ticker import MaxNLocator

from engine.claims.base import Analysis, Claim, mean_sd
from engine.claims.verdict import Estimate
from engine.record import Record
from engine.kit.catalog import load_catalog
from engine.kit.figures import (OKABE_ITO, current_language, figure_to_svg, format_number, legend_below,
                                localize_decimals, new_figure, optimizer_label)
from engine.spec import RunSpec

CONDITIONS = ("digits", "mnist1d", "shuffled")
MODELS = ("cnn", "mlp")
# Greydanus (2020), "Scaling down deep learning", table 1 (test accuracy, MNIST-1D).
PAPER = {("mnist1d", "cnn"): 0.94, ("mnist1d", "mlp"): 0.68, ("shuffled", "cnn"): 0.56, ("shuffled", "mlp"): 0.68}
COLOURS = {"cnn": OKABE_ITO["vermillion"], "mlp": OKABE_ITO["blue"]}

# Written out (not built from CONDITIONS and MODELS) so that the validator reads them from the
# source without running this module (engine/config/registries.py).
QUANTITIES = {
    "cnn_accuracy_digits": "test accuracy of the CNN on digits, per seed",
    "mlp_accuracy_digits": "test accuracy of the MLP on digits, per seed",
    "cnn_accuracy_mnist1d": "test accuracy of the CNN on mnist1d, per seed",
    "mlp_accuracy_mnist1d": "test accuracy of the MLP on mnist1d, per seed",
    "cnn_accuracy_shuffled": "test accuracy of the CNN on shuffled, per seed",
    "mlp_accuracy_shuffled": "test accuracy of the MLP on shuffled, per seed",
    "advantage_digits": "CNN test accuracy minus MLP test accuracy on digits, paired by seed",
    "advantage_mnist1d": "CNN test accuracy minus MLP test accuracy on mnist1d, paired by seed",
    "advantage_shuffled": "CNN test accuracy minus MLP test accuracy on shuffled, paired by seed",
    "edge_gain_digits": "per seed, mean share of energy away from frequency zero of the CNN's first-layer kernels "
                        "on digits, learnt minus at initialisation",
    "edge_gain_mnist1d": "per seed, mean share of energy away from frequency zero of the CNN's first-layer kernels "
                         "on mnist1d, learnt minus at initialisation",
    "edge_gain_shuffled": "per seed, mean share of energy away from frequency zero of the CNN's first-layer kernels "
                          "on shuffled, learnt minus at initialisation",
    "params_ratio": "smallest over the conditions of MLP parameters / CNN parameters (exact; ≥ 1: the MLP has no fewer)",
}


def high_frequency_share(kernels) -> np.ndarray:
    """H(w) = 1 − (Σ w)² / (n Σ w²) for every kernel slice of ``kernels`` (O, C, *k): the share of
    its energy at the non-zero frequencies of its n-point DFT (n = the taps of one slice).
    Shape (O·C,); NaN for an all-zero slice."""
    w = np.asarray(kernels, dtype=np.float64)
    w = w.reshape(w.shape[0] * w.shape[1], -1)
    energy = np.sum(w * w, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - np.sum(w, axis=1) ** 2 / (w.shape[1] * energy)


def random_share(taps: int) -> float:
    """E[H(w)] = 1 − 1/n for w with n independent entries, each symmetric about 0 (Gaussian, or
    the uniform of the initialisation): (Σ w)² = Σ w_i² + Σ_{i≠j} w_i w_j, and flipping the sign of
    w_i leaves Σ w² alone and flips the cross terms, so E[(Σ w)²/Σ w²] = 1."""
    return 1.0 - 1.0 / taps


def initial_kernels(rec: Record) -> np.ndarray:
    """The first layer's kernels (O, C, *k) of a CNN run at initialisation: its model rebuilt and
    initialised from the run's seed with the trainer's generator (stream 0)."""
    from engine.data import DATASETS
    from engine.models import build_model
    from engine.training.network import member_rngs

    spec = rec.spec
    data = DATASETS[spec.dataset.kind].load(None, **spec.dataset.params)
    model = build_model(spec.model.kind, data.info, **spec.model.params)
    params = model.init(member_rngs([{"seed": spec.seed}], 0))
    return np.asarray(model.artifacts(params, data, None)["kernels"])[0]


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


def _accuracies(analysis: Analysis, cells: dict, models: dict) -> dict:
    """Accuracy, advantage and parameter-ratio quantities; returns the numbers per condition."""
    accuracy = {key: {s: r.final["test_accuracy"] for s, r in sorted(recs.items())} for key, recs in cells.items()}
    ratios, numbers = [], {}
    for c in CONDITIONS:
        for m in MODELS:
            if (c, m) not in accuracy:
                continue
            estimate = Estimate.from_samples(list(accuracy[(c, m)].values()))
            analysis.quantities[f"{m}_accuracy_{c}"] = estimate
            numbers.setdefault(c, {})[m] = {
                "model": cells[(c, m)][min(cells[(c, m)])].spec.model.name,
                "n_params": models[(c, m)].n_params,
                "seeds": list(accuracy[(c, m)]),
                "test_accuracy": list(accuracy[(c, m)].values()),
                "mean_test_accuracy": estimate.mean, "test_accuracy_estimate": estimate.as_dict(),
                "seconds": [r.metric("seconds") for r in cells[(c, m)].values()],
                "paper": PAPER.get((c, m)),
            }
        if (c, "cnn") in accuracy and (c, "mlp") in accuracy:
            seeds = sorted(set(accuracy[(c, "cnn")]) & set(accuracy[(c, "mlp")]))
            advantage = [accuracy[(c, "cnn")][s] - accuracy[(c, "mlp")][s] for s in seeds]
            analysis.quantities[f"advantage_{c}"] = Estimate.from_samples(advantage)
            ratios.append(models[(c, "mlp")].n_params / models[(c, "cnn")].n_params)
            numbers[c].update({"seeds": seeds, "advantage": advantage, "params_ratio": ratios[-1]})
    if ratios:
        analysis.quantities["params_ratio"] = Estimate.exact(min(ratios), unit="condition", n=len(ratios))
    return numbers


def edge_shares(cells: dict) -> dict:
    """condition → {'taps': n, 'learnt': {seed: mean H}, 'initial': {seed: mean H}} over the first
    layer's kernels of the CNN runs that stored them."""
    out = {}
    for c in CONDITIONS:
        recs = {s: r for s, r in sorted(cells.get((c, "cnn"), {}).items()) if "kernels" in r.artifacts}
        if not recs:
            continue
        learnt = {s: np.asarray(r.artifacts["kernels"]) for s, r in recs.items()}
        out[c] = {"taps": int(np.prod(next(iter(learnt.values())).shape[2:])),
                  "learnt": {s: float(np.mean(high_frequency_share(w))) for s, w in learnt.items()},
                  "initial": {s: float(np.mean(high_frequency_share(initial_kernels(r)))) for s, r in recs.items()}}
    return out


def _edge_figure(edges: dict, text: dict) -> dict:
    """Per condition, each seed's mean H at initialisation and after training (paired), against
    the mean for random kernels."""
    labels = text["labels"]
    fig, axes = new_figure(ncols=len(edges))
    for ax, (c, e) in zip(np.atleast_1d(axes), edges.items()):
        seeds = sorted(e["learnt"])
        for s in seeds:
            ax.plot([0, 1], [e["initial"][s], e["learnt"][s]], color="0.6", lw=0.8, marker="o", ms=3)
        ax.plot([0, 1], [np.mean([e["initial"][s] for s in seeds]), np.mean([e["learnt"][s] for s in seeds])],
                color=COLOURS["cnn"], lw=2, marker="o", label=labels["edge_mean"])
        ax.axhline(random_share(e["taps"]), color="black", ls="--", lw=1,
                   label=labels["edge_random"].format(value=format_number(random_share(e["taps"]), 2)))
        ax.set_xticks([0, 1], [labels["edge_initial"], labels["edge_learnt"]])
        ax.set_xlim(-0.3, 1.3)
        low = min(min(e["initial"].values()), min(e["learnt"].values()), random_share(e["taps"]))
        ax.set_ylim(max(0.0, low - 0.15), 1.02)
        ax.set_title(labels["edge_title"].format(data=labels[c], taps=e["taps"]), fontsize=8)
        legend_below(ax)
    np.atleast_1d(axes)[0].set_ylabel(labels["edge_share"])
    fig.set_figheight(fig.get_figheight() + 0.5)   # the legends under the axes took the y label's height
    return {"id": "conv-features-edges", "svg": figure_to_svg(fig),
            "caption": text["captions"]["edges"].format(seeds=max(len(e["learnt"]) for e in edges.values()))}


def _results_table(cells: dict, models: dict, text: dict) -> dict:
    labels, rows = text["labels"], []
    for c in CONDITIONS:
        for m in MODELS:
            if (c, m) not in cells:
                continue
            spec = cells[(c, m)][min(cells[(c, m)])].spec
            acc = [r.final["test_accuracy"] for r in cells[(c, m)].values()]
            rows.append([labels[c], labels[m], spec.model.name, f"{models[(c, m)].n_params:,}".replace(",", " "),
                         mean_sd(acc), "—" if (c, m) not in PAPER else format_number(PAPER[(c, m)], 2),
                         _training_text(spec), str(len(acc))])
    return {"caption": text["captions"]["results"], "columns": text["columns"]["results"],
            "rows": rows, "after": "conv-features-accuracy"}


def _training_text(spec: RunSpec) -> str:
    """'Adam; λ = 0,003; B = 64; 50 ep.' in the report's language (its list separator, so that a
    decimal comma is never read as one)."""
    separator = load_catalog(current_language())["format"]["list"]
    parts = [optimizer_label(spec.optimizer.name), localize_decimals(f"λ = {spec.optimizer.hp.get('lr'):g}"),
             f"B = {spec.batch}", f"{spec.budget.get('epochs')} ep."]
    return f"{separator} ".join(parts)


def _shape_tables(models: dict, text: dict) -> list[dict]:
    labels, tables = text["labels"], []
    for c in ("digits", "mnist1d"):
        rows = []
        for m in MODELS:
            if (c, m) not in models:
                continue
            for row in models[(c, m)].layers:
                if not row["layout"]:  # the lecture's layers only, their shapes channels first
                    rows.append([labels[m], row["name"], _shape(row["channels_first_shape"]), str(row["n_params"])])
            rows.append([labels[m], labels["total"], "", str(models[(c, m)].n_params)])
        if rows:
            tables.append({"caption": text["captions"]["shapes"].format(data=labels[c]),
                           "columns": text["columns"]["shapes"], "rows": rows})
    return tables


def analyze(records: list[Record], text: dict, _studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in QUANTITIES})
    cells = _cells(records)
    if not cells:
        return analysis
    models = {key: _model(next(iter(recs.values()))) for key, recs in cells.items()}
    numbers = _accuracies(analysis, cells, models)
    edges = edge_shares(cells)
    for c, e in edges.items():
        seeds = sorted(e["learnt"])
        gains = [e["learnt"][s] - e["initial"][s] for s in seeds]
        analysis.quantities[f"edge_gain_{c}"] = Estimate.from_samples(gains)
        numbers[c]["edges"] = {"taps": e["taps"], "random_share": random_share(e["taps"]), "seeds": seeds,
                               "learnt_share": [e["learnt"][s] for s in seeds],
                               "initial_share": [e["initial"][s] for s in seeds], "gain": gains}
    analysis.numbers = numbers

    analysis.figures.append(_accuracy_figure(cells, text))
    analysis.tables.append(_results_table(cells, models, text))
    if edges:
        analysis.figures.append(_edge_figure(edges, text))
    kernels = _kernel_figure(cells, text)
    if kernels:
        analysis.figures.append(kernels)
    for c in ("mnist1d", "digits"):
        maps = _maps_figure(cells, c, text)
        if maps:
            analysis.figures.append(maps)
    analysis.tables.extend(_shape_tables(models, text))
    return analysis


CLAIM = Claim(id="conv-features", section="3", order=2, quantities=QUANTITIES, analyze=analyze)
