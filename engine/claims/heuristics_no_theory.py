"""heuristics-no-theory: "no existen grandes resultados teóricos … corresponden a heurísticas".

If the choice of optimizer were settled by theory, one variant would win on every task.  This
claim asks the optimizer × model matrix (reads=("optimizer-matrix",): the tuned rate of each
optimizer on each family, then its final seeds) whether one does.

Declared test (before the numbers are seen):

* the score of a family is the test counterpart of the metric its learning rate was tuned on
  (val_accuracy → test_accuracy, val_loss → test_loss), except the GAN, tuned on the number of
  modes covered, which is scored by test_mmd (lower is better): the mode count saturates at 8
  and cannot separate optimizers;
* the best optimizer of a family is the one with the best mean score over its final seeds;
  another optimizer is *tied with the best* when a two-sided Welch t test of equal means against
  the best does not reject at level 0.05 after Holm's correction over all the claim's tests
  (every optimizer against its family's best, in every family: one family of hypotheses, so
  that the chance of calling any tie a loss stays at 5 %).  Two seed sets with no spread at all
  are tied only when their means are equal;
* the comparison is over the optimizers that ran in a family: one without runs there is absent
  from it (not "worse"), and only an optimizer that ran in every family can win everywhere;
* seeds whose run diverged have no score: they are dropped and counted, and an optimizer left
  with fewer than 2 scored seeds cannot be tested and is not in the best set (unless it is the
  only one scored);
* the quantity ``universal_winners`` is the number of optimizers in the best set of *every*
  family; the claim is supported when it is 0.  The uncertainty lives in the per-family tests,
  so the quantity is an exact count (``Estimate.exact``, n = the optimizers that ran in every
  family); it is measured only when every tested cell rests on at least 2 seeds.

With few seeds the Welch test has little power, so best sets are large and a universal winner
is *easier* to find: too few seeds bias this claim towards "not supported", never towards
"supported".

Also used by adam-combines (``family_scores``, ``seed_ranks``): Adam's rank across the matrix.
"""
from __future__ import annotations

import math
import textwrap
from collections import defaultdict

import warnings

import numpy as np
from matplotlib.ticker import MaxNLocator

from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate, holm
from engine.record import Record
from engine.tuning import final_records
from engine.kit.figures import figure_to_svg, model_label, new_figure, optimizer_color

LEVEL = 0.05
# Scores that differ from the tuning metric's test counterpart (see the module's docstring).
SCORE_OVERRIDE = {"val_modes": ("test_mmd", "min")}

try:  # the report's shared labels, where present
    from engine.kit.figures import optimizer_label
except ImportError:  # pragma: no cover
    def optimizer_label(name, language=None):
        return name

try:
    from engine.kit.figures import metric_label
except ImportError:  # pragma: no cover
    def metric_label(name, language=None):
        return name

try:
    from engine.kit.figures import optimizer_style
except ImportError:  # pragma: no cover
    def optimizer_style(name):
        return {"color": optimizer_color(name), "marker": "o"}


def score_metric(study: dict) -> tuple[str, str]:
    """(final metric, 'min'|'max') that ranks the optimizers of a matrix study."""
    tuned, mode = study["tune"]["metric"], study["tune"]["mode"]
    if tuned in SCORE_OVERRIDE:
        return SCORE_OVERRIDE[tuned]
    return "test_" + tuned.removeprefix("val_"), mode


def family_scores(records: list[Record], studies: dict) -> dict:
    """study → {metric, mode, model, optimizers: {name: {seed: score}}, diverged: {name: [seeds]},
    lr: {name: chosen rate}}, for every tuned (matrix) study that has records."""

    by_study: dict = defaultdict(list)
    for rec in records:
        by_study[rec.spec.study].append(rec)
    out = {}
    for sname, study in studies.items():
        if not study.get("tune") or not by_study.get(sname):
            continue
        metric, mode = score_metric(study)
        cells = final_records(by_study[sname], study)
        scores, diverged, lrs = {}, {}, {}
        for oname, cell in cells.items():
            if not cell["grid"] and not cell["finals"]:   # no runs here: absent, not worse
                continue
            scores[oname], diverged[oname] = {}, []
            lrs[oname] = None if cell["best"] is None else cell["best"].spec.optimizer.hp.get("lr")
            for rec in cell["finals"]:
                value = rec.metric(metric)
                if value is None or not math.isfinite(value):
                    diverged[oname].append(rec.spec.seed)
                else:
                    scores[oname][rec.spec.seed] = float(value)
        out[sname] = {"metric": metric, "mode": mode, "optimizers": scores, "diverged": diverged,
                      "lr": lrs, "model": by_study[sname][0].spec.model.name,
                      "dataset": _dataset_name(by_study[sname][0])}
    return out


