"""rmsprop-improves-adagrad: RMSprop "intenta ser una mejora" of Adagrad.

Adagrad's v_t = v_{t−1} + g_t² only grows, so its effective step α/√(v_t + ε) can only shrink;
RMSprop's v_t = β v_{t−1} + (1 − β) g_t² forgets, so its step α/(√v_t + ε) stays bounded.

The moving target (engine/objectives/moving_target.py): a noisy quadratic whose minimiser moves
M times, every P steps, in a run of T = (M + 1) P steps.  Each optimizer's step is tuned on the
early window (a run of the same schedule's first moves; lowest mean gap over the tuning starts,
engine/claims/_tuned.py); other starts then run the whole schedule.  Per start:
- the effective step (median over coordinates) just before the first and the last move;
  quantity log10(at the last / at the first), per optimizer;
- the tracking error f − f* late, over the moves of the run's second half (m P ≥ T/2): its mean
  over all those steps, and apart its mean over each move's transient (the move's first w steps)
  and over the floor between moves (the rest of each segment); quantity log10(Adagrad / RMSprop),
  paired by start.

The optimizer × model matrix, family by family (the seeds are the units; families are never
pooled):
- the effective step of the tuned runs over training (figure), and per family log10(step at the
  last evaluation / at the first after the start) over its seeds;
- the test error of tuned RMSprop against tuned Adagrad (1 − accuracy, MSE, MMD): per family and
  seed log10(error of Adagrad / error of RMSprop); per family a two-sided one-sample t test of
  mean 0, Holm's adjustment over the families; a family counts as worse for RMSprop when its
  adjusted p-value is below ALPHA and the mean is negative, as better when it is positive.  The
  counts are exact (each family is already judged on its seeds).
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from engine.claims._tuned import at_edge, at_hp, fmt, split_studies, tuned_choice
from engine.claims.base import Analysis, Claim
from engine.tuning import final_records
from engine.claims.verdict import Estimate, holm
from engine.objectives import OBJECTIVES
from engine.record import Record
from engine.kit.figures import (figure_to_svg, legend_below, legend_under_figure, new_figure, optimizer_label,
                                optimizer_style)

ADAGRAD, RMSPROP = "adagrad", "rmsprop"
PAIR = (ADAGRAD, RMSPROP)
MOVING = "rmsprop-moving-target"
ALPHA = 0.05
ERRORS = (("test_accuracy", lambda v: 1.0 - v, "1 − accuracy"), ("test_mse", lambda v: v, "MSE"),
          ("test_mmd", lambda v: v, "MMD"))
WINDOWS = ("tracking", "transient", "floor")


# --------------------------------------------------------------------------- pure pieces

def first_late_move(moves: int) -> int:
    """The first move of the run's second half: the smallest m with m P ≥ T/2 = (M + 1) P/2."""
    return (int(moves) + 2) // 2


def late_errors(phase_means, windows, first_move: int) -> dict:
    """Mean gap over the steps of the windows of moves ≥ ``first_move``: 'tracking' over all of
    them, 'transient' and 'floor' over each kind alone.  ``phase_means[i]`` is the trainer's mean
    gap over ``windows[i]`` = (kind, move, first step, last step)."""
    sums = {k: [0.0, 0] for k in WINDOWS}
    for mean, (kind, move, first, last) in zip(phase_means, windows):
        if move < first_move:
            continue
        for key in ("tracking", kind):
            sums[key][0] += mean * (last - first + 1)
            sums[key][1] += last - first + 1
    return {k: s / n for k, (s, n) in sums.items()}


def steps_at_moves(rec: Record, period: int, moves: int) -> list[float]:
    """Median over coordinates of the effective step logged at each move's step m P, m = 1 … M:
    the trainer logs the optimizer's state after m P updates, all on the previous target."""
    at = {s: i for i, s in enumerate(rec.history["step"])}
    missing = [m * period for m in range(1, moves + 1) if m * period not in at]
    if missing:
        raise ValueError(f"{rec.spec.study}: no effective step logged at the moves' steps {missing}")
    return [float(np.median(rec.history["effective_step"][at[m * period]])) for m in range(1, moves + 1)]


