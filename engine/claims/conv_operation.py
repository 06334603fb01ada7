"""conv-operation: s = x ∗ w, a kernel smaller than the input sliding with a stride.

Reads the records of the ``conv_check`` procedure (engine/procedures/conv_check.py): for random
inputs (one seed = one draw of inputs, kernels and biases) and every case of a grid of
dimensions (1-D, 2-D), kernel sizes, strides and paddings, the largest absolute difference
between the project's convolution (engine/models/conv.py) and SciPy's ``correlate`` (and
``convolve`` with the flipped kernel), and whether the output size is ⌊(n + 2p − k)/s⌋ + 1.

Quantities, both exact (an identity checked case by case, not a mean with sampling error):
``max_abs_diff`` (the largest difference over every case, both references and every draw; n
counts the draws) and ``sizes_match`` (the fraction of all cases of all draws whose output size
equals the formula and SciPy's; n counts the cases).  Figure: one kernel sliding over one real
input with a stride.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate
from engine.record import Record
from engine.kit.figures import OKABE_ITO, figure_to_svg, format_number, new_figure

QUANTITIES = {
    "max_abs_diff": "largest |project − SciPy| over all cases (1-D, 2-D, kernels, strides, paddings) and draws",
    "sizes_match": "fraction of all cases whose output size equals ⌊(n + 2p − k)/s⌋ + 1 and SciPy's",
}


def _table(records: list[Record], text: dict) -> dict:
    """One row per (dimension, stride, padding): kernels, output sizes, largest differences."""
    cells: dict = defaultdict(lambda: defaultdict(list))
    for rec in records:
        h = rec.history
        for i in range(len(h["dim"])):
            cell = cells[(h["dim"][i], h["stride"][i], h["padding"][i])]
            cell["kernel"].append(h["kernel"][i])
            cell["n"].append(h["n"][i])
            cell["sizes"].append((h["kernel"][i], h["n_out"][i], h["n_out_formula"][i]))
            cell["ok"].append(h["size_ok"][i])
            cell["corr"].append(h["diff_correlate"][i])
            cell["conv"].append(h["diff_convolve"][i])
    rows = []
    for (d, s, p), cell in sorted(cells.items()):
        sizes = sorted(set(cell["sizes"]))
        shown = ", ".join(f"{k}→{m}" for k, m, _ in sizes)
        rows.append([f"{d}-D", str(cell["n"][0]) + ("" if d == 1 else f"×{cell['n'][0]}"), str(s), str(p),
                     shown, text["labels"]["yes"] if all(cell["ok"]) else text["labels"]["no"],
                     f"{max(cell['corr']):.1e}", f"{max(cell['conv']):.1e}"])
    return {"caption": text["captions"]["table"].format(seeds=len(records)), "columns": text["columns"], "rows": rows}


def _demo_figure(demo: dict, text: dict) -> dict:
    x = np.asarray(demo["signal"])
    w = np.asarray(demo["kernel"])
    y = np.asarray(demo["output"])
    s, p, k = demo["stride"], demo["padding"], len(w)
    starts = np.asarray(demo["window_starts"])
    centres = starts + (k - 1) / 2
    labels = text["labels"]
    fig, (top, bottom) = new_figure(nrows=2)
    positions = np.arange(-p, len(x) + p)
    padded = np.concatenate([np.zeros(p), x, np.zeros(p)])
    top.plot(positions, padded, "-", color="0.6", lw=0.8, zorder=1)
    top.plot(np.arange(len(x)), x, "o", color=OKABE_ITO["blue"], ms=2.5, zorder=2)
    if p:
        pad_at = np.r_[np.arange(-p, 0), np.arange(len(x), len(x) + p)]
        top.plot(pad_at, np.zeros(len(pad_at)), "s", mfc="white", color=OKABE_ITO["blue"], ms=3, zorder=2)
    # A few windows, alternately above and below, so that overlapping ones stay readable.
    shown = sorted({0, 1, 2, len(y) // 2, len(y) - 1})
    lo, hi = float(padded.min()), float(padded.max())
    colours = [OKABE_ITO["vermillion"], OKABE_ITO["bluish_green"], OKABE_ITO["reddish_purple"],
               OKABE_ITO["orange"], OKABE_ITO["sky_blue"]]
    for j, i in enumerate(shown):
        c = colours[j % len(colours)]
        top.axvspan(starts[i] - 0.4, starts[i] + k - 0.6, color=c, alpha=0.18, lw=0)
        ypos = hi + (0.08 + 0.13 * (j % 3)) * (hi - lo)
        top.annotate("", xy=(starts[i] - 0.4, ypos), xytext=(starts[i] + k - 0.6, ypos),
                     arrowprops={"arrowstyle": "|-|", "color": c, "lw": 0.8, "shrinkA": 0, "shrinkB": 0,
                                 "mutation_scale": 2})
        top.text(centres[i], ypos + 0.01 * (hi - lo), f"$s_{{{i}}}$", color=c, ha="center", va="bottom", fontsize=7)
        bottom.plot([centres[i]], [y[i]], "o", color=c, ms=6, zorder=3)
    top.set_ylim(lo - 0.1 * (hi - lo), hi + 0.5 * (hi - lo))
    top.set_ylabel(labels["input"])
    bottom.plot(centres, y, "-", color="0.5", lw=0.8, zorder=1)
    bottom.plot(centres, y, "o", color="black", ms=3, zorder=2)
    bottom.set_xlim(top.get_xlim())
    bottom.set_xlabel(labels["position"])
    bottom.set_ylabel(labels["output_axis"])
    kernel = ", ".join(format_number(v, 2) for v in w)
    n = len(x)
    caption = text["captions"]["demo"].format(
        kernel=kernel, k=k, s=s, p=p, n=n, m=len(y), label=demo.get("label"),
        formula=f"⌊({n} + 2·{p} − {k})/{s}⌋ + 1 = {(n + 2 * p - k) // s + 1}")
    return {"id": "conv-operation-sliding", "svg": figure_to_svg(fig), "caption": caption}


def analyze(records: list[Record], text: dict, _studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in QUANTITIES})
    ok = sorted((r for r in records if r.status == "ok" and r.metric("max_abs_diff") is not None),
                key=lambda r: r.spec.seed)
    if not ok:
        return analysis
    analysis.quantities["max_abs_diff"] = Estimate.exact(max(r.final["max_abs_diff"] for r in ok),
                                                         unit="draw", n=len(ok))
    cases = sum(r.final["n_cases"] for r in ok)
    analysis.quantities["sizes_match"] = Estimate.exact(
        sum(r.final["sizes_match"] * r.final["n_cases"] for r in ok) / cases, unit="case", n=cases)
    demo = ok[0].artifacts.get("demo")
    if demo:
        analysis.figures.append(_demo_figure(demo, text))
    analysis.tables.append(_table(ok, text))
    analysis.numbers = {
        "seeds": [r.spec.seed for r in ok],
        "n_cases": ok[0].final["n_cases"],
        **{key: max(r.final[key] for r in ok)
           for key in ("max_abs_diff", "max_abs_diff_correlate", "max_abs_diff_convolve",
                       "max_abs_diff_1d", "max_abs_diff_2d")},
        "sizes_match": min(r.final["sizes_match"] for r in ok),
        "demo": None if not demo else {k: demo[k] for k in ("kernel", "stride", "padding", "output")},
    }
    return analysis


CLAIM = Claim(id="conv-operation", section="3", order=1, quantities=QUANTITIES, analyze=analyze)
