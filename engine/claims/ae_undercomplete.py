"""ae-undercomplete (lecture §5): a code h = f(x) smaller than x, trained so that g(f(x)) ≈ x.

The studies train, on the 8×8 digits and over a sweep of code sizes c (the study's
``vary: {code: [...]}``), the MLP autoencoder (minibatch Adam, 10 seeds) and the linear
autoencoder (engine/procedures/linear_ae_pca.py: full-batch steps with a decaying step, 5 seeds).
PCA with c components fitted on the training split is the best affine rank-c reconstruction of
that split (Eckart–Young), so the linear autoencoder is judged where PCA is optimal: on the
training split, where its error is at least PCA's and equal at its optimum.  The procedure also
stores the principal angles between the decoder's subspace and PCA's; an angle can stay large at
no cost in error when two eigenvalues of the covariance are nearly equal, so the relative gap
(λ_c − λ_{c+1}) / λ_c is reported with them.  PCA is computed at analysis time by an SVD
(deterministic: no network is trained by the report).

Quantities (per seed, then over seeds):
* ``linear_to_pca_train_max``: the largest ratio over code sizes of the linear autoencoder's
  training MSE to PCA's (both on the whole training split);
* ``ae_to_pca_code8``: the MLP autoencoder's test MSE over PCA's at code size 8.

Figures: test error against code size (both autoencoders and PCA) with the linear autoencoder's
training-split ratio to PCA; principal angles against code size with the eigengap; test digits
next to their reconstructions (stored by the model's ``artifacts`` after training).
"""
from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache

import numpy as np

from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate
from engine.record import Record
from engine.kit.figures import OKABE_ITO, figure_to_svg, legend_below, new_figure
from engine.spec import RunSpec

FOCUS_CODE = 8        # the code size of the headline comparisons
AE_KINDS = ("autoencoder", "linear_autoencoder")
COLORS = {"autoencoder": OKABE_ITO["vermillion"], "linear_autoencoder": OKABE_ITO["blue"],
          "pca": OKABE_ITO["black"], "random": OKABE_ITO["grey"]}


# --- helpers shared by the autoencoder claims ---------------------------------------------------

def load_data(spec: RunSpec):
    from engine.data import DATASETS

    return DATASETS[spec.dataset.kind].load(None, **spec.dataset.params)


def _flat(x):
    """One row per example, in float64: PCA is the reference, computed as exactly as it can be
    whatever the dtype the networks train in."""
    return np.reshape(x, (x.shape[0], -1)).astype(np.float64)


@lru_cache(maxsize=64)
def _pca(data, code: int):
    from sklearn.decomposition import PCA

    return PCA(n_components=code).fit(_flat(data.x_train))


def pca_test_mse(data, code: int) -> float:
    """Test reconstruction MSE (per pixel) of PCA with ``code`` components fitted on train."""
    pca, test = _pca(data, code), _flat(data.x_test)
    return float(np.mean((pca.inverse_transform(pca.transform(test)) - test) ** 2))


def pca_reconstructions(data, code: int, n: int) -> np.ndarray:
    pca = _pca(data, code)
    return pca.inverse_transform(pca.transform(_flat(data.x_test[:n]))).reshape(data.x_test[:n].shape)


def by_kind_and_code(records: list[Record]) -> dict:
    """(model kind, code size) → the ok records, sorted by seed."""
    cells: dict = defaultdict(list)
    for rec in records:
        kind = rec.spec.model.kind
        if rec.status == "ok" and kind in AE_KINDS:
            cells[(kind, int(rec.spec.model.params["code"]))].append(rec)
    return {key: sorted(recs, key=lambda r: r.spec.seed) for key, recs in cells.items()}


def per_seed(recs: list[Record], value) -> dict:
    """seed → value(record), leaving out missing values."""
    out = {}
    for rec in recs:
        v = value(rec)
        if v is not None and math.isfinite(v):
            out[rec.spec.seed] = float(v)
    return out


def image_grid(ax, rows: list[np.ndarray], labels: list[str]) -> None:
    """One mosaic of grey images: ``rows[i]`` is (n, ...) images of one row, labelled on the left."""
    n = max(len(r) for r in rows)
    side = int(round(math.sqrt(np.prod(np.shape(rows[0])[1:]))))
    pad = 1
    canvas = np.zeros((len(rows) * (side + pad) - pad, n * (side + pad) - pad))  # white gaps
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            top, left = i * (side + pad), j * (side + pad)
            canvas[top:top + side, left:left + side] = np.clip(np.reshape(image, (side, side)), 0, 1)
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([i * (side + pad) + (side - 1) / 2 for i in range(len(rows))], labels, fontsize=7)
    ax.set_xticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def mean_sd(values) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "—"
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.4g} ± {sd:.2g}"


# --- the analysis ---------------------------------------------------------------------------------

CONVERGED = 1e-3   # a run whose training MSE fell by less than 0.1 % over its last tenth has settled


