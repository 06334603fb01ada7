"""The autoencoder claims (lecture §5): the models' artifacts, the references the analyses
compare against (PCA, linear probes, the independent-pixel likelihood) checked independently,
and each analysis on synthetic records with a known answer."""
import math

import numpy as np
import pytest

from engine.claims import CLAIMS
from engine.claims.ae_stochastic import entropy_floor, independent_pixels_nll
from engine.claims.ae_undercomplete import load_data, pca_reconstructions, pca_test_mse, relative_gaps
from engine.data import DATASETS
from engine.data.base import make_dataset
from engine.models import MODELS
from engine.analysis.probes import linear_probe
from engine.models.autoencoder import N_SAMPLES, N_SHOWN
from engine.optim import OPTIMIZERS
from engine.procedures.linear_ae_pca import (_train, decoder_basis, pca_fit, principal_angles_deg, run,
                                             step_size, tail_decrease)
from tests.test_record import make_record

DIGITS_SPEC = {"name": "digits", "kind": "digits", "params": dict(DATASETS["digits"].params)}


def _toy(n_train=60, n_test=20, seed=0, signal=0.3, noise=0.05):
    """A tiny labelled image set in [0, 1]: shape (1, 3, 3), two classes."""
    rng = np.random.default_rng(seed)
    splits = {}
    for name, n in (("train", n_train), ("val", 10), ("test", n_test)):
        y = rng.integers(0, 2, n)
        x = np.clip(0.5 + signal * (2 * y[:, None] - 1) * np.linspace(-1, 1, 9) + noise * rng.standard_normal((n, 9)), 0, 1)
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
    again = model.artifacts(p, data, _rngs(k))
    np.testing.assert_array_equal(again["probe_random"], art["probe_random"])  # deterministic


@pytest.mark.parametrize("code", [1, 2])
def test_probes_read_each_members_code_and_the_training_splits_principal_directions(code):
    """On a set where probes are far from perfect (so features differ in accuracy): each member's
    probe reads its own code, and PCA's the top `code` principal directions of the training split
    (here from NumPy's SVD, independent of scikit-learn's PCA)."""
    data = _toy(n_train=200, n_test=200, signal=0.08, noise=0.2)
    model = MODELS["autoencoder"].build(data.info, hidden=(4,), code=code)
    k = 3
    p = model.init(_rngs(k))
    art = model.artifacts(p, data, _rngs(k))
    codes = [np.asarray(model.extras["encode"](p, np.broadcast_to(x, (k,) + x.shape)))
             for x in (data.x_train, data.x_test)]
    for i in range(k):
        assert art["probe_code"][i] == linear_probe(codes[0][i], data.y_train, codes[1][i], data.y_test)
    flat_train, flat_test = (x.reshape(len(x), -1) for x in (data.x_train, data.x_test))
    centre = flat_train.mean(axis=0)
    directions = np.linalg.svd(flat_train - centre, full_matrices=False)[2][:code].T
    pca = linear_probe((flat_train - centre) @ directions, data.y_train, (flat_test - centre) @ directions, data.y_test)
    np.testing.assert_array_equal(art["probe_pca"], np.full(k, pca))
    assert 0.5 < pca < 0.95 and len(set(art["probe_code"])) > 1  # far from perfect, and the members differ


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
    mse = model.metrics(_pca_weights(model, data, 8), {"x": data.x_test[None]})["mse"][0]
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


def _pca_weights(model, data, code):
    """Linear-autoencoder parameters that are PCA fitted on the training split: h = (x − μ) V,
    r = h Vᵀ + μ."""
    p = model.init(_rngs(1))
    train = data.x_train.reshape(len(data.x_train), -1).astype(np.float64)
    mean = train.mean(axis=0)
    basis = np.linalg.svd(train - mean, full_matrices=False)[2][:code].T
    p["enc.1.W"], p["enc.1.b"] = basis[None], (-mean @ basis)[None]
    p["dec.0.W"], p["dec.0.b"] = basis.T[None], mean[None]
    return p


