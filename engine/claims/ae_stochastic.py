"""ae-stochastic (lecture §5): modern autoencoders model p_encoder(h | x) and p_decoder(x | h).

A variational autoencoder (engine/models/autoencoder.py, ``vae``) on the 8×8 digits: Gaussian
encoder q(h | x) = N(μ(x), diag σ²(x)), Bernoulli decoder, prior N(0, I).  It maximises the ELBO
    log p(x) ≥ E_q[log p(x | h)] − KL(q(h | x) ‖ p(h)),
and the trainer reports its negative, in nats per image (``loss``, one draw of h per example),
with its two terms (``reconstruction``, ``kl``).

Declared baseline: the same Bernoulli likelihood with independent pixels and no code, each
pixel's probability the add-one-smoothed mean of the training split, p_j = (Σ x_j + 1)/(N + 2)
(closed form; computed here, no network is trained by the report).  Since −ELBO ≥ −log p(x), a
VAE whose test −ELBO lies below the baseline's test negative log-likelihood models the digits
better than independent pixels.  The digits are grey levels in [0, 1] used as Bernoulli
probabilities, so neither number reaches zero: the cross-entropy of a grey level with itself
(the data's own entropy under this likelihood) is a floor, reported too.

Quantities per seed: ``elbo_gain_nats`` (baseline NLL − test −ELBO), ``neg_elbo_nats`` (test
−ELBO) and ``kl_nats`` (test KL term: how much the code carries; ≈ 0 means posterior collapse).
Figures: −ELBO along training against the baseline; test digits, their reconstructions and
samples decoded from the prior (stored by the model's ``artifacts``).
"""
from __future__ import annotations

import numpy as np

from engine.claims.ae_undercomplete import COLORS, image_grid, load_data, mean_sd
from engine.claims.base import Analysis, Claim
from engine.claims.verdict import Estimate
from engine.record import Record
from engine.kit.figures import OKABE_ITO, figure_to_svg, new_figure


def _flat(x):
    return np.reshape(np.asarray(x, dtype=float), (len(x), -1))


def _cross_entropy(x, p):
    return -np.sum(x * np.log(p) + (1 - x) * np.log1p(-p), axis=1)


def independent_pixels_nll(data) -> float:
    """Mean test −log p(x) (nats per image) of independent Bernoulli pixels fitted on train."""
    train = _flat(data.x_train)
    p = (train.sum(axis=0) + 1.0) / (train.shape[0] + 2.0)
    return float(np.mean(_cross_entropy(_flat(data.x_test), p)))


def entropy_floor(data) -> float:
    """Mean over test images of Σ_j H(x_j): the least any Bernoulli model can reach on grey levels."""
    x = np.clip(_flat(data.x_test), 1e-12, 1 - 1e-12)
    return float(np.mean(_cross_entropy(x, x)))


def analyze(records: list[Record], text: dict, studies: dict) -> Analysis:
    labels, captions = text["labels"], text["captions"]
    analysis = Analysis(quantities={q: None for q in CLAIM.quantities})
    runs = sorted((r for r in records if r.status == "ok" and r.spec.model.kind == "vae"),
                  key=lambda r: r.spec.seed)
    runs = [r for r in runs if r.metric("test_loss") is not None]
    if not runs:
        return analysis
    data = load_data(runs[0].spec)
    baseline, floor = independent_pixels_nll(data), entropy_floor(data)
    neg_elbo = [r.final["test_loss"] for r in runs]
    kl = [r.metric("test_kl") for r in runs]
    recon = [r.metric("test_reconstruction") for r in runs]
    analysis.quantities.update({
        "elbo_gain_nats": Estimate.from_samples([baseline - v for v in neg_elbo]),
        "neg_elbo_nats": Estimate.from_samples(neg_elbo),
        "kl_nats": Estimate.from_samples(kl),
    })

    analysis.figures.append({"id": "ae-stochastic-elbo", "svg": _elbo_figure(runs, baseline, floor, labels),
                             "caption": captions["elbo"]})
    samples_svg = _samples_figure(runs[0].artifacts, data, labels)
    if samples_svg is not None:
        analysis.figures.append({"id": "ae-stochastic-samples", "svg": samples_svg, "caption": captions["samples"]})

    rows = [[labels["neg_elbo"], mean_sd(neg_elbo)], [labels["reconstruction"], mean_sd(recon)],
            [labels["kl"], mean_sd(kl)], [labels["baseline"], f"{baseline:.4g}"],
            [labels["floor"], f"{floor:.4g}"], [labels["gain"], mean_sd([baseline - v for v in neg_elbo])]]
    analysis.tables.append({"caption": captions["table"], "columns": text["columns"], "rows": rows})
    analysis.numbers = {"test_neg_elbo": neg_elbo, "test_kl": kl, "test_reconstruction": recon,
                        "independent_pixels_nll": baseline, "entropy_floor": floor,
                        # Of the baseline's excess over the floor, the share the VAE's bound removes.
                        "share_of_excess_removed": [(baseline - v) / (baseline - floor) for v in neg_elbo],
                        "seeds": [r.spec.seed for r in runs]}
    return analysis