def relative_gaps(x, codes) -> dict:
    """code c → (λ_c − λ_{c+1}) / λ_c, with λ₁ ≥ λ₂ ≥ … the eigenvalues of the covariance of the rows
    of x: how well the c-dimensional principal subspace is determined (0: not at all)."""
    s = np.linalg.svd(_flat(x) - _flat(x).mean(axis=0), compute_uv=False)
    lam = s ** 2
    return {c: float((lam[c - 1] - lam[c]) / lam[c - 1]) for c in codes}


def _linear_quantities(analysis: Analysis, cells: dict, codes: list) -> dict:
    """The linear autoencoder's per-seed numbers by code; sets linear_to_pca_train_max."""
    finals = {c: {r.spec.seed: r.final for r in cells.get(("linear_autoencoder", c), [])
                  if r.final.get("train_ratio") is not None} for c in codes}
    finals = {c: f for c, f in finals.items() if f}
    if finals:
        seeds = sorted(set.intersection(*(set(f) for f in finals.values())))
        analysis.quantities["linear_to_pca_train_max"] = Estimate.from_samples(
            [max(f[s]["train_ratio"] for f in finals.values()) for s in seeds])
    return {c: {"seeds": sorted(f), **{key: [f[s][key] for s in sorted(f)] for key in
                ("train_mse", "train_ratio", "test_mse", "angles_deg", "tail_decrease", "grad_norm")},
                "pca_train_mse": next(iter(f.values()))["pca_train_mse"]} for c, f in finals.items()}


def _error_figure(codes, pca, ae_test, linear, text) -> dict:
    """Left: test MSE against code size; right: the linear autoencoder's training ratio to PCA."""
    labels = text["labels"]
    fig, (ax, bx) = new_figure(ncols=2)
    ax.plot(codes, [pca[c] for c in codes], color=COLORS["pca"], ls="--", marker="s", label=labels["pca"])
    series = [("autoencoder", ae_test), ("linear_autoencoder", {c: v["test_mse"] for c, v in linear.items()})]
    for kind, values in series:
        xs = [c for c in codes if values.get(c)]
        if xs:
            ys = [np.asarray(values[c]) for c in xs]
            ax.plot(xs, [y.mean() for y in ys], color=COLORS[kind], marker="o", label=labels[kind])
            ax.fill_between(xs, [y.min() for y in ys], [y.max() for y in ys], color=COLORS[kind], alpha=0.2, lw=0)
    bx.axhline(1.0, color=COLORS["pca"], ls="--", lw=1, label=labels["pca_train"])
    bx.axhline(1.01, color="0.5", ls=":", lw=1, label=labels["bound"])
    for c, v in linear.items():
        bx.plot([c] * len(v["train_ratio"]), v["train_ratio"], "o", color=COLORS["linear_autoencoder"], ms=3,
                alpha=0.7, label=labels["linear_train"] if c == min(linear) else None)
    for axis in (ax, bx):
        axis.set_xscale("log", base=2)
        axis.set_xticks(codes, [str(c) for c in codes])
        axis.xaxis.set_minor_formatter(lambda *_: "")
        axis.set_xlabel(labels["code"])
    ax.set_yscale("log")
    ax.set_ylabel(labels["mse"])
    bx.set_ylabel(labels["ratio_train"])
    legend_below(ax)
    legend_below(bx)
    return {"id": "ae-undercomplete-error", "svg": figure_to_svg(fig), "caption": text["captions"]["error"]}


def _angle_figure(linear: dict, gaps: dict, text: dict) -> dict:
    """Left: the two largest principal angles per seed against code size; right: the eigengap."""
    labels = text["labels"]
    codes = sorted(linear)
    fig, (ax, bx) = new_figure(ncols=2)
    for c in codes:
        angles = [sorted(a, reverse=True) + [0.0] for a in linear[c]["angles_deg"]]
        ax.plot([c] * len(angles), [a[0] for a in angles], "o", color=COLORS["linear_autoencoder"], ms=3,
                label=labels["angle_1"] if c == codes[0] else None)
        ax.plot([c] * len(angles), [a[1] for a in angles], "o", mfc="none", color=COLORS["pca"], ms=3,
                label=labels["angle_2"] if c == codes[0] else None)
    bx.plot(codes, [gaps[c] for c in codes], color=COLORS["pca"], marker="s")
    for axis in (ax, bx):
        axis.set_xscale("log", base=2)
        axis.set_xticks(codes, [str(c) for c in codes])
        axis.xaxis.set_minor_formatter(lambda *_: "")
        axis.set_xlabel(labels["code"])
    ax.set_ylim(-2, 92)
    ax.set_ylabel(labels["angle"])
    legend_below(ax, ncols=2)
    bx.set_yscale("log")
    bx.set_ylabel(labels["gap"])
    return {"id": "ae-undercomplete-angles", "svg": figure_to_svg(fig), "caption": text["captions"]["angles"]}


