"""The autoencoder claims (lecture §5): the models' artifacts, the references the analyses
compare against (PCA, linear probes, the independent-pixel likelihood) checked independently,
and each analysis on synthetic records with a known answer."""
import math

import numpy as np
import pytest

from engine.claims import CLAIMS
from engine.claims.ae_stochastic import entropy_floor, independent_pixels_nll
from engine.claims.ae_undercomplete import load_data, pca_reconstructions, pca_test_mse
from engine.data import DATASETS
from engine.data.base import make_dataset
from engine.models import MODELS
from engine.models.autoencoder import N_SAMPLES, N_SHOWN, linear_probe
from tests.test_record import make_record

DIGITS_SPEC = {"name": "digits", "kind": "digits", "params": dict(DATASETS["digits"].params)}


def _toy(n_train=60, n_test=20, seed=0):
    """A tiny labelled image set in [0, 1]: shape (1, 3, 3), two classes."""
    rng = np.random.default_rng(seed)
    splits = {}
    for name, n in (("train", n_train), ("val", 10), ("test", n_test)):
        y = rng.integers(0, 2, n)
        x = np.clip(0.5 + 0.3 * (2 * y[:, None] - 1) * np.linspace(-1, 1, 9) + 0.05 * rng.standard_normal((n, 9)), 0, 1)
        splits[name] = (x.reshape(n, 1, 3, 3), y)
    return make_dataset("toy", "image", splits, {"n_classes": 2, "x_range": (0.0, 1.0)})


def _rngs(k):
    return [np.random.default_rng([s, 4]) for s in range(k)]


# --- the models' artifacts -----------------------------------------------------------------------

@pytest.mark.parametrize("kind, params", [("autoencoder", {"hidden": (4,), "code": 2}),
                                          ("autoencoder", {"hidden": (4,), "code": 3}),
                                          ("linear_autoencoder", {"code": 2})])
def test_autoencoder_artifacts(kind, params):
    data = _toy()
    model = MODELS[kind].build(data.info, **params)
    k = 2
    p = model.init(_rngs(k))
    art = model.artifacts(p, data, _rngs(k))
    x = np.broadcast_to(data.x_test[:N_SHOWN], (k,) + data.x_test[:N_SHOWN].shape)
    expected = model.extras["decode"](p, model.extras["encode"](p, x))
    np.testing.assert_allclose(art["reconstructions"], expected)
    assert art["reconstructions"].shape == (k, N_SHOWN, 1, 3, 3)
    # The 2-D codes of the whole test split, only when the code is 2-D.
    assert ("codes" in art) == (params["code"] == 2)
    if "codes" in art:
        assert art["codes"].shape == (k, len(data.x_test), 2)
    for name in ("probe_code", "probe_pca", "probe_random"):
        assert art[name].shape == (k,) and np.all((0 <= art[name]) & (art[name] <= 1))
    # PCA's probe does not depend on the member; the random projection comes from the member's rng.
    assert art["probe_pca"][0] == art["probe_pca"][1]
    again = model.artifacts(p, data, _rngs(k))
    np.testing.assert_array_equal(again["probe_random"], art["probe_random"])  # deterministic


def test_vae_artifacts_are_reconstructions_and_prior_samples():
    data = _toy()
    model = MODELS["vae"].build(data.info, hidden=(4,), code=2)
    k = 3
    p = model.init(_rngs(k))
    art = model.artifacts(p, data, _rngs(k))
    assert art["reconstructions"].shape == (k, N_SHOWN, 1, 3, 3)
    assert art["samples"].shape == (k, N_SAMPLES, 1, 3, 3)
    assert np.all((art["samples"] > 0) & (art["samples"] < 1))  # Bernoulli means
    # Samples are decode(h) for h ~ N(0, I) drawn from each member's generator.
    h = np.stack([rng.standard_normal((N_SAMPLES, 2)) for rng in _rngs(k)])
    np.testing.assert_allclose(art["samples"], model.extras["decode"](p, h))


def test_nonfinite_parameters_give_a_nan_probe_not_an_error():
    data = _toy()
    model = MODELS["linear_autoencoder"].build(data.info, code=2)
    p = model.init(_rngs(1))
    p = {name: np.full_like(value, np.nan) for name, value in p.items()}
    art = model.artifacts(p, data, _rngs(1))
    assert math.isnan(art["probe_code"][0])


# --- references ------------------------------------------------------------------------------------

