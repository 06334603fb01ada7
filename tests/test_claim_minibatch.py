"""minibatch-unbiased and single-example-inefficient (lecture §1): the gradient-noise procedure
against independent references, the variance law on cases with a known answer, the data-set
sizes, and both analyses on synthetic records."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine.claims import CLAIMS
from engine.claims import single_example_inefficient as sei
from engine.claims.minibatch_unbiased import per_seed_quantities
from engine.data import DATASETS
from engine.models import MODELS
from engine.optim import OPTIMIZERS
from engine.procedures import PROCEDURES
from engine.procedures.gradient_noise import draw_indicators, noise_statistics, per_example_gradients
from engine.record import Record
from engine.training.network import FlatBlock
from tests.test_record import make_record


@pytest.fixture(scope="module")
def digits_mlp():
    data = DATASETS["digits"].load(None)
    model = MODELS["mlp"].build(data.info, hidden=[7])
    # in float64, where the references below (a loop, finite differences) are precise: the
    # gradients' code keeps its inputs' dtype
    params = {name: value.astype(np.float64) for name, value in model.init([np.random.default_rng(3)]).items()}
    return data, model, params


def test_per_example_gradients_match_a_loop_and_finite_differences(digits_mlp):
    data, model, params = digits_mlp
    from autograd import grad
    block = FlatBlock(params, "")
    x, y = data.x_train[:12].astype(np.float64), data.y_train[:12]
    G = per_example_gradients(model, block, params, x, y)
    assert G.shape == (12, block.pack(params).shape[1])
    # Reference 1: one example at a time through the model's own (K=1, B=1) loss.
    for i in (0, 5, 11):
        gi = grad(lambda p: np.sum(model.loss(p, {"x": x[None, i:i + 1], "y": y[None, i:i + 1]})))(params)
        np.testing.assert_allclose(G[i], block.pack(gi)[0], rtol=1e-10, atol=1e-12)
    # Reference 2: a minibatch's gradient is the mean of its rows.
    idx = np.array([1, 4, 7, 10])
    gb = grad(lambda p: np.sum(model.loss(p, {"x": x[None, idx], "y": y[None, idx]})))(params)
    np.testing.assert_allclose(G[idx].mean(axis=0), block.pack(gb)[0], rtol=1e-10, atol=1e-12)
    # Reference 3: central finite differences of the full loss along random directions.
    theta = block.pack(params)
    full = lambda t: float(model.loss(block.unpack(t), {"x": x[None], "y": y[None]})[0])
    rng = np.random.default_rng(0)
    for _ in range(3):
        d = rng.standard_normal(theta.shape)
        h = 1e-5
        fd = (full(theta + h * d) - full(theta - h * d)) / (2 * h)
        assert fd == pytest.approx(float(G.mean(axis=0) @ d[0]), rel=1e-6, abs=1e-9)


def test_draws_are_without_replacement_and_uniform():
    rng = np.random.default_rng(1)
    z = draw_indicators(rng, 20, 6, 4000)
    assert set(np.unique(z)) <= {0.0, 1.0}
    assert np.all(z.sum(axis=1) == 6)                 # 6 distinct examples per draw
    np.testing.assert_allclose(z.mean(axis=0), 6 / 20, atol=0.03)   # inclusion probability B/N


def test_variance_law_on_a_known_population():
    """Vectors with a known spread: E‖g_B − g‖² = σ²/B·(N−B)/(N−1) within sampling error, the
    corrected slope is −1, and the mean of the draws is unbiased."""
    rng = np.random.default_rng(2)
    G = rng.standard_normal((40, 6)) * np.array([3.0, 1.0, 0.5, 0.1, 2.0, 1.0]) + 5.0
    stats = noise_statistics(G, [1, 2, 4, 8, 16, 32, 64], draws=3000, rng=np.random.default_rng(3))
    n = 40
    sigma2 = float(np.mean(np.sum((G - G.mean(0)) ** 2, axis=1)))
    assert stats["sigma2"] == pytest.approx(sigma2)
    assert stats["batch_sizes"] == [1, 2, 4, 8, 16, 32]          # B ≥ N skipped
    for b, v, se, th in zip(stats["batch_sizes"], stats["variance"], stats["variance_se"], stats["theory"]):
        assert th == pytest.approx(sigma2 / b * (n - b) / (n - 1))
        assert abs(v - th) < 4 * se
    assert stats["slope"] == pytest.approx(-1.0, abs=0.05)
    assert stats["bias_ratio_max"] < 4


def test_gram_quadratic_form_is_the_explicit_norm():
    rng = np.random.default_rng(4)
    G = rng.standard_normal((15, 9))
    # One minibatch: the Gram quadratic form 1_Sᵀ C 1_S / B² against the explicit norm.
    z = draw_indicators(np.random.default_rng(5), 15, 4, 1)[0].astype(bool)
    explicit = float(np.sum((G[z].mean(axis=0) - G.mean(axis=0)) ** 2))
    centred = G - G.mean(axis=0)
    gram = centred @ centred.T
    assert float(z @ gram @ z) / 16 == pytest.approx(explicit)
    # And the statistics for B = N − 1 are exact: every draw leaves one example out.
    stats = noise_statistics(G, [14], draws=2000, rng=np.random.default_rng(6))
    assert stats["variance"][0] == pytest.approx(stats["theory"][0], rel=0.1)


def test_procedure_runs_and_reports_both_points():
    proc = PROCEDURES["gradient_noise"]
    params = proc.resolve({"train_steps": [0, 3], "batch_sizes": [1, 2, 4, 8], "draws": 200, "n_examples": 60})
    specs = [{"model": {"kind": "mlp", "params": {**MODELS["mlp"].params, "hidden": [8]}},
              "dataset": {"kind": "digits", "params": DATASETS["digits"].params},
              "optimizer": {"name": "adam", "kind": "adam", "hp": OPTIMIZERS["adam"].resolve({"lr": 0.01})},
              "batch": 16, "seed": s, "budget": {}, "procedure": {"kind": "gradient_noise", "params": params}}
             for s in (0, 1)]
    out = proc.run(specs)
    assert [o["status"] for o in out] == ["ok", "ok"]
    for o in out:
        h = o["history"]
        assert h["train_steps"] == [0, 3]
        assert h["train_loss"][1] < h["train_loss"][0]             # it did train
        for point in h["points"]:
            assert point["n"] == 60 and point["batch_sizes"] == [1, 2, 4, 8]
            assert -1.3 < point["slope"] < -0.7
        assert set(o["final"]) >= {"slope_t0", "slope_t3", "bias_ratio_max_t0", "bias_ratio_max_t3"}
    # Members are independent: seed 1 alone gives the same numbers as in the group.
    alone = proc.run(specs[1:])[0]
    assert alone["final"] == out[1]["final"]


def test_mnist1d_subset_is_a_prefix_of_the_training_split():
    base = DATASETS["mnist1d"].load(None, num_samples=200)
    sub = DATASETS["mnist1d_subset"].load(None, num_samples=200, n_train=50)
    np.testing.assert_array_equal(sub.x_train, base.x_train[:50])
    np.testing.assert_array_equal(sub.y_train, base.y_train[:50])
    np.testing.assert_array_equal(sub.x_test, base.x_test)
    assert sub.info["n_train"] == 50
    with pytest.raises(ValueError):
        DATASETS["mnist1d_subset"].load(None, num_samples=200, n_train=10_000)


def _noise_record(model: str, seed: int, rng) -> Record:
    G = rng.standard_normal((30, 4))
    points = [noise_statistics(G * scale, [1, 2, 4, 8], 500, rng) for scale in (1.0, 0.3)]
    return make_record({"model": {"name": model}, "seed": seed, "procedure": {"kind": "gradient_noise"}},
                       history={"train_steps": [0, 10], "train_loss": [2.3, 0.5], "points": points})


def test_minibatch_analysis_on_synthetic_records():
    rng = np.random.default_rng(7)
    records = [_noise_record(m, s, rng) for m in ("a", "b") for s in (0, 1, 2)]
    claim = CLAIMS["minibatch-unbiased"]
    analysis = claim.analyze(records, claim.text("es"), {})
    per_seed = per_seed_quantities({m: {r.spec.seed: dict(zip(r.history["train_steps"], r.history["points"]))
                                        for r in records if r.spec.model.name == m} for m in ("a", "b")})
    slopes0 = [p["slope"] for r in records if r.spec.seed == 0 for p in r.history["points"]]
    assert per_seed[0]["slope_min"] == pytest.approx(min(slopes0))
    assert per_seed[0]["slope_max"] == pytest.approx(max(slopes0))
    q = analysis.quantities
    assert q["slope_min"].n == 3 and q["slope_min"].mean == pytest.approx(np.mean([v["slope_min"] for v in per_seed.values()]))
    assert q["bias_ratio_max"].mean < 4
    assert len(analysis.figures) == 2 and analysis.figures[0]["svg"].startswith("<svg")
    assert len(analysis.tables[0]["rows"]) == 4


def _timing_record(n: int, batch, seed: int, seconds: float, reached: bool = True) -> Record:
    size = n if batch == "full" else batch
    return make_record({"dataset": {"name": "mnist1d_subset", "params": {"n_train": n}}, "batch": batch,
                        "seed": seed, "optimizer": {"name": "sgd", "hp": {"lr": 0.1}}, "budget": {"target_loss": 1.6}},
                       final={"reached_target": reached, "seconds_to_target": seconds if reached else None,
                              "seconds": seconds, "examples_to_target": 100 * size if reached else None,
                              "examples": 100 * size, "batch_size": size},
                       history={"seconds": [0.0, seconds], "train_loss": [2.3, 1.5]})


def test_single_example_analysis_known_ratio_and_slope():
    # seconds(B = 1) = 0.01·N, the best (B = 64) = 0.001·√N: ratio = 10·√N, slope ½ in log-log.
    records = []
    for seed in (0, 1, 2):
        for n in (100, 400, 1600):
            records += [_timing_record(n, 1, seed, 0.01 * n), _timing_record(n, 8, seed, 0.002 * n),
                        _timing_record(n, 64, seed, 0.001 * math.sqrt(n)), _timing_record(n, "full", seed, 0.0005 * n)]
    claim = CLAIMS["single-example-inefficient"]
    analysis = claim.analyze(records, claim.text("en"), {})
    assert analysis.quantities["time_ratio_largest_n"].mean == pytest.approx(10 * math.sqrt(1600))
    assert analysis.quantities["time_ratio_slope"].mean == pytest.approx(0.5)
    assert analysis.quantities["time_ratio_slope"].n == 3
    assert len(analysis.figures) == 2
    # Epochs to the target = examples / N: B = 1 processed 100 examples of N = 400, B = 64 6,400.
    runs = sei._runs(records)
    assert runs[(400, 1, 0)]["epochs"] == pytest.approx(0.25) and runs[(400, 64, 0)]["epochs"] == pytest.approx(16)
    assert analysis.tables[0]["rows"][0][6] == "1"          # N = 100, B = 1: 100 examples, one epoch


def test_single_example_censored_run_is_a_lower_bound():
    runs = sei._runs([_timing_record(100, 1, 0, 5.0, reached=False), _timing_record(100, 64, 0, 0.1)])
    assert sei.ratios(runs)[(100, 0)] == pytest.approx(50.0)
    # Nothing reached the target: no ratio at all.
    runs = sei._runs([_timing_record(100, 1, 0, 5.0, reached=False), _timing_record(100, 64, 0, 0.1, reached=False)])
    assert sei.ratios(runs)[(100, 0)] is None
