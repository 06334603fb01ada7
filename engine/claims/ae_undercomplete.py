"""ae-undercomplete (lecture §5): a code h = f(x) smaller than x, trained so that g(f(x)) ≈ x.

The studies train the MLP autoencoder and the linear autoencoder on the 8×8 digits over a sweep
of code sizes (the study's ``vary: {code: [...]}``), several seeds each.  Against the same sizes,
PCA fitted on the training split gives the best reconstruction any linear code of that size can
give (Eckart–Young); it is computed here, at analysis time, by an SVD (deterministic: no
network is trained by the report).  A linear autoencoder at its optimum spans PCA's subspace,
so its test error should match PCA's; the nonlinear one can do better.

Quantities (per seed, then over seeds):
* ``linear_to_pca_max`` / ``linear_to_pca_min``: the largest / smallest ratio over code sizes of
  the linear autoencoder's test MSE to PCA's;
* ``ae_to_pca_code8``: the MLP autoencoder's test MSE over PCA's at code size 8.

Figures: test error against code size (both autoencoders and PCA), and test digits next to
their reconstructions (stored by the model's ``artifacts`` after training).
"""
from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache

import numpy as np

from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate
from engine.record import Record
from engine.report.figures import OKABE_ITO, figure_to_svg, new_figure
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

def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    labels, captions = text["labels"], text["captions"]
    cells = by_kind_and_code(records)
    analysis = Analysis(quantities={q: None for q in CLAIM.quantities})
    if not cells:
        return analysis
    data = load_data(next(iter(cells.values()))[0].spec)
    codes = sorted({code for _, code in cells})
    pca = {code: pca_test_mse(data, code) for code in codes}
    mse = {key: per_seed(recs, lambda r: r.metric("test_mse")) for key, recs in cells.items()}

    # Linear autoencoder against PCA, every size: per seed, the worst ratio either way.
    linear = {code: {s: v / pca[code] for s, v in mse.get(("linear_autoencoder", code), {}).items()}
              for code in codes}
    linear = {code: ratios for code, ratios in linear.items() if ratios}
    if linear:
        seeds = sorted(set.intersection(*(set(r) for r in linear.values())))
        analysis.quantities["linear_to_pca_max"] = Estimate.from_samples(
            [max(r[s] for r in linear.values()) for s in seeds])
        analysis.quantities["linear_to_pca_min"] = Estimate.from_samples(
            [min(r[s] for r in linear.values()) for s in seeds])
    nonlinear = mse.get(("autoencoder", FOCUS_CODE), {})
    if nonlinear:
        analysis.quantities["ae_to_pca_code8"] = Estimate.from_samples(
            [v / pca[FOCUS_CODE] for v in nonlinear.values()])

    # Figure: test error against code size (left) and its ratio to PCA's (right).
    fig, (ax, bx) = new_figure(ncols=2)
    ax.plot(codes, [pca[c] for c in codes], color=COLORS["pca"], ls="--", marker="s", label=labels["pca"])
    bx.axhline(1.0, color=COLORS["pca"], ls="--", lw=1, label=labels["pca"])
    for kind in AE_KINDS:
        points = [(c, list(mse[(kind, c)].values())) for c in codes if mse.get((kind, c))]
        if not points:
            continue
        xs = [c for c, _ in points]
        for axis, scale in ((ax, lambda c: 1.0), (bx, lambda c: pca[c])):
            ys = [np.asarray(v) / scale(c) for c, v in points]
            axis.plot(xs, [y.mean() for y in ys], color=COLORS[kind], marker="o", label=labels[kind])
            axis.fill_between(xs, [y.min() for y in ys], [y.max() for y in ys], color=COLORS[kind], alpha=0.2, lw=0)
    for axis in (ax, bx):
        axis.set_xscale("log", base=2)
        axis.set_xticks(codes, [str(c) for c in codes])
        axis.xaxis.set_minor_formatter(lambda *_: "")
        axis.set_xlabel(labels["code"])
    ax.set_yscale("log")
    ax.set_ylabel(labels["mse"])
    bx.set_ylabel(labels["ratio"])
    ax.legend()
    analysis.figures.append({"id": "ae-undercomplete-error", "svg": figure_to_svg(fig),
                             "caption": captions["error"]})

    # Figure: test digits and their reconstructions (first seed) at every code size.
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
    analysis.figures.append({"id": "ae-undercomplete-reconstructions", "svg": figure_to_svg(fig),
                             "caption": captions["reconstructions"]})

    # Table and numbers.
    table_rows, numbers = [], {}
    for code in codes:
        lin, ae = mse.get(("linear_autoencoder", code), {}), mse.get(("autoencoder", code), {})
        table_rows.append([str(code), f"{pca[code]:.4g}", mean_sd(lin.values()),
                           mean_sd([v / pca[code] for v in lin.values()]), mean_sd(ae.values()),
                           mean_sd([v / pca[code] for v in ae.values()])])
        numbers[str(code)] = {"pca_test_mse": pca[code],
                              "linear_test_mse": list(lin.values()), "ae_test_mse": list(ae.values()),
                              "linear_to_pca": [v / pca[code] for v in lin.values()],
                              "ae_to_pca": [v / pca[code] for v in ae.values()]}
    analysis.tables.append({"caption": captions["table"], "columns": text["columns"], "rows": table_rows})
    analysis.numbers = {"by_code": numbers, "focus_code": FOCUS_CODE}
    return analysis


CLAIM = Claim(
    id="ae-undercomplete",
    section="5",
    order=1,
    quantities={
        "linear_to_pca_max": "largest ratio over code sizes of the linear autoencoder's test MSE to PCA's",
        "linear_to_pca_min": "smallest ratio over code sizes of the linear autoencoder's test MSE to PCA's",
        "ae_to_pca_code8": "MLP autoencoder's test MSE over PCA's with 8 components",
    },
    analyze=analyze,
)