def _dataset_name(rec: Record) -> str | None:
    return None if rec.spec.dataset is None else rec.spec.dataset.name


def _oriented(values, mode: str) -> np.ndarray:
    """Scores as 'higher is better'."""
    x = np.asarray(values, dtype=float)
    return x if mode == "max" else -x


def welch_p(a, b) -> float:
    """The p value of a two-sided Welch t test of equal means of samples a and b."""
    from scipy import stats  # here, not at import: see engine.claims.verdict

    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.var(ddof=1) == 0 and b.var(ddof=1) == 0:
        return 1.0 if a.mean() == b.mean() else 0.0
    with warnings.catch_warnings():   # near-identical seeds: scipy warns of lost precision
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def welch_tied(a, b, level: float = LEVEL) -> tuple[bool, float]:
    """(tied?, p) for one uncorrected two-sided Welch t test of equal means of samples a and b."""
    p = welch_p(a, b)
    return p >= level, p


def _best(family: dict) -> dict:
    """{best, p: {name: raw Welch p against the best}, testable: [names], means: {name: mean}}."""
    scores, mode = family["optimizers"], family["mode"]
    testable = [o for o, s in scores.items() if len(s) >= 2]
    pool = testable or [o for o, s in scores.items() if len(s) >= 1]
    means = {o: float(np.mean(list(s.values()))) for o, s in scores.items() if s}
    best = max(pool, key=lambda o: _oriented([means[o]], mode)[0]) if pool else None
    p = {} if best is None else {o: welch_p(list(scores[o].values()), list(scores[best].values()))
                                 for o in testable if o != best}
    return {"best": best, "p": p, "testable": testable, "means": means}


def best_sets(families: dict, level: float = LEVEL) -> dict:
    """family → {best, tied: [names], p: raw Welch p, p_holm: Holm-adjusted p, testable, means}.
    Holm runs over every test of every family at once (``engine.claims.verdict.holm``)."""
    sets = {f: _best(fam) for f, fam in families.items()}
    tests = [(f, o) for f, s in sets.items() for o in s["p"]]
    adjusted = dict(zip(tests, holm([sets[f]["p"][o] for f, o in tests])))
    for f, s in sets.items():
        s["p_holm"] = {o: adjusted[(f, o)] for o in s["p"]}
        s["tied"] = ([s["best"]] if s["best"] else []) + [o for o, q in s["p_holm"].items() if q >= level]
    return sets


def best_set(family: dict, level: float = LEVEL) -> dict:
    """`best_sets` of one family (Holm over its own tests)."""
    return best_sets({"family": family}, level)["family"]


def seed_ranks(family: dict) -> dict[int, dict[str, float]]:
    """seed → {optimizer: rank (1 = best; ties averaged; a diverged seed ranks last)}, for the
    seeds every optimizer ran."""
    from scipy import stats

    names = list(family["optimizers"])
    seeds = sorted({s for o in names for s in family["optimizers"][o]} |
                   {s for o in names for s in family["diverged"][o]})
    out = {}
    for seed in seeds:
        present = [o for o in names if seed in family["optimizers"][o] or seed in family["diverged"][o]]
        if len(present) < len(names):
            continue
        key = [_oriented([family["optimizers"][o][seed]], family["mode"])[0]
               if seed in family["optimizers"][o] else -math.inf for o in names]
        ranks = stats.rankdata([-k for k in key], method="average")
        out[seed] = dict(zip(names, (float(r) for r in ranks)))
    return out


