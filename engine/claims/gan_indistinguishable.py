"""gan-indistinguishable (lecture §6): "en convergencia, las muestras del generador son
indistinguibles de los datos reales".

The sentence is conditional.  Its premise, "the game converged", is read from the game itself,
per seed: |v − (−log 4)| ≤ δ on test and, on the ring, every mode covered (engine/claims/_gan.py,
as gan-minimax).  Its conclusion is tested with two two-sample tests between the held-out test
split and as many generated samples (engine/analysis/two_sample.py, run after training by the
model, ``Model.artifacts``), both independent of the game's own discriminator:

* MMD² with a Gaussian kernel of FIXED bandwidth (the model's ``mmd_bandwidth``, or else the
  median distance between real test samples) and its permutation p-value (2,000 relabellings);
* a classifier two-sample test: a fresh k-nearest-neighbours classifier's held-out accuracy.

The criterion's conclusion rows name the premise row (``given``): they count only where it holds
(engine/claims/verdict.py).  What can be tested either way: distinguishability along training,
the validation MMD² at the end over that at step 0, per seed.

Judged: the non-saturating generator (the same fixed point as the game, and the one that reaches
it more often), on the 8-mode ring (the optimizer matrix's study, its best optimizer) and on the
8×8 digits (a study of this claim, Adam).  The minimax game (gan-minimax's study, read) is shown
beside it, and on the ring every optimizer of both losses.  As a negative control the same tests
compare two real samples (validation against test split).
"""
from __future__ import annotations

import math

import numpy as np

from engine.analysis.two_sample import c2st_accuracy, mmd_permutation_test, real_bandwidth
from engine.claims._gan import (LOSSES, at_solution, band, curves, fmt, image_panel, loss_variants, per_seed,
                                ring_modes, ring_panel, samples_over_training)
from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate
from engine.data import DATASETS
from engine.models.gan import MMD_SAMPLES
from engine.record import Record
from engine.kit.figures import figure_to_svg, legend_below, new_figure, optimizer_label
from engine.spec import Named

# Which data sets the claim tests, by data set kind → the prefix of its quantities.
DATA_SETS = {"gaussian_ring": "ring", "digits": "digits"}
JUDGED = "non_saturating"
ALPHA = 0.05
LOSS_STYLE = {"minimax": "--", "non_saturating": "-"}
COLORS = {"ring": "#0072B2", "digits": "#D55E00"}


def real_control(dataset: Named, bandwidth: float | None = None, seed: int = 0) -> dict:
    """The same two tests between two REAL samples (validation against test split), with the
    bandwidth the runs used (default: the median distance between real test samples): the
    reference for 'indistinguishable' at this sample size."""
    data = DATASETS[dataset.kind].load(None, **dataset.params)
    test, val = np.asarray(data.x_test[:MMD_SAMPLES]), np.asarray(data.x_val[:MMD_SAMPLES])
    sigma = float(real_bandwidth(test[None])[0]) if bandwidth is None else float(bandwidth)
    rng = np.random.default_rng(seed)
    stat, p = mmd_permutation_test(test, val, sigma, rng)
    return {"mmd2": stat, "mmd_pvalue": p, "c2st_accuracy": float(c2st_accuracy(test[None], val[None], [rng])[0]),
            "mmd_bandwidth": sigma, "n": len(test)}


def _seed_results(rec: Record, n_modes: int | None) -> dict:
    """One seed: converged (the premise), the two tests, and MMD² at the end over step 0's."""
    ok = rec.status == "ok"
    arts = rec.artifacts if ok else {}
    mmd = rec.history.get("val_mmd") if ok else None
    fall = mmd[-1] / mmd[0] if mmd and mmd[0] and mmd[-1] is not None and mmd[0] > 0 else None
    return {"converged": at_solution(rec, n_modes), "mmd2": arts.get("mmd2"), "mmd_pvalue": arts.get("mmd_pvalue"),
            "c2st_accuracy": arts.get("c2st_accuracy"), "mmd_fall": fall}


