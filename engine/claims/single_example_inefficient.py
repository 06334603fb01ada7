"""single-example-inefficient: single-example methods are "tremendamente ineficientes para una
cantidad grande de datos".

MNIST-1D training sets of growing size N (engine/data/subsets.py), a small MLP, plain SGD with
batch size B ∈ {1, 8, 64, 512, N} (each B at a fixed learning rate, the same for every N), every
run timed alone (``alone: true``: no member axis that would hide the per-step cost), until the
training loss reaches a fixed target (``budget.target_loss``) that B = 1 reaches only after several
epochs at the largest N.  Recorded per run: the seconds of training (evaluation excluded) and the
examples processed to reach the target (and so the epochs, examples / N).

Quantities, per seed (then an interval over seeds), with ratio(N) = seconds(B = 1) / the fewest
seconds of any B at that N:

* ``time_ratio_largest_n``: ratio at the largest N;
* ``time_ratio_slope``: the fitted slope of log ratio(N) against log N (> 0: the gap grows with N).

A B = 1 run that does not reach the target within its step cap counts with the seconds it ran, a
lower bound on its time (marked "≥" in the table), which can only understate the ratio.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from engine.claims.base import Analysis, Claim
from engine.claims.verdict import estimates
from engine.record import Record
from engine.kit.figures import figure_to_svg, legend_under_figure, new_figure
from engine.spec import RunSpec

# Okabe-Ito, one per data-set size (smallest first) and one per batch size.
SIZE_STYLES = [("#0072B2", "o"), ("#E69F00", "s"), ("#009E73", "^"), ("#CC79A7", "D"), ("#D55E00", "v")]
BATCH_STYLES = {1: ("#7F7F7F", ":"), 8: ("#56B4E9", "--"), 64: ("#009E73", "-."), 512: ("#CC79A7", (0, (3, 1.2))),
                "full": ("#000000", "-")}


def _regime(spec: RunSpec) -> int | str:
    return "full" if spec.batch in ("full", None) else int(spec.batch)


def _runs(records: list[Record]) -> dict:
    """(N, regime, seed) → {seconds, examples, reached, batch_size, lr, history}."""
    out = {}
    for rec in records:
        if rec.status not in ("ok", "diverged") or "target_loss" not in rec.spec.budget:
            continue
        # A run with a target loss measures these whether it reached it or diverged.
        spec, final = rec.spec, rec.final
        n = int(spec.dataset.params["n_train"])
        reached = bool(final["reached_target"])
        seconds = final["seconds_to_target"] if reached else final["seconds"]
        examples = final["examples_to_target"] if reached else final["examples"]
        out[(n, _regime(spec), spec.seed)] = {
            "seconds": seconds, "examples": examples, "epochs": examples / n,
            "reached": reached and rec.status == "ok", "batch_size": final["batch_size"],
            "lr": spec.optimizer.hp.get("lr"), "history": rec.history, "status": rec.status}
    return out


def ratios(runs: dict) -> dict:
    """(N, seed) → seconds(B = 1) / min over B of seconds (None when either is missing)."""
    out = {}
    for n, seed in {(n, s) for n, _, s in runs}:
        single = runs.get((n, 1, seed))
        reached = [r["seconds"] for (m, _, s), r in runs.items() if m == n and s == seed and r["reached"]]
        if single is None or single["seconds"] is None or not reached:
            out[(n, seed)] = None
            continue
        best = min(reached + ([single["seconds"]] if single["reached"] else []))
        out[(n, seed)] = single["seconds"] / best if best > 0 else None
    return out


def per_seed_quantities(runs: dict) -> dict:
    """seed → {'time_ratio_largest_n', 'time_ratio_slope'}."""
    r = ratios(runs)
    sizes = sorted({n for n, _ in r})
    out = {}
    for seed in sorted({s for _, s in r}):
        points = [(n, r[(n, seed)]) for n in sizes if r.get((n, seed))]
        largest = r.get((sizes[-1], seed)) if sizes else None
        slope = (float(np.polyfit(np.log([n for n, _ in points]), np.log([v for _, v in points]), 1)[0])
                 if len(points) >= 2 else None)
        out[seed] = {"time_ratio_largest_n": largest, "time_ratio_slope": slope}
    return out


def _regime_order(regime) -> float:
    return float("inf") if regime == "full" else float(regime)


def analyze(records: list[Record], text: dict, _studies: dict) -> Analysis:
    names = ("time_ratio_largest_n", "time_ratio_slope")
    analysis = Analysis(quantities={q: None for q in names})
    runs = _runs(records)
    if not runs:
        return analysis
    per_seed = per_seed_quantities(runs)
    analysis.quantities.update(estimates(per_seed.values(), names))
    labels = text["labels"]
    sizes = sorted({n for n, _, _ in runs})
    regimes = sorted({g for _, g, _ in runs}, key=_regime_order)
    seeds = sorted({s for _, _, s in runs})
    r = ratios(runs)
    target = next(iter(records)).spec.budget.get("target_loss") if records else None
    analysis.figures.append({"id": "single-example-time", "svg": _time_figure(runs, sizes, regimes, seeds, labels),
                             "caption": text["captions"]["time"].format(target=target)})
    analysis.figures.append({"id": "single-example-curves",
                             "svg": _curves_figure(runs, sizes, regimes, seeds[0], target, labels),
                             "caption": text["captions"]["curves"].format(target=target)})
    analysis.tables.append({"caption": text["captions"]["table"].format(target=target),
                            "columns": text["columns"], "rows": _rows(runs, sizes, regimes, seeds, r, labels)})
    analysis.numbers = {
        "target_loss": target,
        "per_seed": {str(s): v for s, v in per_seed.items()},
        "ratio": {f"N={n}|seed={s}": v for (n, s), v in sorted(r.items())},
        "runs": {f"N={n}|B={g}|seed={s}": {k: v for k, v in run.items() if k != "history"}
                 for (n, g, s), run in sorted(runs.items(), key=lambda kv: (kv[0][0], _regime_order(kv[0][1]), kv[0][2]))},
    }
    return analysis


def _cells(runs: dict, n: int, g, seeds: list) -> list[dict]:
    """The runs of training-set size n and batch regime g, one per seed that has one."""
    return [runs[(n, g, s)] for s in seeds if (n, g, s) in runs]


def _to_target(cells: list[dict]) -> tuple[list, list]:
    """The seconds and the examples of each run of `cells` that measured them: to the target, or
    the whole run's where it did not reach it (a lower bound)."""
    return ([c["seconds"] for c in cells if c["seconds"] is not None],
            [c["examples"] for c in cells if c["examples"] is not None])