def _dark(rgba) -> bool:
    """Whether a cell colour needs white text (WCAG relative luminance below ~0.18)."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2] < 0.18


def _dotplot(families: dict, sets: dict, text: dict):
    """Per family: each optimizer's mean test score with its 95 % t interval; filled = in the
    best set.  The x range follows the seeds' values (an interval reaching past it is cut, with
    an arrow-like cap), so that two-seed intervals do not flatten every panel."""
    names = list(dict.fromkeys(o for f in families.values() for o in f["optimizers"]))
    n = len(families)
    ncols = 4 if n > 3 else n
    nrows = math.ceil(n / ncols)
    fig, axes = new_figure(ncols=ncols, nrows=nrows)
    axes = np.atleast_1d(axes).ravel()
    for k, (ax, (sname, fam)) in enumerate(zip(axes, families.items())):
        tied = set(sets[sname]["tied"])
        values_all = [v for o in names for v in fam["optimizers"].get(o, {}).values()]
        lo, hi = (min(values_all), max(values_all)) if values_all else (0.0, 1.0)
        pad = 0.12 * (hi - lo) if hi > lo else 0.05 * (abs(hi) + 1e-12)
        lo, hi = lo - pad, hi + pad
        for i, oname in enumerate(names):
            values = list(fam["optimizers"].get(oname, {}).values())
            diverged = len(fam["diverged"].get(oname, []))
            if diverged:
                ax.annotate(f"✕{diverged}", (1.0, i), xycoords=("axes fraction", "data"), fontsize=6,
                            color="#b00020", ha="left", va="center")
            if not values:
                continue
            est = Estimate.from_samples(values)
            style = optimizer_style(oname)
            low, high = max(est.low, lo), min(est.high, hi)
            ax.plot([low, high], [i, i], color=style["color"], lw=1)
            for end, cut in ((low, est.low < lo), (high, est.high > hi)):
                ax.plot([end], [i], marker=("<" if end == low else ">") if cut else "|",
                        color=style["color"], ms=4 if cut else 5)
            ax.plot([est.mean], [i], marker=style["marker"], color=style["color"], ms=5,
                    mfc=style["color"] if oname in tied else "white", ls="none")
            ax.plot(values, [i] * len(values), "|", color="0.45", ms=4)
        ax.set_xlim(lo, hi)
        ax.set_yticks(range(len(names)), [optimizer_label(o) for o in names] if k % ncols == 0 else [""] * len(names),
                      fontsize=7)
        ax.set_ylim(len(names) - 0.5, -0.5)
        # four panels a row: the family and its score, each wrapped to the panel's width
        ax.set_title("\n".join(textwrap.wrap(model_label(fam["model"]), 24) +
                               textwrap.wrap(metric_label(fam["metric"], units=False), 24)), fontsize=6.5)
        ax.tick_params(axis="x", labelsize=6)
        ax.xaxis.set_major_locator(MaxNLocator(3))
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig


def _rankmap(families: dict, sets: dict, ranks: dict, text: dict):
    from matplotlib.patches import Rectangle

    names = list(dict.fromkeys(o for f in families.values() for o in f["optimizers"]))
    snames = list(families)
    grid = np.full((len(names), len(snames)), np.nan)
    for j, sname in enumerate(snames):
        for i, oname in enumerate(names):
            values = [r[oname] for r in ranks[sname].values() if oname in r]
            if values:
                grid[i, j] = np.mean(values)
    fig, ax = new_figure()
    image = ax.imshow(grid, aspect="auto", cmap="cividis", interpolation="nearest",
                      vmin=1, vmax=max(len(names), 2))
    for (i, j), value in np.ndenumerate(grid):
        if np.isfinite(value):
            per_seed = [r[names[i]] for r in ranks[snames[j]].values() if names[i] in r]
            spread = f" [{min(per_seed):g}–{max(per_seed):g}]" if len(per_seed) > 1 and min(per_seed) != max(per_seed) else ""
            ax.text(j, i, f"{value:.1f}{spread}", ha="center", va="center", fontsize=6,
                    color="white" if _dark(image.to_rgba(value)) else "black")
        if names[i] in sets[snames[j]]["tied"]:
            ax.add_patch(Rectangle((j - 0.42, i - 0.38), 0.84, 0.76, fill=False, edgecolor="#D55E00", lw=2.4))
    ax.set_xticks(range(len(snames)), [model_label(families[s]["model"]).replace(", ", "\n") for s in snames],
                  fontsize=6.5)
    ax.set_yticks(range(len(names)), [optimizer_label(o) for o in names], fontsize=7)
    ax.grid(False)
    cbar = fig.colorbar(image, ax=ax, shrink=0.9)
    cbar.set_label(text["labels"]["rank"], fontsize=7)
    return fig


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    analysis = Analysis(quantities={"universal_winners": None})
    families = family_scores(records, studies)
    if not families:
        return analysis
    sets = best_sets(families)
    ranks = {s: seed_ranks(f) for s, f in families.items()}
    names = list(dict.fromkeys(o for f in families.values() for o in f["optimizers"]))
    everywhere = [o for o in names if all(o in f["optimizers"] for f in families.values())]
    universal = [o for o in everywhere if all(o in sets[s]["tied"] for s in families)]
    seeds_used = [len(v) for f in families.values() for v in f["optimizers"].values() if len(v) >= 2]
    n = min(seeds_used) if seeds_used else 0
    complete = all(s in families for s, st in studies.items() if st.get("tune"))
    if n >= 2 and complete:   # a family without results would make "wins everywhere" easier
        analysis.quantities["universal_winners"] = Estimate.exact(len(universal), unit="optimizer",
                                                                  n=len(everywhere))
    labels = text["labels"]
    rows = []
    for sname, fam in families.items():
        s = sets[sname]
        for oname in (o for o in names if o in fam["optimizers"]):
            vals = list(fam["optimizers"][oname].values())
            est = Estimate.from_samples(vals)
            rk = [r[oname] for r in ranks[sname].values() if oname in r]
            rows.append([fam["model"], optimizer_label(oname),
                         "—" if est is None else (f"{est.mean:.4g}" if est.n < 2 else
                                                  f"{est.mean:.4g} [{est.low:.4g}, {est.high:.4g}]"),
                         f"{np.mean(rk):.1f}" if rk else "—",
                         labels["best"] if oname == s["best"] else (
                             labels["tied"] if oname in s["tied"] else labels["worse"]),
                         "—" if oname == s["best"] or oname not in s["p"] else
                         f"{s['p'][oname]:.2g} / {s['p_holm'][oname]:.2g}",
                         f"{len(vals)}", f"{len(fam['diverged'].get(oname, []))}"])
    analysis.figures.append({"id": "heuristics-dotplot", "svg": figure_to_svg(_dotplot(families, sets, text)),
                             "caption": text["captions"]["dotplot"].format(n=n)})
    analysis.figures.append({"id": "heuristics-ranks", "svg": figure_to_svg(_rankmap(families, sets, ranks, text)),
                             "caption": text["captions"]["ranks"]})
    analysis.tables.append({"caption": text["captions"]["table"], "columns": text["columns"], "rows": rows})
    diverged = {s: {o: v for o, v in f["diverged"].items() if v} for s, f in families.items()}
    analysis.numbers = {
        "level": LEVEL, "correction": "holm", "tests": sum(len(s["p"]) for s in sets.values()),
        "universal_winners": universal, "min_seeds": n,
        "absent": {o: [s for s, f in families.items() if o not in f["optimizers"]]
                   for o in names if o not in everywhere},
        "seeds_per_cell": {s: {o: len(v) for o, v in f["optimizers"].items()} for s, f in families.items()},
        "diverged_seeds": {s: d for s, d in diverged.items() if d},
        "families": {s: {"metric": f["metric"], "mode": f["mode"], "best": sets[s]["best"],
                         "tied_with_best": sets[s]["tied"], "welch_p": sets[s]["p"],
                         "welch_p_holm": sets[s]["p_holm"],
                         "means": sets[s]["means"], "chosen_lr": f["lr"],
                         "mean_rank": {o: float(np.mean([r[o] for r in ranks[s].values()]))
                                       for o in f["optimizers"] if ranks[s]}}
                     for s, f in families.items()},
    }
    return analysis


CLAIM = Claim(
    id="heuristics-no-theory",
    section="2",
    order=5,
    quantities={"universal_winners": "number of optimizers statistically tied with the best "
                                     "(Welch, Holm-corrected, 5 %) on every family of the optimizer matrix"},
    analyze=analyze,
    reads=("optimizer-matrix",),
)
