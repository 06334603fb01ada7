"""gan-indistinguishable (lecture §6): "en convergencia, las muestras del generador son
indistinguibles de los datos reales".

Tested at the end of training with two two-sample tests between the held-out test split and as
many generated samples (engine/models/gan.py, ``Model.artifacts``):

* MMD² with a Gaussian kernel of FIXED bandwidth (the model's ``mmd_bandwidth``, declared with
  the model, or else the median distance between real test samples: it never moves with the
  generator) and its permutation p-value;
* a classifier two-sample test (Lopez-Paz & Oquab 2017): a fresh k-nearest-neighbours classifier
  trained on half of the pooled samples to tell real from generated; its accuracy on the other
  half is ½ when it cannot.

On the 8-mode ring the runs are the optimizer matrix's GAN study at its best optimizer (read, not
re-trained); on the 8×8 digits a study of this claim.  As a negative control the same tests
compare two real samples (validation split against test split): what "indistinguishable" looks
like at this sample size.  Figures: generated samples over training, MMD² and D over training.
"""
from __future__ import annotations

import math

import numpy as np

from engine.claims.base import Analysis, Claim
from engine.claims.gan_minimax import band, best_optimizer, curves, final_cells, gan_studies
from engine.claims.verdict import Estimate
from engine.data import DATASETS
from engine.models.gan import MMD_SAMPLES, c2st_accuracy, mmd_permutation_test, real_bandwidth
from engine.record import Record
from engine.report.figures import figure_to_svg, new_figure, optimizer_label
from engine.spec import Named

# Which data sets the claim tests, by data set kind → the prefix of its quantities.
DATA_SETS = {"gaussian_ring": "ring", "digits": "digits"}
TESTS = ("mmd2", "mmd_pvalue", "c2st_accuracy")


def real_control(dataset: Named, bandwidth: float | None = None, seed: int = 0) -> dict:
    """The same two tests between two REAL samples (validation against test split), with the
    bandwidth the runs used (default: the median distance between real test samples): the
    reference for 'indistinguishable' at this sample size."""
    data = DATASETS[dataset.kind].load(None, **dataset.params)
    test, val = np.asarray(data.x_test[:MMD_SAMPLES]), np.asarray(data.x_val[:MMD_SAMPLES])
    sigma = float(real_bandwidth(test[None])[0]) if bandwidth is None else float(bandwidth)
    rng = np.random.default_rng(seed)
    stat, p = mmd_permutation_test(test, val, sigma, rng)
    return {"mmd2": stat, "mmd_pvalue": p, "c2st_accuracy": c2st_accuracy(test, val, rng),
            "mmd_bandwidth": sigma, "n": len(test)}


def _tests(rec: Record) -> dict:
    arts = rec.artifacts
    return {t: (arts.get(t) if rec.status == "ok" else None) for t in TESTS}


def _chosen(records: list[Record], study: dict) -> tuple[str | None, list[Record]]:
    """The optimizer the study's tuning protocol ranks best, and its final records."""
    cells = final_cells(records, study)
    tune = study.get("tune")
    oname = best_optimizer(cells, tune["metric"], tune["mode"]) if tune else next(iter(cells), None)
    return oname, ([] if oname is None else cells[oname]["finals"])


def _ring_panel(ax, samples, centres, std, title):
    theta = np.linspace(0, 2 * np.pi, 200)
    for c in centres:
        ax.plot(c[0] + 3 * std * np.cos(theta), c[1] + 3 * std * np.sin(theta), color="0.55", lw=0.6)
    samples = np.asarray(samples, dtype=float)
    ax.scatter(samples[:, 0], samples[:, 1], s=1.5, color="#0072B2", alpha=0.6, lw=0)
    ax.set_xlim(-2.8, 2.8)
    ax.set_ylim(-2.8, 2.8)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=7)


def _image_panel(ax, samples, title, columns=4):
    images = np.asarray(samples, dtype=float).reshape(len(samples), 8, 8)
    rows = math.ceil(len(images) / columns)
    canvas = np.zeros((rows * 9 - 1, columns * 9 - 1))  # white gaps (0 = white in gray_r)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * 9:r * 9 + 8, c * 9:c * 9 + 8] = image
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=7)


def _samples_figure(rec: Record, name: str, text: dict) -> dict | None:
    snaps = rec.artifacts.get("snapshots")
    if not snaps or "samples" not in snaps:
        return None
    steps, samples = snaps["step"], snaps["samples"]
    step_label = text["labels"]["step_title"]
    if name == "ring":
        fig, axes = new_figure(ncols=len(steps))
        fig.set_figheight(1.45)
        data = DATASETS[rec.spec.dataset.kind].load(None, **rec.spec.dataset.params)
        for ax, step, sample in zip(np.atleast_1d(axes), steps, samples):
            _ring_panel(ax, sample, data.info["centres"], data.info["std"], step_label.format(step=step))
    else:
        ncols = math.ceil(len(steps) / 2)
        fig, axes = new_figure(ncols=ncols, nrows=2)
        fig.set_figheight(2.6)
        axes = np.atleast_1d(axes).ravel()
        for ax in axes[len(steps):]:
            ax.set_visible(False)
        for ax, step, sample in zip(axes, steps, samples):
            _image_panel(ax, sample, step_label.format(step=step), columns=4)
    return {"id": f"gan-indistinguishable-samples-{name}", "svg": figure_to_svg(fig),
            "caption": text["captions"][f"samples_{name}"].format(
                optimizer=optimizer_label(rec.spec.optimizer.name), seed=rec.spec.seed)}