def _reconstruction_figure(cells: dict, data, codes: list, text: dict) -> dict:
    """Test digits and their reconstructions (first seed) at every code size."""
    labels = text["labels"]
    rows, names = [np.asarray(data.x_test[:8])], [labels["original"]]
    for code in codes:
        recs = cells.get(("autoencoder", code))
        if recs and recs[0].artifacts.get("reconstructions"):
            rows.append(np.asarray(recs[0].artifacts["reconstructions"], dtype=float))
            names.append(labels["row_ae"].format(code=code))
    focus = cells.get(("linear_autoencoder", FOCUS_CODE))
    if focus and focus[0].artifacts.get("reconstructions"):
        rows.append(np.asarray(focus[0].artifacts["reconstructions"], dtype=float))
        names.append(labels["row_linear"].format(code=FOCUS_CODE))
    if FOCUS_CODE in codes:
        rows.append(pca_reconstructions(data, FOCUS_CODE, 8))
        names.append(labels["row_pca"].format(code=FOCUS_CODE))
    fig, ax = new_figure(width="half", nrows=1)
    fig.set_size_inches(3.6, 0.42 * len(rows) + 0.2)
    image_grid(ax, rows, names)
    return {"id": "ae-undercomplete-reconstructions", "svg": figure_to_svg(fig),
            "caption": text["captions"]["reconstructions"]}


def _fixed(values, decimals: int) -> str:
    """'mean ± sd' with a fixed number of decimals (ratios near 1, angles in degrees)."""
    if not values:
        return "—"
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.{decimals}f} ± {sd:.{decimals}f}"


def _tables(codes, pca, gaps, linear, ae_test, text) -> list[dict]:
    """Two tables, one per split: the training split, where PCA is optimal and the linear
    autoencoder is held against it, and the test split, where both autoencoders are."""
    train, test = [], []
    for c in codes:
        lin, ae = linear.get(c, {}), ae_test.get(c, [])
        largest = [max(a) for a in lin.get("angles_deg", [])]
        train.append([str(c), f"{lin['pca_train_mse']:.4g}" if lin else "—", _fixed(lin.get("train_ratio", []), 4),
                      f"{max(lin['tail_decrease']):.1g}" if lin else "—", _fixed(largest, 1), f"{gaps[c]:.2g}"])
        test.append([str(c), f"{pca[c]:.4g}", mean_sd(lin.get("test_mse", [])), mean_sd(ae),
                     mean_sd([v / pca[c] for v in ae])])
    return [{"caption": text["captions"][f"table_{split}"], "columns": text[f"columns_{split}"], "rows": rows}
            for split, rows in (("train", train), ("test", test))]


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    cells = by_kind_and_code(records)
    analysis = Analysis(quantities={q: None for q in CLAIM.quantities})
    if not cells:
        return analysis
    data = load_data(next(iter(cells.values()))[0].spec)
    codes = sorted({code for _, code in cells})
    pca = {code: pca_test_mse(data, code) for code in codes}
    gaps = relative_gaps(data.x_train, codes)
    ae_test = {c: list(per_seed(cells.get(("autoencoder", c), []), lambda r: r.metric("test_mse")).values())
               for c in codes}
    ae_test = {c: v for c, v in ae_test.items() if v}
    if ae_test.get(FOCUS_CODE):
        analysis.quantities["ae_to_pca_code8"] = Estimate.from_samples(
            [v / pca[FOCUS_CODE] for v in ae_test[FOCUS_CODE]])
    linear = _linear_quantities(analysis, cells, codes)

    analysis.figures.append(_error_figure(codes, pca, ae_test, linear, text))
    if linear:
        analysis.figures.append(_angle_figure(linear, gaps, text))
    analysis.figures.append(_reconstruction_figure(cells, data, codes, text))
    analysis.tables.extend(_tables(codes, pca, gaps, linear, ae_test, text))
    tails = [t for v in linear.values() for t in v["tail_decrease"]]
    analysis.numbers = {
        "focus_code": FOCUS_CODE, "converged_below": CONVERGED,
        "converged_runs": sum(t <= CONVERGED for t in tails), "linear_runs": len(tails),
        "by_code": {str(c): {"pca_test_mse": pca[c], "relative_gap": gaps[c], "linear_autoencoder": linear.get(c),
                             "ae_test_mse": ae_test.get(c, []),
                             "ae_to_pca": [v / pca[c] for v in ae_test.get(c, [])]} for c in codes}}
    return analysis


CLAIM = Claim(
    id="ae-undercomplete",
    section="5",
    order=1,
    quantities={
        "linear_to_pca_train_max": "largest ratio over code sizes of the linear autoencoder's training MSE to "
                                   "PCA's (both on the training split, where PCA is optimal)",
        "ae_to_pca_code8": "MLP autoencoder's test MSE over PCA's with 8 components",
    },
    analyze=analyze,
)