def _elbo_figure(runs: list[Record], baseline: float, floor: float, labels: dict) -> str:
    """−ELBO along training (validation split) against the baseline and the floor; the KL term
    beside it."""
    fig, axes = new_figure(ncols=2)
    ax = axes[0]
    for metric, color, name in (("val_loss", COLORS["autoencoder"], labels["neg_elbo"]),
                                ("val_reconstruction", OKABE_ITO["blue"], labels["reconstruction"])):
        curves = [r.history.get(metric) for r in runs if r.history.get(metric)]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        x = np.asarray(runs[0].history["epoch"][:n], dtype=float)
        ys = np.asarray([c[:n] for c in curves], dtype=float)
        ax.plot(x, ys.mean(0), color=color, label=name)
        ax.fill_between(x, ys.min(0), ys.max(0), color=color, alpha=0.2, lw=0)
    ax.axhline(baseline, color=COLORS["pca"], ls="--", lw=1, label=labels["baseline"])
    ax.axhline(floor, color=COLORS["random"], ls=":", lw=1, label=labels["floor"])
    top = max(baseline * 1.6, floor * 1.1)
    ax.set_ylim(floor * 0.9, top)
    ax.set_xlabel(labels["epoch"])
    ax.set_ylabel(labels["nats"])
    ax.legend(fontsize=7)
    kl_curves = [r.history.get("val_kl") for r in runs if r.history.get("val_kl")]
    if kl_curves:
        n = min(len(c) for c in kl_curves)
        x = np.asarray(runs[0].history["epoch"][:n], dtype=float)
        ys = np.asarray([c[:n] for c in kl_curves], dtype=float)
        axes[1].plot(x, ys.mean(0), color=OKABE_ITO["bluish_green"], label=labels["kl"])
        axes[1].fill_between(x, ys.min(0), ys.max(0), color=OKABE_ITO["bluish_green"], alpha=0.2, lw=0)
        axes[1].set_xlabel(labels["epoch"])
        axes[1].set_ylabel(labels["kl"])
    else:
        axes[1].set_visible(False)
    return figure_to_svg(fig)


def _samples_figure(art: dict, data, labels: dict) -> str | None:
    """Test digits, reconstructions and samples from the prior (first seed); None without them."""
    if not (art.get("reconstructions") and art.get("samples")):
        return None
    samples = np.asarray(art["samples"], dtype=float)
    half = len(samples) // 2
    rows = [np.asarray(data.x_test[:8]), np.asarray(art["reconstructions"], dtype=float),
            samples[:half], samples[half:]]
    names = [labels["original"], labels["reconstructed"], labels["samples"], labels["samples"]]
    fig, ax = new_figure(width="half")
    fig.set_size_inches(3.6, 0.42 * len(rows) + 0.2)
    image_grid(ax, rows, names)
    return figure_to_svg(fig)


CLAIM = Claim(
    id="ae-stochastic",
    section="5",
    order=3,
    quantities={
        "elbo_gain_nats": "independent-pixel Bernoulli NLL minus the VAE's test −ELBO (nats per image)",
        "neg_elbo_nats": "the VAE's test −ELBO (nats per image)",
        "kl_nats": "the VAE's test KL(q(h|x) ‖ N(0, I)) (nats per image)",
    },
    analyze=analyze,
)