def _final_samples_figure(found: dict, text: dict) -> dict | None:
    """Real test samples beside the final generated ones, for each data set."""
    panels = [(name, rec) for name, (_, finals, _) in found.items() for rec in finals[:1]
              if rec.artifacts.get("samples") is not None]
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
                _ring_panel(ax, sample, data.info["centres"], data.info["std"], title)
            else:
                _image_panel(ax, sample, title)
    fig.set_figheight(1.8)
    return {"id": "gan-indistinguishable-final", "svg": figure_to_svg(fig), "caption": text["captions"]["final"]}


def _curves_figure(found: dict, text: dict) -> dict | None:
    labels = text["labels"]
    fig, axes = new_figure(ncols=2)
    drawn = False
    colors = {"ring": "#0072B2", "digits": "#D55E00"}
    for name, (_, finals, _) in found.items():
        steps, mmd = curves(finals, "val_mmd")
        if steps is None:
            continue
        drawn = True
        band(axes[0], steps, mmd, labels[name], color=colors.get(name))
        for metric, key, ls in (("val_d_real", "d_real", "-"), ("val_d_fake", "d_fake", "--")):
            steps, values = curves(finals, metric)
            band(axes[1], steps, values, f"{labels[name]}: {labels[key]}", color=colors.get(name), linestyle=ls)
    if not drawn:
        return None
    axes[0].axhline(0.0, color="0.3", ls=":", lw=1)
    axes[0].set_xlabel(labels["steps"])
    axes[0].set_ylabel(labels["mmd_axis"])
    axes[0].legend(fontsize=7)
    axes[1].axhline(0.5, color="0.3", ls=":", lw=1)
    axes[1].set_ylim(0, 1)
    axes[1].set_xlabel(labels["steps"])
    axes[1].set_ylabel(labels["d_axis"])
    axes[1].legend(fontsize=6)
    return {"id": "gan-indistinguishable-curves", "svg": figure_to_svg(fig), "caption": text["captions"]["curves"]}


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    analysis = Analysis(quantities={q: None for q in QUANTITIES})
    labels = text["labels"]
    found = {}
    for kind, name in DATA_SETS.items():
        by_study = gan_studies(records, studies, kind)
        # A study of this claim first (it exists for the data set), else the matrix's.
        ordered = sorted(by_study, key=lambda s: (studies[s]["claim"] != CLAIM_ID, s))
        if not ordered:
            continue
        sname = ordered[0]
        oname, finals = _chosen(by_study[sname], studies[sname])
        if finals:
            found[name] = (oname, finals, sname)

    rows = []
    for name, (oname, finals, sname) in found.items():
        per_seed = [_tests(r) for r in finals]
        for t in ("mmd_pvalue", "c2st_accuracy"):
            analysis.quantities[f"{name}_{t}"] = Estimate.from_samples([s[t] for s in per_seed])
        bandwidth = next((r.artifacts.get("mmd_bandwidth") for r in finals
                          if r.artifacts.get("mmd_bandwidth") is not None), None)
        control = real_control(finals[0].spec.dataset, bandwidth)
        n = next((r.artifacts.get("test_samples") for r in finals
                  if r.artifacts.get("test_samples") is not None), None)
        fmt = lambda values: ", ".join("✕" if v is None else f"{v:.3g}" for v in values)
        rows.append([labels[name], optimizer_label(oname) if oname else "—", str(len(finals)),
                     "—" if n is None else f"{int(n)}", "—" if bandwidth is None else f"{bandwidth:.3g}",
                     fmt([s["mmd2"] for s in per_seed]), fmt([s["mmd_pvalue"] for s in per_seed]),
                     fmt([s["c2st_accuracy"] for s in per_seed])])
        rows.append([labels[name], labels["control"], "—", f"{control['n']}", f"{control['mmd_bandwidth']:.3g}",
                     f"{control['mmd2']:.3g}", f"{control['mmd_pvalue']:.3g}", f"{control['c2st_accuracy']:.3g}"])
        analysis.numbers[name] = {
            "study": sname, "optimizer": oname, "seeds": [r.spec.seed for r in finals],
            "lr": finals[0].spec.optimizer.hp["lr"] if finals[0].spec.optimizer else None,
            "mmd_bandwidth": bandwidth, "test_samples": n,
            **{t: [s[t] for s in per_seed] for t in TESTS},
            # Modes exist on the ring only: the digits GAN measures none.
            "test_modes": [r.final.get("test_modes") for r in finals if r.status == "ok"] or None,
            "real_control": control,
        }
    for name, (oname, finals, _) in found.items():
        figure = _samples_figure(finals[0], name, text)
        if figure:
            analysis.figures.append(figure)
    for figure in (_final_samples_figure(found, text), _curves_figure(found, text)):
        if figure:
            analysis.figures.append(figure)
    if rows:
        analysis.tables.append({"caption": text["captions"]["table"], "columns": text["columns"], "rows": rows})
    return analysis


CLAIM_ID = "gan-indistinguishable"
QUANTITIES = {
    f"{name}_{q}": f"{name}: {what}"
    for name in DATA_SETS.values()
    for q, what in (("converged", "share of seeds at the game's solution (premise)"),
                    ("c2st_accuracy", "held-out accuracy of a fresh k-NN classifier telling real from generated"),
                    ("mmd_not_rejected", "share of seeds whose MMD² permutation test does not reject at 5 %"),
                    ("mmd_fall", "validation MMD² at the end over that at step 0, per seed"))
}

CLAIM = Claim(
    id=CLAIM_ID,
    section="6",
    order=2,
    quantities=QUANTITIES,
    analyze=analyze,
    reads=("optimizer-matrix",),
)