def test_linear_probe_against_known_answers():
    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 3, 90), rng.integers(0, 3, 40)
    # Features that are the one-hot labels: perfectly separable.
    assert linear_probe(np.eye(3)[y_train], y_train, np.eye(3)[y_test], y_test) == 1.0
    # Constant features carry nothing: the probe predicts the most frequent training class.
    majority = np.bincount(y_train).argmax()
    accuracy = linear_probe(np.ones((90, 2)), y_train, np.ones((40, 2)), y_test)
    assert accuracy == pytest.approx(np.mean(y_test == majority))


def test_pca_error_matches_an_svd_by_hand():
    data = _digits()
    train = data.x_train.reshape(len(data.x_train), -1).astype(np.float64)
    test = data.x_test.reshape(len(data.x_test), -1).astype(np.float64)
    mean = train.mean(axis=0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    for code in (2, 8):
        basis = vt[:code].T
        rebuilt = (test - mean) @ basis @ basis.T + mean
        assert pca_test_mse(data, code) == pytest.approx(np.mean((rebuilt - test) ** 2), rel=1e-9)
        np.testing.assert_allclose(pca_reconstructions(data, code, 8).reshape(8, -1), rebuilt[:8], atol=1e-10)
    # More components never reconstruct worse.
    assert pca_test_mse(data, 16) < pca_test_mse(data, 8) < pca_test_mse(data, 2)


def test_linear_autoencoder_set_to_pca_reaches_pca_error():
    """The linear autoencoder's optimum is PCA: with PCA's basis as weights it gives PCA's error."""
    data = _digits()
    model = MODELS["linear_autoencoder"].build(data.info, code=8)
    p = model.init(_rngs(1))
    train = data.x_train.reshape(len(data.x_train), -1)
    mean = train.mean(axis=0)
    basis = np.linalg.svd(train - mean, full_matrices=False)[2][:8].T  # (64, 8)
    p["enc.1.W"], p["enc.1.b"] = basis[None], (-mean @ basis)[None]      # h = (x − mean) V
    p["dec.0.W"], p["dec.0.b"] = basis.T[None], mean[None]               # r = h Vᵀ + mean
    x = data.x_test[None]
    mse = model.metrics(p, {"x": x})["mse"][0]
    assert mse == pytest.approx(pca_test_mse(data, 8), rel=1e-9)


def test_independent_pixel_baseline_by_hand():
    from scipy import stats

    rng = np.random.default_rng(1)
    binary = (rng.random((50, 4)) < [0.2, 0.5, 0.7, 0.9]).astype(float).reshape(50, 1, 2, 2)
    data = make_dataset("b", "image", {"train": (binary[:30], None), "val": (binary[30:40], None),
                                       "test": (binary[40:], None)}, {"x_range": (0.0, 1.0)})
    p = (binary[:30].reshape(30, -1).sum(0) + 1) / 32
    reference = -np.mean(stats.bernoulli.logpmf(binary[40:].reshape(10, -1), p).sum(axis=1))
    assert independent_pixels_nll(data) == pytest.approx(reference, rel=1e-12)
    assert entropy_floor(data) == pytest.approx(0.0, abs=1e-9)  # binary pixels have no entropy
    grey = make_dataset("g", "image", {s: (np.full((4, 1, 1, 1), 0.5), None) for s in ("train", "val", "test")},
                        {"x_range": (0.0, 1.0)})
    assert entropy_floor(grey) == pytest.approx(math.log(2))
    assert independent_pixels_nll(grey) == pytest.approx(math.log(2))  # p = (2 + 1)/(4 + 2) = 0.5


# --- the analyses on synthetic records ---------------------------------------------------------------

TEXT = {cid: CLAIMS[cid].text("en") for cid in ("ae-undercomplete", "ae-useful-features", "ae-stochastic")}


def _record(study, claim, kind, code, seed, final, artifacts=None, history=None):
    return make_record({"study": study, "claim": claim, "model": {"name": kind, "params": {"code": code}},
                        "dataset": DIGITS_SPEC, "seed": seed},
                       final=final, history=history, artifacts=artifacts or {})


def _digits():
    return load_data(make_record({"dataset": DIGITS_SPEC}).spec)


def _ae_records(ratios_linear, ratios_ae, probes=None):
    data = _digits()
    records = []
    for (kind, ratios) in (("linear_autoencoder", ratios_linear), ("autoencoder", ratios_ae)):
        for code, per_seed in ratios.items():
            for seed, ratio in enumerate(per_seed):
                art = {"reconstructions": np.asarray(data.x_test[:8]).tolist()}
                if code == 2:
                    art["codes"] = np.random.default_rng(seed).standard_normal((len(data.x_test), 2)).tolist()
                if probes:
                    art.update({name: values[seed] for name, values in probes[(kind, code)].items()})
                records.append(_record("s", "ae-undercomplete", kind, code, seed,
                                       {"test_mse": ratio * pca_test_mse(data, code)}, art))
    return records


def test_undercomplete_analysis_recovers_known_ratios():
    linear = {2: [1.00, 1.01, 0.99], 8: [1.03, 1.00, 1.02]}
    nonlinear = {2: [0.8, 0.9, 0.85], 8: [0.7, 0.75, 0.72]}
    analysis = CLAIMS["ae-undercomplete"].analyze(_ae_records(linear, nonlinear), TEXT["ae-undercomplete"], {})
    q = analysis.quantities
    assert q["linear_to_pca_max"].values == pytest.approx((1.03, 1.01, 1.02))
    assert q["linear_to_pca_min"].values == pytest.approx((1.00, 1.00, 0.99))
    assert q["ae_to_pca_code8"].values == pytest.approx((0.7, 0.75, 0.72))
    assert [f["id"] for f in analysis.figures] == ["ae-undercomplete-error", "ae-undercomplete-reconstructions"]
    assert all(f["svg"].startswith("<svg") for f in analysis.figures)
    assert [row[0] for row in analysis.tables[0]["rows"]] == ["2", "8"]


def test_undercomplete_analysis_without_code_8_leaves_that_quantity_missing():
    analysis = CLAIMS["ae-undercomplete"].analyze(_ae_records({2: [1.0, 1.0]}, {2: [0.9, 0.8]}),
                                                  TEXT["ae-undercomplete"], {})
    assert analysis.quantities["ae_to_pca_code8"] is None
    assert analysis.quantities["linear_to_pca_max"].n == 2


def test_useful_features_analysis_recovers_known_gains():
    probes = {(kind, code): {"probe_code": [0.9, 0.92, 0.91] if kind == "autoencoder" else [0.88] * 3,
                             "probe_pca": [0.90] * 3, "probe_random": [0.70, 0.75, 0.72]}
              for kind in ("autoencoder", "linear_autoencoder") for code in (2, 8)}
    records = _ae_records({2: [1.0] * 3, 8: [1.0] * 3}, {2: [0.8] * 3, 8: [0.7] * 3}, probes)
    analysis = CLAIMS["ae-useful-features"].analyze(records, TEXT["ae-useful-features"], {})
    q = analysis.quantities
    assert q["probe_gain_over_random"].values == pytest.approx((0.20, 0.17, 0.19))
    assert q["probe_gain_over_pca"].values == pytest.approx((0.0, 0.02, 0.01))
    assert [f["id"] for f in analysis.figures] == ["ae-useful-features-probe", "ae-useful-features-codes"]


def test_useful_features_analysis_without_probes_is_missing():
    records = _ae_records({8: [1.0] * 2}, {8: [0.7] * 2})
    analysis = CLAIMS["ae-useful-features"].analyze(records, TEXT["ae-useful-features"], {})
    assert all(v is None for v in analysis.quantities.values())


def test_stochastic_analysis_against_the_baseline():
    data = _digits()
    baseline = independent_pixels_nll(data)
    history = {"epoch": [0, 1, 2], "val_loss": [40.0, 30.0, 25.0], "val_reconstruction": [39.0, 28.0, 22.0],
               "val_kl": [1.0, 2.0, 3.0]}
    art = {"reconstructions": np.asarray(data.x_test[:8]).tolist(),
           "samples": np.full((16, 1, 8, 8), 0.3).tolist()}
    records = [_record("v", "ae-stochastic", "vae", 8, seed,
                       {"test_loss": baseline - gain, "test_kl": kl, "test_reconstruction": baseline - gain - kl},
                       art, history)
               for seed, (gain, kl) in enumerate([(2.0, 3.0), (2.5, 2.8), (3.0, 2.9)])]
    analysis = CLAIMS["ae-stochastic"].analyze(records, TEXT["ae-stochastic"], {})
    q = analysis.quantities
    assert q["elbo_gain_nats"].values == pytest.approx((2.0, 2.5, 3.0))
    assert q["kl_nats"].values == pytest.approx((3.0, 2.8, 2.9))
    assert analysis.numbers["independent_pixels_nll"] == pytest.approx(baseline)
    assert [f["id"] for f in analysis.figures] == ["ae-stochastic-elbo", "ae-stochastic-samples"]