def family_tests(ratios: dict) -> dict:
    """family → {'estimate', 'p', 'p_holm', 'outcome'} for the per-seed log10(Adagrad / RMSprop)
    error ratios of each family: two-sided one-sample t test of mean 0 (no p-value with fewer than
    two seeds or no spread), Holm over the families that have one; 'better' or 'worse' (for
    RMSprop) where the adjusted p-value is below ALPHA, else 'no difference'."""
    from scipy import stats

    pvalues = {}
    for family, values in ratios.items():
        if len(values) >= 2 and np.std(values) > 0:
            pvalues[family] = float(stats.ttest_1samp(values, 0.0).pvalue)
    adjusted = dict(zip(pvalues, holm(list(pvalues.values()))))
    out = {}
    for family, values in ratios.items():
        est = Estimate.from_samples(values, unit="seed")
        p = adjusted.get(family)
        outcome = "no difference" if p is None or p >= ALPHA else ("better" if est.mean > 0 else "worse")
        out[family] = {"estimate": est, "p": pvalues.get(family), "p_holm": p, "outcome": outcome}
    return out


def step_change(rec: Record) -> float | None:
    """log10(effective step at the last evaluation / at the first evaluation after step 0)."""
    eff = rec.history.get("effective_step") or []
    if rec.status != "ok" or len(eff) < 3 or not eff[1] or not eff[-1] or eff[1] <= 0 or eff[-1] <= 0:
        return None
    return math.log10(eff[-1] / eff[1])


# --------------------------------------------------------------------------- the matrix

def _matrix_cells(records: list[Record], studies: dict) -> dict:
    """matrix study → final_records cells (tuned finals per optimizer)."""
    by_study = defaultdict(list)
    for rec in records:
        by_study[rec.spec.study].append(rec)
    return {s: final_records(by_study[s], st) for s, st in studies.items()
            if st.get("claim") == "optimizer-matrix" and st.get("tune") and by_study.get(s)
            and ADAGRAD in st.get("optimizers", []) and RMSPROP in st.get("optimizers", [])}


def _effective_steps(cells: dict, text: dict, analysis: Analysis) -> None:
    labels = text["labels"]
    fig, ax = new_figure(width="full")
    rows, numbers = [], {}
    for sname, c in cells.items():
        changes = {}
        for o in PAIR:
            finals = [r for r in c[o]["finals"] if step_change(r) is not None]
            changes[o] = Estimate.from_samples([step_change(r) for r in finals], unit="seed")
            if not finals:
                continue
            n = min(len(r.history["effective_step"]) for r in finals)
            steps = np.asarray(finals[0].history["step"][:n], dtype=float)
            rel = np.asarray([np.asarray(r.history["effective_step"][1:n]) / r.history["effective_step"][1]
                              for r in finals])
            style = optimizer_style(o)
            ax.plot(steps[1:] / steps[-1], np.exp(np.mean(np.log(rel), axis=0)), color=style["color"],
                    ls=style["linestyle"], lw=0.9, alpha=0.85,
                    label=optimizer_label(o) if sname == next(iter(cells)) else None)
        rows.append([sname.removeprefix("matrix-"),
                     *("—" if changes[o] is None else changes[o].text() for o in PAIR)])
        numbers[sname] = {o: None if changes[o] is None else changes[o].as_dict() for o in PAIR}
    ax.set_yscale("log")
    ax.set_xlabel(labels["fraction"])
    ax.set_ylabel(labels["relative_step"])
    ax.axhline(1.0, color="0.5", lw=0.6)
    legend_below(ax, ncols=2)
    analysis.figures.append({"id": "rmsprop-effective-step", "svg": figure_to_svg(fig),
                             "caption": text["captions"]["effective_step"]})
    analysis.tables.append({"caption": text["captions"]["effective_step_table"],
                            "columns": text["columns"]["effective_step"], "rows": rows,
                            "after": "rmsprop-effective-step"})
    analysis.numbers["effective_step_log10_change"] = numbers


def _family_errors(c: dict) -> tuple[str, dict] | None:
    """(error name, optimizer → seed → test error of its tuned finals), or None without a metric."""
    finals = {o: {r.spec.seed: r for r in c[o]["finals"] if r.status == "ok"} for o in PAIR}
    sample = next((r for d in finals.values() for r in d.values()), None)
    metric = None if sample is None else next(((m, f, name) for m, f, name in ERRORS if m in sample.final), None)
    if metric is None:
        return None
    key, to_error, name = metric
    return name, {o: {s: to_error(r.final[key]) for s, r in d.items() if r.metric(key) is not None}
                  for o, d in finals.items()}