def test_pca_fit_against_scikit_learn_on_the_training_split():
    from scipy.linalg import subspace_angles
    from sklearn.decomposition import PCA

    data = _digits()
    train = data.x_train.reshape(len(data.x_train), -1).astype(np.float64)
    for code in (2, 8, 32):
        mse, basis = pca_fit(data.x_train, code)
        reference = PCA(n_components=code).fit(train)
        rebuilt = reference.inverse_transform(reference.transform(train))
        assert mse == pytest.approx(np.mean((rebuilt - train) ** 2), rel=1e-10)
        assert np.max(subspace_angles(basis, reference.components_.T)) < 1e-6


def test_pca_is_a_lower_bound_of_every_rank_c_affine_map_on_its_own_data():
    """Eckart–Young, checked: random affine maps x ↦ b + A B (x − m) of rank c (and PCA's subspace
    with a wrong centre) never reconstruct the training split better than PCA fitted on it."""
    data = _digits()
    train = data.x_train.reshape(len(data.x_train), -1).astype(np.float64)
    rng = np.random.default_rng(0)
    for code in (2, 8):
        best, basis = pca_fit(data.x_train, code)
        for _ in range(20):
            a, b = rng.standard_normal((64, code)), rng.standard_normal((code, 64))
            shift, centre = rng.random(64), rng.random(64)
            # the least-squares decoder for this encoder, so that the map is as good as it gets
            codes = (train - centre) @ a
            design = np.hstack([codes, np.ones((len(train), 1))])
            coef = np.linalg.lstsq(design, train, rcond=None)[0]
            assert np.mean((design @ coef - train) ** 2) >= best * (1 - 1e-12)
            assert np.mean(((train - shift) @ b.T @ np.linalg.pinv(b.T) + shift - train) ** 2) >= best
        centred = (train - rng.random(64)) @ basis @ basis.T + train.mean(axis=0)
        assert np.mean((centred - train) ** 2) >= best


def test_principal_angles_by_hand():
    theta = np.radians(30.0)
    a = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])           # the plane z = 0
    b = np.array([[1.0, 0.0], [0.0, np.cos(theta)], [0.0, np.sin(theta)]])   # tilted by 30° about x
    np.testing.assert_allclose(principal_angles_deg(a, b), [30.0, 0.0], atol=1e-10)
    # A change of basis inside a subspace changes no angle.
    np.testing.assert_allclose(principal_angles_deg(a, a @ np.array([[2.0, 1.0], [1.0, 3.0]])), [0.0, 0.0],
                               atol=1e-6)


def test_decoder_basis_is_the_decoder_matrix():
    """g(e_j) − g(0) is row j of the decoder's matrix: the basis is Wᵀ, whatever the bias."""
    data = _toy()
    model = MODELS["linear_autoencoder"].build(data.info, code=3)
    p = model.init(_rngs(2))
    p["dec.0.b"] = np.random.default_rng(5).standard_normal(p["dec.0.b"].shape).astype(p["dec.0.b"].dtype)
    basis = decoder_basis(model.extras["decode"], p, 3)
    np.testing.assert_allclose(basis, np.transpose(p["dec.0.W"], (0, 2, 1)), rtol=1e-5, atol=1e-6)


def test_linear_autoencoder_set_to_pca_has_pca_subspace_and_training_error():
    data = _digits()
    model = MODELS["linear_autoencoder"].build(data.info, code=8)
    p = _pca_weights(model, data, 8)
    mse, basis = pca_fit(data.x_train, 8)
    assert model.loss(p, {"x": data.x_train[None]})[0] == pytest.approx(mse, rel=1e-9)
    assert np.max(principal_angles_deg(decoder_basis(model.extras["decode"], p, 8)[0], basis)) < 1e-5