def _time_figure(runs: dict, sizes: list, regimes: list, seeds: list, labels: dict) -> str:
    """Time and examples to the target against B, one line per N (open markers: not reached)."""
    fig, (ax_t, ax_e) = new_figure(ncols=2)
    for j, n in enumerate(sizes):
        color, marker = SIZE_STYLES[j % len(SIZE_STYLES)]
        xs, ts, es = [], [], []
        for g in regimes:
            cells = _cells(runs, n, g, seeds)
            if not cells:
                continue
            secs, exs = _to_target(cells)
            xs.append(cells[0]["batch_size"])
            ts.append(np.mean(secs) if secs else np.nan)
            es.append(np.mean(exs) if exs else np.nan)
            for c in cells:
                ax_t.plot(cells[0]["batch_size"], c["seconds"], marker, color=color, ms=3, alpha=0.4,
                          mfc=color if c["reached"] else "none")
        ax_t.plot(xs, ts, "-", color=color, marker=marker, ms=4, label=labels["size"].format(n=n))
        ax_e.plot(xs, es, "-", color=color, marker=marker, ms=4, label=labels["size"].format(n=n))
    for ax, ylabel in ((ax_t, labels["seconds_to_target"]), (ax_e, labels["examples_to_target"])):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(labels["batch"])
        ax.set_ylabel(ylabel)
    legend_under_figure(fig, ax_t, ncols=len(sizes))   # both panels share their lines
    return figure_to_svg(fig)


def _rows(runs: dict, sizes: list, regimes: list, seeds: list, r: dict, labels: dict) -> list[list]:
    """Per (N, B): rate, runs that reached the target, mean seconds, examples and epochs to it
    ('≥' when some did not reach it), and for B = 1 the mean time ratio."""
    rows = []
    for n in sizes:
        for g in regimes:
            cells = _cells(runs, n, g, seeds)
            if not cells:
                continue
            secs, exs = _to_target(cells)
            n_reached = sum(c["reached"] for c in cells)
            bound = "" if n_reached == len(cells) else "≥ "
            seed_ratios = [r.get((n, s)) for s in seeds]
            rows.append([str(n), labels["full"].format(n=n) if g == "full" else str(g), f"{cells[0]['lr']:g}",
                         f"{n_reached}/{len(cells)}", bound + (f"{np.mean(secs):.3g}" if secs else "—"),
                         bound + (f"{np.mean(exs):.4g}" if exs else "—"),
                         bound + (f"{np.mean(exs) / n:.3g}" if exs else "—"),
                         (f"{np.mean([x for x in seed_ratios if x]):.3g}" if g == 1 and any(seed_ratios) else "")])
    return rows


def _curves_figure(runs: dict, sizes: list, regimes: list, seed, target, labels: dict) -> str:
    """Training loss against seconds, one panel per N, one line per B (one seed)."""
    fig, axes = new_figure(ncols=len(sizes))
    axes = np.atleast_1d(axes)
    for ax, n in zip(axes, sizes):
        for g in regimes:
            run = runs.get((n, g, seed))
            if run is None or not run["history"].get("seconds"):
                continue
            color, ls = BATCH_STYLES.get(g, ("#332288", "-"))
            secs = np.maximum(np.asarray(run["history"]["seconds"], dtype=float), 1e-4)
            ax.plot(secs, run["history"]["train_loss"], color=color, ls=ls, lw=1.1,
                    label="B = N" if g == "full" else f"B = {g}")
        if target is not None:
            ax.axhline(target, color="0.5", lw=0.7, ls="--")
        ax.set_xscale("log")
        ax.set_title(labels["size"].format(n=n), fontsize=9)
        ax.set_xlabel(labels["seconds"])
    axes[0].set_ylabel(labels["train_loss"])
    legend_under_figure(fig, axes[-1], ncols=len(regimes))   # every panel has the same B's
    return figure_to_svg(fig)


CLAIM = Claim(
    id="single-example-inefficient",
    section="1",
    order=3,
    quantities={
        "time_ratio_largest_n": "seconds to the training-loss target with B = 1 over the fewest seconds of any B, at the largest N",
        "time_ratio_slope": "fitted slope of log(that ratio) against log N over the data-set sizes",
    },
    analyze=analyze,
)