def _matrix(cells: dict, text: dict, analysis: Analysis) -> None:
    ratios, info = {}, {}
    for sname, c in cells.items():
        found = _family_errors(c)
        if found is None:
            continue
        name, errors = found
        seeds = sorted(set(errors[ADAGRAD]) & set(errors[RMSPROP]))
        ratios[sname] = [math.log10(errors[ADAGRAD][s] / errors[RMSPROP][s]) for s in seeds
                         if errors[ADAGRAD][s] > 0 and errors[RMSPROP][s] > 0]
        info[sname] = {"error": name, "mean_error": {o: float(np.mean(list(errors[o].values()))) if errors[o]
                                                     else math.nan for o in PAIR},
                       "lr": {o: c[o]["best"].spec.optimizer.hp["lr"] if c[o]["best"] else None for o in PAIR}}
    tests = family_tests({s: v for s, v in ratios.items() if v})
    words = text["labels"]["outcomes"]
    rows, numbers = [], {}
    for sname, t in tests.items():
        i, est = info[sname], t["estimate"]
        rows.append([sname.removeprefix("matrix-"), text["labels"]["errors"].get(i["error"], i["error"]), fmt(i["lr"][ADAGRAD]), fmt(i["mean_error"][ADAGRAD], 4),
                     fmt(i["lr"][RMSPROP]), fmt(i["mean_error"][RMSPROP], 4), est.text(), fmt(t["p_holm"], 2),
                     words[t["outcome"]]])
        numbers[sname] = {**i, "log10_ratio": list(est.values), "estimate": est.as_dict(), "p": t["p"],
                          "p_holm": t["p_holm"], "outcome": t["outcome"]}
    if tests:
        for outcome in ("worse", "better"):
            count = sum(t["outcome"] == outcome for t in tests.values())
            analysis.quantities[f"matrix_families_{outcome}"] = Estimate.exact(count, unit="family", n=len(tests))
    analysis.tables.append({"caption": text["captions"]["matrix_table"], "columns": text["columns"]["matrix"],
                            "rows": rows})
    analysis.numbers["matrix"] = numbers


# --------------------------------------------------------------------------- the moving target

def _per_start(recs: list[Record], problem, first_move: int) -> dict:
    """seed → {'tracking', 'transient', 'floor': late mean gaps; 'steps': effective step at each move;
    'windows': the mean gap of every window}."""
    moves = len(problem.windows) // 2
    period = problem.windows[1][2]
    return {r.spec.seed: {**late_errors(r.final["mean_gap_phases"], problem.windows, first_move),
                          "steps": steps_at_moves(r, period, moves), "windows": r.final["mean_gap_phases"]}
            for r in recs}


def _paired(a: dict, b: dict, key: str) -> list[float]:
    return [math.log10(a[s][key] / b[s][key]) for s in sorted(set(a) & set(b))]


def _moving_quantities(starts: dict, analysis: Analysis) -> dict:
    """The moving target's estimates: each optimizer's step change, and the late log ratios."""
    out = {}
    for o, name in ((ADAGRAD, "adagrad_step_log_change"), (RMSPROP, "rmsprop_step_log_change")):
        if starts.get(o):
            out[name] = Estimate.from_samples([math.log10(v["steps"][-1] / v["steps"][0])
                                               for v in starts[o].values()], unit="start")
    if starts.get(ADAGRAD) and starts.get(RMSPROP):
        for key in WINDOWS:
            out[f"late_{key}_log_ratio"] = Estimate.from_samples(_paired(starts[ADAGRAD], starts[RMSPROP], key),
                                                                 unit="start")
    analysis.quantities.update(out)
    return out


def _moving_table(choice: dict, starts: dict, est: dict, text: dict) -> dict:
    rows = []
    for o, per in starts.items():
        c = choice[o]
        mean = lambda f: fmt(float(np.mean([f(v) for v in per.values()]))) if per else "—"
        change = est.get(f"{o}_step_log_change")
        rows.append([optimizer_label(o), fmt(c["hp"]["lr"]) + (" *" if at_edge(c) else ""),
                     f"{sum(g[1] is None for g in c['grid'])}/{len(c['grid'])}",
                     *(mean(lambda v, k=k: v[k]) for k in WINDOWS),
                     mean(lambda v: v["steps"][0]), mean(lambda v: v["steps"][-1]),
                     "—" if change is None else change.text()])
    ratio = [est.get(f"late_{k}_log_ratio") for k in WINDOWS]
    rows.append([text["labels"]["ratio_row"], "—", "—", *("—" if e is None else e.text() for e in ratio),
                 "—", "—", "—"])
    return {"caption": text["captions"]["moving_table"], "columns": text["columns"]["moving"], "rows": rows}