def test_step_size_and_tail_decrease_by_hand():
    assert step_size(0.03, 0, 3000, 1.0) == pytest.approx(0.03)
    assert step_size(0.03, 1500, 3000, 1.0) == pytest.approx(0.03 / np.sqrt(10))
    assert step_size(0.03, 3000, 3000, 2.0) == pytest.approx(0.0003)
    losses = np.array([10.0, 8.0, 6.0, 5.0, 4.5, 4.0, 3.8, 3.6, 3.5, 3.45, 3.4])   # T = 10
    assert tail_decrease(losses, 0.1) == pytest.approx((3.45 - 3.4) / 3.4)       # m = 1
    assert tail_decrease(losses, 0.25) == pytest.approx((3.6 - 3.4) / 3.4)       # m = ⌈2.5⌉ = 3


def _linear_spec(code, seed, steps, lr=0.03, decades=1.0):
    return {"study": "t", "claim": "ae-undercomplete", "seed": seed, "batch": None, "clip_norm": None,
            "model": {"name": "l", "kind": "linear_autoencoder", "params": {"code": code}},
            "dataset": DIGITS_SPEC,
            "optimizer": {"name": "adam", "kind": "adam", "hp": OPTIMIZERS["adam"].resolve({"lr": lr})},
            "budget": {"max_steps": steps, "evals": 4},
            "procedure": {"kind": "linear_ae_pca", "params": {"decay_decades": decades, "tail": 0.1}}}


def test_first_full_batch_step_is_adams_by_hand():
    """One step from the trainer's initialisation: Adam's first update is α·g/(|g| + ε) with the
    gradient of the loss on the whole training split."""
    from engine.training.network import FlatBlock, member_rngs

    data = _digits()
    spec = _linear_spec(2, 3, 1)
    model = MODELS["linear_autoencoder"].build(data.info, code=2)
    init = model.init(member_rngs([spec], 0))
    block = FlatBlock(init, "")
    _, g = block.loss_and_gradient(lambda p: model.loss(p, {"x": data.x_train[None]}), block.pack(init))
    params, losses, _ = _train(model, data, [spec])
    expected = block.pack(init) - 0.03 * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(block.pack(params), expected, rtol=1e-5, atol=1e-7)
    assert losses[0][0] == pytest.approx(model.loss(init, {"x": data.x_train[None]})[0])


def test_linear_ae_pca_members_together_are_the_members_alone():
    """Members of one group train together: each gets exactly the numbers it gets alone, whatever
    its neighbours' seed, step size or optimizer, and one that diverges stops alone."""
    specs = [_linear_spec(2, 0, 40), _linear_spec(2, 1, 40, lr=0.01),
             {**_linear_spec(2, 2, 40, lr=1e3), "optimizer": {"name": "sgd", "kind": "sgd", "hp": {"lr": 1e3}}},
             _linear_spec(2, 3, 40)]
    with np.errstate(all="ignore"):
        together = run(specs)
        alone = [run([spec])[0] for spec in specs]
    assert [out["status"] for out in together] == ["ok", "ok", "diverged", "ok"]
    assert together == alone


def test_linear_ae_pca_procedure_converges_to_pca():
    """Code 2, two seeds, 1,500 full-batch steps: the training error reaches PCA's within 0.1 %
    (and never goes below it), the decoder spans PCA's plane within 1°, and the procedure stores
    the model's own artifacts."""
    data = _digits()
    outs = run([_linear_spec(2, s, 1500) for s in (0, 1)])
    pca_mse, _ = pca_fit(data.x_train, 2)
    for out in outs:
        final = out["final"]
        assert out["status"] == "ok" and final["pca_train_mse"] == pytest.approx(pca_mse)
        assert 1 - 1e-5 <= final["train_ratio"] < 1.001
        assert max(final["angles_deg"]) < 1.0
        assert final["tail_decrease"] < 1e-3 and final["steps"] == 1500
        assert out["history"]["step"] == [0, 375, 750, 1125, 1500]
        assert out["history"]["train_mse"][-1] == pytest.approx(final["train_mse"])
        assert set(out["artifacts"]) >= {"reconstructions", "codes", "probe_code", "probe_pca", "probe_random"}
    assert outs[0]["final"]["train_mse"] != outs[1]["final"]["train_mse"]   # seeds differ


