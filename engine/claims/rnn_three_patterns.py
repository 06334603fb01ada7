"""rnn-three-patterns: the three recurrent designs of the slide (lecture §4; Goodfellow §10.2).

(1) output at every step, hidden→hidden recurrence (``rnn_hh``); (2) output at every step,
output→hidden recurrence, trained with teacher forcing (``rnn_oh``); (3) hidden→hidden recurrence,
one output after the whole sequence (``rnn_last``).

* (1) against (2) on delayed recall (y⁽ᵗ⁾ = x⁽ᵗ⁻ᵈ⁾, engine/data/sequences.py): what (2) feeds
  forward is only its previous output, which says nothing about x⁽ᵗ⁻ᵈ⁾, so it cannot beat chance
  (½), while (1) keeps the last d bits in its state.  Pattern 1's runs are those of
  rnn-parameter-sharing (read, not retrained); pattern 2 trains on the same data set with the
  same optimizer and budget.  ``hh_minus_oh`` is, per seed, the difference of their test accuracies
  (pattern 2 evaluated free-running, feeding back its own output distribution).
* (3) on sequence classification: digits read row by row and MNIST-1D read one value per step
  (a short budget), with Adam like the other patterns.  ``last_digits_accuracy`` and
  ``last_mnist1d_accuracy`` are test accuracies per seed; chance is 1/10.  (The optimizer matrix
  also trains pattern 3 on digits under every optimizer; this claim does not read it, so that
  its section rests on its own few runs.  ``classification_runs`` would pick the matrix's best
  tuned optimizer if it were added to ``reads``.)
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from engine.claims.base import Analysis, Claim, mean_sd
from engine.claims.verdict import Estimate
from engine.record import Record
from engine.kit.figures import (OKABE_ITO, chance_line, figure_to_svg, localize_decimals, new_figure,
                                   optimizer_label)
from engine.tuning import best_run

QUANTITIES = {
    "hh_minus_oh": "test accuracy of pattern 1 (h→h) minus that of pattern 2 (o→h) on delayed recall, "
                   "paired by seed",
    "last_digits_accuracy": "pattern 3 test accuracy on digits read row by row, per seed",
    "last_mnist1d_accuracy": "pattern 3 test accuracy on MNIST-1D read one value per step, per seed",
}
COLORS = {"rnn_hh": OKABE_ITO["blue"], "rnn_oh": OKABE_ITO["vermillion"], "digits_rows": OKABE_ITO["bluish_green"],
          "mnist1d_seq": OKABE_ITO["reddish_purple"]}


def _ok(records):
    return [r for r in records if r.status == "ok"]


def _training(rec: Record, labels: dict) -> str:
    """'Adam, 2 epochs' (the optimizer and the budget of a run)."""
    budget = rec.spec.budget
    amount = (labels["epochs_budget"].format(epochs=budget["epochs"]) if "epochs" in budget
              else labels["steps_budget"].format(steps=budget.get("max_steps")))
    return f"{optimizer_label(rec.spec.optimizer.name)}, {amount}"


def _same_task(a: Record, b: Record) -> bool:
    """Whether two runs trained on the same data with the same optimizer and budget."""
    return (a.spec.dataset, a.spec.optimizer, a.spec.batch, a.spec.budget) == \
        (b.spec.dataset, b.spec.optimizer, b.spec.batch, b.spec.budget)


def _on(rec: Record, dataset_kind: str) -> bool:
    return rec.spec.dataset is not None and rec.spec.dataset.kind == dataset_kind


def recall_pairs(records: list[Record]) -> list[tuple[Record, Record]]:
    """(pattern 1 record, pattern 2 record) of the same seed on the same delayed-recall task."""
    recall = [r for r in _ok(records) if _on(r, "delayed_recall")]
    hh = {r.spec.seed: r for r in recall if r.spec.model.kind == "rnn_hh"
          and r.spec.model.params.get("shared", True)}
    oh = {r.spec.seed: r for r in recall if r.spec.model.kind == "rnn_oh"}
    return [(hh[s], oh[s]) for s in sorted(set(hh) & set(oh)) if _same_task(hh[s], oh[s])]


def classification_runs(records: list[Record], studies: dict, dataset_kind: str) -> tuple[list[Record], str | None]:
    """Pattern 3's final runs on ``dataset_kind``: for a tuned study (the matrix), those of the
    optimizer whose chosen rate has the best mean validation score; otherwise every run."""
    runs = [r for r in records if r.spec.model.kind == "rnn_last" and _on(r, dataset_kind)]
    if not runs:
        return [], None
    study = studies.get(runs[0].spec.study, {})
    tune = study.get("tune")
    if not tune:
        return sorted(_ok(runs), key=lambda r: r.spec.seed), runs[0].spec.optimizer.name
    metric, mode = tune["metric"], tune["mode"]
    seeds = study.get("seeds") or sorted({r.spec.seed for r in runs})
    by_opt = defaultdict(list)
    for r in runs:
        by_opt[r.spec.optimizer.name].append(r)
    best_opt, best_score, best_finals = None, None, []
    for oname, recs in sorted(by_opt.items()):
        chosen = best_run([r for r in recs if r.spec.seed == seeds[0]], metric, mode)
        if chosen is None:
            continue
        finals = _ok(r for r in recs if r.spec.optimizer.hp == chosen.spec.optimizer.hp)
        scores = [v for r in finals if (v := r.metric(metric)) is not None]
        if not scores:
            continue
        score = float(np.mean(scores))
        if best_score is None or (score > best_score if mode == "max" else score < best_score):
            best_opt, best_score, best_finals = oname, score, finals
    return sorted(best_finals, key=lambda r: r.spec.seed), best_opt


def _curves(ax, recs, metric, color, label, ls="-"):
    recs = [r for r in recs if metric in r.history]
    if not recs:
        return
    n = min(len(r.history[metric]) for r in recs)
    x = np.asarray(recs[0].history["epoch"][:n], dtype=float)
    ys = np.asarray([r.history[metric][:n] for r in recs], dtype=float)
    ax.plot(x, ys.mean(0), color=color, ls=ls, lw=1.3, label=label)
    if len(recs) > 1:
        ax.fill_between(x, ys.min(0), ys.max(0), color=color, alpha=0.2, lw=0)


def _figure_recall(pairs, text) -> dict:
    labels = text["labels"]
    hh, oh = [p[0] for p in pairs], [p[1] for p in pairs]
    fig, (left, right) = new_figure(ncols=2)
    _curves(left, hh, "val_accuracy", COLORS["rnn_hh"], labels["pattern1"])
    _curves(left, oh, "val_accuracy", COLORS["rnn_oh"], labels["pattern2_free"])
    _curves(left, oh, "val_teacher_forced_accuracy", COLORS["rnn_oh"], labels["pattern2_forced"], ls=":")
    chance_line(left, 0.5, labels["chance"])
    left.set_ylim(0.4, 1.04)
    left.set_xlabel(labels["epoch"])
    left.set_ylabel(labels["val_accuracy"])
    left.legend(fontsize=6.5, loc="center right")
    for recs, kind, label in ((hh, "rnn_hh", labels["pattern1"]), (oh, "rnn_oh", labels["pattern2_free"])):
        curves = [np.asarray(r.artifacts.get("step_accuracy_test"), dtype=float)
                  for r in recs if r.artifacts.get("step_accuracy_test") is not None]
        if not curves:
            continue
        acc = np.mean(curves, axis=0)
        steps = np.arange(1, len(acc) + 1)
        has = np.all(np.asarray(curves) >= 0, axis=0)
        right.plot(steps[has], acc[has], marker="o", ms=3, color=COLORS[kind], label=label)
    right.axhline(0.5, color="0.6", lw=0.8, ls="--")
    right.text(1.0, 0.47, labels["chance"], fontsize=7, color="0.4", ha="right", va="top",
               transform=right.get_yaxis_transform())
    right.set_ylim(0.4, 1.04)
    right.set_xlabel(labels["step"])
    right.set_ylabel(labels["test_accuracy"])
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=6.5, loc="center right")
    delay = hh[0].spec.dataset.params.get("delay")
    tau = hh[0].spec.dataset.params.get("seq_len")
    return {"id": "rnn-patterns-recall", "svg": figure_to_svg(fig),
            "caption": text["captions"]["recall"].format(delay=delay, tau=tau, seeds=len(pairs))}


def _figure_last(runs: dict, text) -> dict:
    labels = text["labels"]
    fig, ax = new_figure()
    for kind, (recs, _) in runs.items():
        _curves(ax, recs, "val_accuracy", COLORS[kind], labels[kind])
    chance_line(ax, 0.1, labels["chance"])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(labels["epoch"])
    ax.set_ylabel(labels["val_accuracy"])
    ax.legend(fontsize=6.5, loc="center right")
    return {"id": "rnn-patterns-last", "svg": figure_to_svg(fig), "caption": text["captions"]["last"]}


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in QUANTITIES})
    labels = text["labels"]
    rows = []

    pairs = recall_pairs(records)
    if pairs:
        diffs = [hh.final["test_accuracy"] - oh.final["test_accuracy"] for hh, oh in pairs]
        analysis.quantities["hh_minus_oh"] = Estimate.from_samples(diffs)
        analysis.figures.append(_figure_recall(pairs, text))
        hh, oh = [p[0] for p in pairs], [p[1] for p in pairs]
        task = labels["recall_task"].format(delay=hh[0].spec.dataset.params.get("delay"),
                                            tau=hh[0].spec.dataset.params.get("seq_len"))
        rows.append([labels["pattern1"], task, mean_sd([r.final["test_accuracy"] for r in hh], show_n=True),
                     localize_decimals("0.5"), _training(hh[0], labels)])
        rows.append([labels["pattern2_free"], task, mean_sd([r.final["test_accuracy"] for r in oh], show_n=True),
                     localize_decimals("0.5"), _training(oh[0], labels)])
        rows.append([labels["pattern2_forced"], task,
                     mean_sd([r.metric("test_teacher_forced_accuracy") for r in oh], show_n=True),
                     localize_decimals("0.5"), _training(oh[0], labels)])
        analysis.numbers["recall"] = {
            "seeds": [hh.spec.seed for hh, _ in pairs],
            "pattern1_test_accuracy": [r.final["test_accuracy"] for r in hh],
            "pattern2_test_accuracy": [r.final["test_accuracy"] for r in oh],
            "pattern2_teacher_forced_test_accuracy": [r.metric("test_teacher_forced_accuracy") for r in oh],
            "difference": diffs,
        }

    last = {}
    for kind, quantity in (("digits_rows", "last_digits_accuracy"), ("mnist1d_seq", "last_mnist1d_accuracy")):
        recs, opt = classification_runs(records, studies, kind)
        if not recs:
            continue
        last[kind] = (recs, opt)
        acc = [r.metric("test_accuracy") for r in recs]
        analysis.quantities[quantity] = Estimate.from_samples(acc)
        epochs = recs[0].spec.budget.get("epochs")
        rows.append([labels["pattern3"], labels[kind], mean_sd(acc, show_n=True), localize_decimals("0.1"),
                     _training(recs[0], labels)])
        analysis.numbers[kind] = {"study": recs[0].spec.study, "optimizer": opt,
                                  "lr": recs[0].spec.optimizer.hp.get("lr"), "epochs": epochs,
                                  "seeds": [r.spec.seed for r in recs], "test_accuracy": acc,
                                  "seconds_per_run": [r.wall_time_s for r in recs]}
    if last:
        analysis.figures.append(_figure_last(last, text))
    if rows:
        analysis.tables.append({"caption": text["captions"]["table"], "columns": text["columns"], "rows": rows})
    return analysis


CLAIM = Claim(
    id="rnn-three-patterns",
    section="4",
    order=2,
    quantities=QUANTITIES,
    analyze=analyze,
    reads=("rnn-parameter-sharing",),
)