def _moving_figure(starts: dict, choice: dict, problem, first_move: int, text: dict) -> dict:
    labels = text["labels"]
    moves = len(problem.windows) // 2
    index = np.arange(1, moves + 1)
    fig, axes = new_figure(ncols=2)
    for o, per in starts.items():
        style = optimizer_style(o)
        name = f"{optimizer_label(o)} (α = {choice[o]['hp']['lr']:.3g})"
        windows = np.asarray([v["windows"] for v in per.values()])
        for kind, ls in (("transient", "-"), ("floor", ":")):
            cols = [i for i, w in enumerate(problem.windows) if w[0] == kind]
            axes[0].plot(index, np.median(windows[:, cols], axis=0), color=style["color"], ls=ls,
                         marker=style["marker"], ms=3, lw=1)
        steps = np.asarray([v["steps"] for v in per.values()])
        axes[1].fill_between(index, steps.min(axis=0), steps.max(axis=0), color=style["color"], alpha=0.2, lw=0)
        axes[1].plot(index, np.median(steps, axis=0), color=style["color"], ls=style["linestyle"],
                     marker=style["marker"], ms=3, lw=1, label=name)
    for ax in axes:
        ax.axvspan(first_move - 0.5, moves + 0.5, color="0.9", lw=0, zorder=0)
        ax.set_yscale("log")
        ax.set_xlabel(labels["move"])
    axes[0].set_ylabel(labels["gap"])
    axes[1].set_ylabel(labels["effective_step"])
    legend_under_figure(fig, axes[1], ncols=2)   # the left panel's line styles are named in the caption
    return {"id": "rmsprop-moving-target", "svg": figure_to_svg(fig), "caption": text["captions"]["moving"]}


def _moving(records: list[Record], text: dict, analysis: Analysis) -> None:
    tuning, reported = split_studies(records, MOVING)
    if not tuning or not reported:
        return
    spec = reported[0].spec
    problem = OBJECTIVES[spec.model.kind].build(**spec.model.params)
    first_move = first_late_move(len(problem.windows) // 2)
    choice = tuned_choice(tuning)
    finals = {o: [r for r in at_hp(reported, o, choice[o]["hp"]) if r.status == "ok"] for o in PAIR if o in choice}
    starts = {o: _per_start(recs, problem, first_move) for o, recs in finals.items()}
    est = _moving_quantities(starts, analysis)
    table = _moving_table(choice, starts, est, text)
    if any(starts.values()):
        figure = _moving_figure({o: v for o, v in starts.items() if v}, choice, problem, first_move, text)
        analysis.figures.append(figure)
        table["after"] = figure["id"]
    analysis.tables.append(table)
    analysis.numbers["moving_target"] = {
        "first_late_move": first_move, "windows": [list(w) for w in problem.windows],
        "estimates": {k: None if e is None else e.as_dict() for k, e in est.items()},
        **{o: {"lr": choice[o]["hp"]["lr"], "at_edge": at_edge(choice[o]),
               "grid": [[g[0]["lr"], g[1]] for g in choice[o]["grid"]],
               "starts": {str(s): v for s, v in starts[o].items()}} for o in starts}}


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in QUANTITIES})
    _moving(records, text, analysis)
    cells = _matrix_cells(records, studies)
    if cells:
        _effective_steps(cells, text, analysis)
        _matrix(cells, text, analysis)
    return analysis


QUANTITIES = {
    "adagrad_step_log_change": "log10(Adagrad's effective step at the last move / at the first), moving target, "
                               "per start",
    "rmsprop_step_log_change": "log10(RMSprop's effective step at the last move / at the first), moving target, "
                               "per start",
    "late_tracking_log_ratio": "log10(mean tracking error over the run's second half, Adagrad / RMSprop), per start",
    "late_transient_log_ratio": "the same over the transients after the late moves only, per start",
    "late_floor_log_ratio": "the same over the floors between the late moves only, per start",
    "matrix_families_worse": "matrix families where tuned RMSprop's test error is higher than tuned Adagrad's "
                             "(paired over seeds, Holm over families), exact count",
    "matrix_families_better": "matrix families where it is lower (the same test), exact count",
}

CLAIM = Claim(
    id="rmsprop-improves-adagrad",
    section="2",
    order=3,
    quantities=QUANTITIES,
    analyze=analyze,
    reads=("optimizer-matrix",),
)
