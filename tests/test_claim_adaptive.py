"""The pieces of adagrad-small-gradients and rmsprop-improves-adagrad (and the tilted wells): the new
objectives against closed forms, finite differences and SciPy; the extended objective trainer
(minibatches, moving targets, per-coordinate tracking) against hand-written references, and
grouped = alone; the analyses on synthetic records with known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest
from autograd import grad
from scipy import optimize, stats

from engine.claims import CLAIMS
from engine.claims._tuned import tuned_choice, wilson
from engine.claims.adagrad_small_gradients import settle_steps
from engine.claims.rmsprop_improves_adagrad import step_change
from engine.executor import execute_group
from engine.objectives import OBJECTIVES
from engine.optim import OPTIMIZERS
from tests.test_record import make_record

RESULT_FIELDS = ("status", "diverged_at_step", "history", "final")
HP = {"sgd": {"lr": 0.1}, "adagrad": {"lr": 0.5, "eps": 1e-8, "eps_placement": "inside"},
      "rmsprop": {"lr": 0.05, "beta": 0.9, "eps": 1e-8, "eps_placement": "outside"}}


def spec(kind, params=None, opt="sgd", lr=None, seed=0, batch=None, steps=50, study="t", name=None):
    hp = {**HP[opt], **({"lr": lr} if lr is not None else {})}
    return {"study": study, "claim": "c", "vary": {}, "dataset": None,
            "model": {"name": kind, "kind": kind, "params": {**OBJECTIVES[kind].params, **(params or {})}},
            "optimizer": {"name": name or opt, "kind": opt, "hp": hp}, "batch": batch, "seed": seed,
            "budget": {"max_steps": steps}}


def train(*specs):
    return execute_group([(f"k{i}", f"r{i}", s) for i, s in enumerate(specs)])


# --------------------------------------------------------------------------- objectives

def test_tilted_wells_minima_are_the_roots_and_terms_average_to_the_well():
    p = OBJECTIVES["tilted_wells"].build()
    g, b, l = p.critical_points
    dw = lambda x: x ** 3 - x + 0.25
    for root, bracket in ((g, (-2, -0.6)), (b, (-0.5, 0.5)), (l, (0.6, 2))):
        assert root == pytest.approx(optimize.brentq(dw, *bracket), abs=1e-12)
    xs = np.linspace(-2, 2, 9)[:, None]
    every = np.tile(np.arange(64), (len(xs), 1))
    assert np.allclose(p.loss(xs, every), p.value(xs))          # Σ s_i = 0: the mean is the well
    assert float(p.value(np.array([[g]]))[0]) < float(p.value(np.array([[l]]))[0])   # g is the global one
    assert list(p.basin(np.array([[g], [b - 1e-9], [b + 1e-9], [l]]))) == [0, 0, 1, 1]


@pytest.mark.parametrize("kind,dim", [("tilted_wells", 1), ("scaled_quadratic", 8), ("logistic_rare", 15),
                                      ("moving_target", 5)])
def test_gradients_match_finite_differences(kind, dim):
    p = OBJECTIVES[kind].build()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, dim))
    idx = None if p.n_terms is None else rng.integers(0, p.n_terms, size=(3, 4))
    for t in (0.2, 0.8):
        g = grad(lambda z: np.sum(p.loss(z, idx, t)))(x)
        h = 1e-6
        for j in range(dim):
            e = np.zeros_like(x)
            e[:, j] = h
            fd = (np.asarray(p.loss(x + e, idx, t)) - np.asarray(p.loss(x - e, idx, t))) / (2 * h)
            assert np.allclose(g[:, j], fd, rtol=1e-5, atol=1e-7), (kind, j)


def test_logistic_minimiser_matches_scipy():
    p = OBJECTIVES["logistic_rare"].build()
    f = lambda w: float(p.value(w[None, :])[0])
    g = lambda w: grad(lambda z: np.sum(p.loss(z)))(w[None, :])[0]
    ref = optimize.minimize(f, np.zeros(p.dim), jac=g, method="BFGS", options={"gtol": 1e-12})
    assert np.allclose(p.minimizer, ref.x, atol=1e-5)
    assert f(p.minimizer) == pytest.approx(p.minimum, abs=1e-14)
    assert p.small_coordinates == tuple(range(5, 15))


def test_scaled_quadratic_small_coordinates_and_moving_target_jump():
    q = OBJECTIVES["scaled_quadratic"].build(dim=8, decades=3.0)
    assert np.allclose(q.scales, 10.0 ** (-3 * np.arange(8) / 7))
    assert q.small_coordinates == (5, 6, 7)                    # a_i ≤ 10⁻² · max a
    m = OBJECTIVES["moving_target"].build(dim=2, shift=3.0, move_at=0.5)
    x = np.array([[0.0, 0.0], [3.0, 3.0]])
    assert list(m.gap(x, 0.49)) == [0.0, 9.0] and list(m.gap(x, 0.5)) == [9.0, 0.0]


# --------------------------------------------------------------------------- the trainer

def test_minibatch_sgd_matches_a_hand_written_loop():
    """Per-member permutations from (seed, 1), one per epoch; x ← x − λ (w'(x) + mean slopes)."""
    p = OBJECTIVES["tilted_wells"].build()
    from engine.objectives.tilted_wells import term_slopes
    slopes = term_slopes(64, 1.5, 0)
    rec = train(spec("tilted_wells", seed=7, lr=0.2, batch=4, steps=40))[0]
    x = p.initial_point(np.random.default_rng(7))[0]
    rng = np.random.default_rng([7, 1])
    for step in range(40):
        if step % 16 == 0:
            order = rng.permutation(64)
        idx = order[(step % 16) * 4:(step % 16 + 1) * 4]
        x = x - 0.2 * (x ** 3 - x + 0.25 + slopes[idx].mean())
    assert rec.final["x"][0] == pytest.approx(x, rel=1e-12)
    assert rec.final["examples"] == 160


def test_full_batch_gd_settles_when_the_closed_form_says():
    """GD on a separable quadratic: e_t = (1 − λ a_i)^t e_0, so coordinate i settles at the first t
    with |1 − λ a_i|^t ≤ tol."""
    lr, tol = 1.5, 1e-2
    rec = train(spec("scaled_quadratic", lr=lr, steps=4000))[0]
    a = np.asarray(OBJECTIVES["scaled_quadratic"].build().scales)
    expected = [int(math.ceil(math.log(tol) / math.log(abs(1 - lr * ai)))) for ai in a]
    got = rec.final["coordinate_steps"]
    assert all(abs(g - e) <= 1 for g, e in zip(got, expected)), (got, expected)
    # Effective step of SGD is λ everywhere; Adagrad's first logged step after t = 1 is α/√(g₀² + ε).
    assert set(rec.history["effective_step"][-1]) == {lr}
    ada = train(spec("scaled_quadratic", opt="adagrad", lr=0.5, steps=5))[0]
    q = OBJECTIVES["scaled_quadratic"].build()
    x0 = q.initial_point(np.random.default_rng(0))
    g0 = np.asarray(q.scales) * (x0 - q.minimizer)
    assert ada.history["step"][1] == 1
    assert np.allclose(ada.history["effective_step"][1], 0.5 / np.sqrt(g0 ** 2 + 1e-8), rtol=1e-12)


def test_moving_target_gap_phases():
    rec = train(spec("moving_target", opt="rmsprop", batch=8, steps=200))[0]
    before, after = rec.final["mean_gap_phases"]
    steps = np.asarray(rec.history["step"])
    gaps = np.asarray(rec.history["gap"])
    jump = gaps[steps == 100][0]
    assert jump > 10 * gaps[steps < 100][-1]                    # the target moved at t = 0.5
    assert before > 0 and after > 0


@pytest.mark.parametrize("kind,batch,opts", [
    ("tilted_wells", 4, ("sgd", "sgd")),
    ("moving_target", 8, ("adagrad", "rmsprop")),
    ("scaled_quadratic", None, ("sgd", "adagrad")),
    ("logistic_rare", 10, ("adagrad", "sgd")),
])
def test_grouped_equals_alone_bit_for_bit(kind, batch, opts):
    specs = [spec(kind, opt=opts[0], lr=HP[opts[0]]["lr"], seed=0, batch=batch, steps=60),
             spec(kind, opt=opts[1], lr=HP[opts[1]]["lr"] * 2, seed=1, batch=batch, steps=60),
             spec(kind, opt=opts[0], lr=HP[opts[0]]["lr"] * 50, seed=2, batch=batch, steps=60)]
    together = train(*specs)
    for i, s in enumerate(specs):
        alone = train(s)[0]
        for field in RESULT_FIELDS:
            assert getattr(together[i], field) == getattr(alone, field), (kind, i, field)


def test_divergence_in_the_extended_trainer_is_recorded():
    rec = train(spec("tilted_wells", lr=5.0, batch=4, steps=50))[0]
    assert rec.status == "diverged" and rec.diverged_at_step is not None


# --------------------------------------------------------------------------- analysis helpers

def test_wilson_matches_scipy():
    for k, n in ((12, 20), (0, 50), (50, 50), (31, 50)):
        ci = stats.binomtest(k, n).proportion_ci(method="wilson")
        assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


def _rec(study, oname, lr, seed, final, history=None, status="ok", kind="tilted_wells", budget=None):
    return make_record({"study": study, "seed": seed, "budget": budget or {"max_steps": 100},
                        "model": {"name": kind, "params": dict(OBJECTIVES[kind].params)},
                        "optimizer": {"name": oname, "kind": "sgd", "hp": {"lr": lr}}},
                       status=status, final=final, history=history)


def test_tuning_skips_grid_points_with_a_diverged_start():
    recs = [_rec("x-tuning", "gd", 0.1, s, {"mean_gap": 1.0}) for s in range(3)]
    recs += [_rec("x-tuning", "gd", 0.5, s, {"mean_gap": 0.1}) for s in range(2)]
    recs += [_rec("x-tuning", "gd", 0.5, 2, {}, status="diverged")]
    recs += [_rec("x-tuning", "gd", 0.3, s, {"mean_gap": 0.5}) for s in range(3)]
    assert tuned_choice(recs)["gd"]["hp"] == {"lr": 0.3}


def _text(cid):
    return CLAIMS[cid].text("en")


def test_adagrad_analysis_on_a_known_answer():
    """GD needs 1000 steps in the small coordinates, Adagrad 10: speedup log10 = 2 for every start."""
    recs = []
    for study in ("adagrad-quadratic", "adagrad-quadratic-tuning"):
        for oname, steps in (("gd", 1000), ("adagrad", 10)):
            for s in range(3):
                cs = [5, 5, 5, 5, 5, steps, steps, steps]
                hist = {"step": [0, 1, 10], "coordinate_error": [[1.0] * 8] * 3,
                        "effective_step": [[0.1] * 8] * 3, "gap": [1.0, 0.5, 0.1]}
                recs.append(_rec(study, oname, 0.1, s, {"mean_gap": 0.1, "coordinate_steps": cs}, hist,
                                 kind="scaled_quadratic", budget={"max_steps": 4000}))
    a = CLAIMS["adagrad-small-gradients"].analyze(recs, _text("adagrad-small-gradients"), {})
    est = a.quantities["quadratic_speedup_log10"]
    assert est.mean == pytest.approx(2.0) and est.n == 3
    assert a.quantities["logistic_speedup_log10"] is None
    unsettled = _rec("s", "gd", 0.1, 0, {"coordinate_steps": [1, None]}, budget={"max_steps": 50})
    assert settle_steps(unsettled, [0, 1]) == 51


def test_rmsprop_analysis_on_a_known_answer():
    # (i) the effective step change reads the first evaluation after the start and the last one.
    rec = make_record(history={"effective_step": [1e4, 0.1, 0.05, 0.01]})
    assert step_change(rec) == pytest.approx(-1.0)
    # (ii) Adagrad's error after the move is 10 × RMSprop's at every start.
    recs = []
    for study in ("rmsprop-moving-target", "rmsprop-moving-target-tuning"):
        for oname, after in (("adagrad", 1.0), ("rmsprop", 0.1)):
            for s in range(4):
                hist = {"step": [0, 1, 2], "gap": [1.0, 1.0, after], "effective_step": [[1.0] * 5] * 3}
                recs.append(_rec(study, oname, 0.1, s, {"mean_gap": 1.0, "mean_gap_phases": [0.5, after],
                                                        "steps": 2}, hist, kind="moving_target"))
    a = CLAIMS["rmsprop-improves-adagrad"].analyze(recs, _text("rmsprop-improves-adagrad"), {})
    assert a.quantities["tracking_log_ratio"].mean == pytest.approx(1.0)
    assert a.quantities["matrix_log_error_ratio"] is None        # no matrix records given