def _summary(seeds: list[dict]) -> dict[str, Estimate | None]:
    """The criterion's quantities for one data set from its seeds' results."""
    tested = [s["mmd_pvalue"] for s in seeds if s["mmd_pvalue"] is not None and math.isfinite(s["mmd_pvalue"])]
    return {"converged": Estimate.proportion(sum(s["converged"] for s in seeds), len(seeds), unit="seed"),
            "c2st_accuracy": Estimate.from_samples([s["c2st_accuracy"] for s in seeds]),
            "mmd_not_rejected": Estimate.proportion(sum(p >= ALPHA for p in tested), len(tested), unit="seed"),
            "mmd_fall": Estimate.from_samples([s["mmd_fall"] for s in seeds])}


def _count(flags) -> str:
    return f"{sum(flags)}/{len(flags)}"


def _tests_table(found: dict, text: dict, analysis: Analysis) -> None:
    """Per data set and generator loss: its best optimizer's seeds; then the real-real control."""
    labels, rows = text["labels"], []
    for name, variants in found.items():
        control = None
        for loss in LOSSES:
            variant = variants.get(loss)
            if not variant or not variant["finals"]:
                continue
            finals = variant["finals"]
            seeds = [_seed_results(r, ring_modes(r)) for r in finals]
            bandwidth = next((r.artifacts.get("mmd_bandwidth") for r in finals if r.status == "ok"), None)
            rows.append([labels[name], labels[loss] + (" ★" if loss == JUDGED else ""), optimizer_label(variant["best"]),
                         _count([s["converged"] for s in seeds]), per_seed([s["mmd_pvalue"] for s in seeds]),
                         per_seed([s["c2st_accuracy"] for s in seeds]), per_seed([s["mmd_fall"] for s in seeds])])
            analysis.numbers.setdefault(name, {})[loss] = {
                "study": variant["study"], "optimizer": variant["best"], "seeds": [r.spec.seed for r in finals],
                "lr": finals[0].spec.optimizer.hp["lr"], "mmd_bandwidth": bandwidth,
                **{key: [s[key] for s in seeds] for key in seeds[0]}}
            if control is None:
                control = real_control(finals[0].spec.dataset, bandwidth)
        if control is not None:
            rows.append([labels[name], labels["control"], "—", "—", fmt(control["mmd_pvalue"]),
                         fmt(control["c2st_accuracy"]), "—"])
            analysis.numbers[name]["real_control"] = control
    analysis.tables.append({"caption": text["captions"]["table"], "columns": text["columns"], "rows": rows})


def _optimizers_table(variants: dict, text: dict, analysis: Analysis) -> None:
    """The ring, every optimizer of both losses: the premise and the tests, seed by seed."""
    labels, rows, numbers = text["labels"], [], {}
    for loss in LOSSES:
        for oname, cell in (variants.get(loss) or {}).get("cells", {}).items():
            seeds = [_seed_results(r, ring_modes(r)) for r in cell["finals"]]
            if not seeds:
                continue
            tested = [s["mmd_pvalue"] for s in seeds if s["mmd_pvalue"] is not None]
            c2st = [s["c2st_accuracy"] for s in seeds if s["c2st_accuracy"] is not None]
            rows.append([labels[loss], optimizer_label(oname), _count([s["converged"] for s in seeds]),
                         _count([p >= ALPHA for p in tested]), fmt(float(np.mean(c2st)) if c2st else math.nan)])
            numbers.setdefault(loss, {})[oname] = {
                "converged": [s["converged"] for s in seeds], "mmd_pvalue": tested, "c2st_accuracy": c2st}
    if rows:
        analysis.tables.append({"caption": text["captions"]["optimizers"], "columns": text["columns_optimizers"],
                                "rows": rows})
        analysis.numbers["ring_optimizers"] = numbers


def _distinguishability_figure(found: dict, controls: dict, text: dict) -> dict | None:
    labels = text["labels"]
    fig, axes = new_figure(ncols=2)
    drawn = False
    for ax, name in zip(axes, DATA_SETS.values()):
        ax.set_title(labels[name], fontsize=8)
        for loss, variant in (found.get(name) or {}).items():
            steps, mmd = curves(variant["finals"], "val_mmd")
            if steps is None:
                continue
            drawn = True
            band(ax, steps, mmd, f"{labels[loss]} ({optimizer_label(variant['best'])})", color=COLORS[name],
                 linestyle=LOSS_STYLE[loss])
        if name in controls:
            ax.axhline(controls[name], color="0.3", ls=":", lw=1, label=labels["control"])
        ax.set_xlabel(labels["steps"])
        ax.set_ylabel(labels["mmd_axis"])
        legend_below(ax)
    if not drawn:
        return None
    return {"id": "gan-indistinguishable-curves", "svg": figure_to_svg(fig), "caption": text["captions"]["curves"]}