def test_relative_gaps_by_hand():
    # Rows spread along the axes with variances 4, 1 and 0.25: λ = (4, 1, 0.25) up to scale.
    x = np.diag([2.0, 1.0, 0.5])
    x = np.vstack([x, -x]).reshape(6, 1, 1, 3)
    gaps = relative_gaps(x, [1, 2])
    assert gaps == pytest.approx({1: 0.75, 2: 0.75})


# --- the analyses on synthetic records ---------------------------------------------------------------

TEXT = {cid: CLAIMS[cid].text("en") for cid in ("ae-undercomplete", "ae-useful-features", "ae-stochastic")}


def _record(study, claim, kind, code, seed, final, artifacts=None, history=None):
    return make_record({"study": study, "claim": claim, "model": {"name": kind, "params": {"code": code}},
                        "dataset": DIGITS_SPEC, "seed": seed},
                       final=final, history=history, artifacts=artifacts or {})


def _digits():
    return load_data(make_record({"dataset": DIGITS_SPEC}).spec)


def _ae_records(ratios_linear, ratios_ae, probes=None):
    """Records with known ratios to PCA: the linear autoencoder's on the training split (as the
    procedure stores them), the MLP autoencoder's on test."""
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
                final = {"test_mse": ratio * pca_test_mse(data, code)}
                if kind == "linear_autoencoder":
                    pca_mse = pca_fit(data.x_train, code)[0]
                    final.update({"train_mse": ratio * pca_mse, "pca_train_mse": pca_mse, "train_ratio": ratio,
                                  "angles_deg": [10.0 * seed] + [0.0] * (code - 1), "tail_decrease": 1e-4 * seed,
                                  "grad_norm": 1e-5})
                records.append(_record("s", "ae-undercomplete", kind, code, seed, final, art))
    return records


def test_undercomplete_analysis_recovers_known_ratios():
    linear = {2: [1.00, 1.01, 1.002], 8: [1.03, 1.00, 1.02]}
    nonlinear = {2: [0.8, 0.9, 0.85], 8: [0.7, 0.75, 0.72]}
    analysis = CLAIMS["ae-undercomplete"].analyze(_ae_records(linear, nonlinear), TEXT["ae-undercomplete"], {})
    q = analysis.quantities
    assert q["linear_to_pca_train_max"].values == pytest.approx((1.03, 1.01, 1.02))
    assert q["ae_to_pca_code8"].values == pytest.approx((0.7, 0.75, 0.72))
    assert [f["id"] for f in analysis.figures] == ["ae-undercomplete-error", "ae-undercomplete-angles",
                                                   "ae-undercomplete-reconstructions"]
    assert all(f["svg"].startswith("<svg") for f in analysis.figures)
    train, test = analysis.tables
    for table in (train, test):
        assert [row[0] for row in table["rows"]] == ["2", "8"]
        assert all(len(row) == len(table["columns"]) for row in table["rows"])
    assert train["rows"][1][2] == "1.0167 ± 0.0153"   # the linear autoencoder's ratios at c = 8
    numbers = analysis.numbers
    assert numbers["linear_runs"] == 6 and numbers["converged_runs"] == 6
    assert numbers["by_code"]["8"]["linear_autoencoder"]["angles_deg"][2][0] == 20.0


def test_undercomplete_analysis_without_code_8_leaves_that_quantity_missing():
    analysis = CLAIMS["ae-undercomplete"].analyze(_ae_records({2: [1.0, 1.0]}, {2: [0.9, 0.8]}),
                                                  TEXT["ae-undercomplete"], {})
    assert analysis.quantities["ae_to_pca_code8"] is None
    assert analysis.quantities["linear_to_pca_train_max"].n == 2


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