def _final_samples_figure(found: dict, text: dict) -> dict | None:
    """Real test samples beside the final generated ones of the judged loss, for each data set."""
    panels = [(name, v[JUDGED]["finals"][0]) for name, v in found.items()
              if JUDGED in v and v[JUDGED]["finals"] and v[JUDGED]["finals"][0].artifacts.get("samples") is not None]
    if not panels:
        return None
    fig, axes = new_figure(ncols=2 * len(panels))
    axes = np.atleast_1d(axes)
    labels = text["labels"]
    for i, (name, rec) in enumerate(panels):
        data = DATASETS[rec.spec.dataset.kind].load(None, **rec.spec.dataset.params)
        fake = np.asarray(rec.artifacts["samples"], dtype=float)
        real = np.asarray(data.x_test[:len(fake)], dtype=float)
        for ax, sample, title in ((axes[2 * i], real, labels["real"]), (axes[2 * i + 1], fake, labels["generated"])):
            if name == "ring":
                ring_panel(ax, sample, data.info["centres"], data.info["std"], title)
            else:
                image_panel(ax, sample, title)
    fig.set_figheight(1.8)
    return {"id": "gan-indistinguishable-final", "svg": figure_to_svg(fig), "caption": text["captions"]["final"]}


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in QUANTITIES})
    found = {name: variants for kind, name in DATA_SETS.items()
             if (variants := loss_variants(records, studies, kind, CLAIM_ID))}
    for name, variants in found.items():
        if JUDGED in variants and variants[JUDGED]["finals"]:
            finals = variants[JUDGED]["finals"]
            for q, estimate in _summary([_seed_results(r, ring_modes(r)) for r in finals]).items():
                analysis.quantities[f"{name}_{q}"] = estimate
    analysis.numbers["judged"] = JUDGED
    _tests_table(found, text, analysis)
    if "ring" in found:
        _optimizers_table(found["ring"], text, analysis)
    for name, variants in found.items():
        fig = samples_over_training(variants, text["labels"], text["labels"]["step_title"])
        if fig is not None:
            analysis.figures.append({"id": f"gan-indistinguishable-samples-{name}", "svg": figure_to_svg(fig),
                                     "caption": text["captions"][f"samples_{name}"]})
    controls = {name: analysis.numbers[name]["real_control"]["mmd2"] for name in found
                if "real_control" in analysis.numbers.get(name, {})}
    for figure in (_final_samples_figure(found, text), _distinguishability_figure(found, controls, text)):
        if figure:
            analysis.figures.append(figure)
    return analysis


CLAIM_ID = "gan-indistinguishable"
# Written out (not built from DATA_SETS) so that the validator reads them from the source without
# running this module (engine/config/registries.py).
QUANTITIES = {
    "ring_converged": "ring: share of seeds at the game's solution (the premise), non-saturating generator",
    "ring_c2st_accuracy": "ring: held-out accuracy of a fresh k-NN classifier telling real from generated",
    "ring_mmd_not_rejected": "ring: share of seeds whose MMD² permutation test does not reject at 5 %",
    "ring_mmd_fall": "ring: validation MMD² at the end over that at step 0, per seed",
    "digits_converged": "digits: share of seeds at the game's solution (the premise), non-saturating generator",
    "digits_c2st_accuracy": "digits: held-out accuracy of a fresh k-NN classifier telling real from generated",
    "digits_mmd_not_rejected": "digits: share of seeds whose MMD² permutation test does not reject at 5 %",
    "digits_mmd_fall": "digits: validation MMD² at the end over that at step 0, per seed",
}

CLAIM = Claim(
    id=CLAIM_ID,
    section="6",
    order=2,
    quantities=QUANTITIES,
    analyze=analyze,
    reads=("optimizer-matrix", "gan-minimax"),
)
