"""The pieces of adagrad-small-gradients and rmsprop-improves-adagrad (and the tilted wells): the new
objectives against closed forms, finite differences, NumPy and SciPy; the extended objective
trainer (minibatches, moving targets, per-coordinate tracking) against hand-written references,
and grouped = alone; the analyses on synthetic records with known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest
from autograd import grad
from scipy import optimize, stats

from engine.claims import CLAIMS
from engine.claims._tuned import tuned_choice
from engine.claims.verdict import wilson
from engine.claims.adagrad_small_gradients import direction_steps, settle_steps
from engine.claims.rmsprop_improves_adagrad import (_matrix, family_tests, first_late_move, late_errors,
                                                    step_change, steps_at_moves)
from engine.claims.base import Analysis
from engine.config.validate import load_experiments
from engine.executor import execute_group
from engine.objectives import OBJECTIVES
from engine.objectives.moving_target import measurement_windows
from engine.plan import expand
from engine.training.objective import _checkpoints
from tests.test_record import make_record

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
# A short moving target: 3 moves every 10 steps, transients of 4 steps, T = 40.
SHORT = {"moves": 3, "period": 10, "transient": 4}

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


@pytest.mark.parametrize("kind,dim,params", [("tilted_wells", 1, {}), ("scaled_quadratic", 8, {}),
                                             ("scaled_quadratic", 8, {"rotation_seed": 3}),
                                             ("logistic_rare", 15, {}), ("moving_target", 5, {})])
def test_gradients_match_finite_differences(kind, dim, params):
    p = OBJECTIVES[kind].build(**params)
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


def test_scaled_quadratic_small_coordinates():
    q = OBJECTIVES["scaled_quadratic"].build(dim=8, decades=3.0)
    assert np.allclose(q.scales, 10.0 ** (-3 * np.arange(8) / 7))
    assert q.small_coordinates == (5, 6, 7)                    # a_i ≤ 10⁻² · max a
    assert np.array_equal(q.basis, np.eye(8))


def _hessian(p, x0, h=1e-5):
    """Central finite differences of autograd's gradient, column by column."""
    g = lambda x: grad(lambda z: np.sum(p.loss(z)))(x[None, :])[0]
    cols = [(g(x0 + h * e) - g(x0 - h * e)) / (2 * h) for e in np.eye(p.dim)]
    return np.stack(cols, axis=1)


def test_rotated_quadratic_has_the_same_curvatures_in_a_random_basis():
    axis = OBJECTIVES["scaled_quadratic"].build()
    rot = OBJECTIVES["scaled_quadratic"].build(rotation_seed=0)
    q = rot.basis
    assert np.allclose(q.T @ q, np.eye(8), atol=1e-12)
    assert np.max(np.abs(q - np.eye(8))) > 0.3                 # really rotated
    assert not np.array_equal(q, OBJECTIVES["scaled_quadratic"].build(rotation_seed=1).basis)
    h = _hessian(rot, np.zeros(8))
    assert np.allclose(h, h.T, atol=1e-8)
    assert np.allclose(np.linalg.eigvalsh(h), np.sort(axis.scales), rtol=1e-6, atol=1e-9)
    for i in (0, 7):                                          # q_i is the direction of curvature a_i
        assert np.allclose(h @ q[:, i], axis.scales[i] * q[:, i], atol=1e-8)
    # The start lies at the same distances along the q_i as the axis-aligned start along the axes.
    x0r, x0a = (p.initial_point(np.random.default_rng(5)) for p in (rot, axis))
    assert np.allclose(rot.coordinate_error(x0r[None, :])[0], axis.coordinate_error(x0a[None, :])[0], rtol=1e-12)
    assert float(rot.value(x0r[None, :])[0]) == pytest.approx(float(axis.value(x0a[None, :])[0]), rel=1e-12)


def test_direction_steps_are_rayleigh_quotients():
    q = OBJECTIVES["scaled_quadratic"].build(rotation_seed=2).basis
    d = np.random.default_rng(0).uniform(0.1, 2.0, size=(3, 8))
    expected = np.array([[q[:, i] @ np.diag(row) @ q[:, i] for i in range(8)] for row in d])
    assert np.allclose(direction_steps(d, q), expected, rtol=1e-12)
    assert np.array_equal(direction_steps(d, None), d)


def test_moving_target_schedule_by_hand():
    """T = 40: the target is 0 on steps 0-9, 3·1 on 10-19, 0 on 20-29, 3·1 on 30-40."""
    m = OBJECTIVES["moving_target"].build(dim=2, shift=3.0, **SHORT)
    assert m.steps == 40
    expected = [0.0] * 10 + [3.0] * 10 + [0.0] * 10 + [3.0] * 11
    assert [float(m.target(step / 40)[0]) for step in range(41)] == expected
    x = np.array([[0.0, 0.0], [3.0, 3.0]])
    assert list(m.gap(x, 9 / 40)) == [0.0, 9.0] and list(m.gap(x, 10 / 40)) == [9.0, 0.0]
    assert m.windows == (("start", 0, 0, 9), ("transient", 1, 10, 13), ("floor", 1, 14, 19),
                         ("transient", 2, 20, 23), ("floor", 2, 24, 29),
                         ("transient", 3, 30, 33), ("floor", 3, 34, 40))
    assert m.phases == tuple((s - 0.5) / 40 for s in (10, 14, 20, 24, 30, 34))
    with pytest.raises(ValueError, match="40 steps"):
        m.loss(x, None, 0.5 / 40)                               # a run of another length
    with pytest.raises(ValueError):
        OBJECTIVES["moving_target"].build(moves=3, period=10, transient=10)


def test_late_windows_and_first_late_move_by_hand():
    assert [first_late_move(m) for m in (1, 2, 3, 9, 19)] == [1, 2, 2, 5, 10]
    for moves in range(1, 25):                                 # the smallest m with 2 m P ≥ (M + 1) P
        m = first_late_move(moves)
        assert 2 * m >= moves + 1 and 2 * (m - 1) < moves + 1
    windows = measurement_windows(3, 10, 4)
    means = [100.0, 8.0, 1.0, 6.0, 2.0, 4.0, 3.0]              # start, (transient, floor) × 3
    got = late_errors(means, windows, first_late_move(3))       # moves 2 and 3: steps 20-40
    assert got["transient"] == pytest.approx((6.0 * 4 + 4.0 * 4) / 8)
    assert got["floor"] == pytest.approx((2.0 * 6 + 3.0 * 7) / 13)
    assert got["tracking"] == pytest.approx((6.0 * 4 + 2.0 * 6 + 4.0 * 4 + 3.0 * 7) / 21)


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


def test_gradient_descent_is_blind_to_the_rotation():
    """GD's iterates in the eigenbasis are those of the axis-aligned problem from the same seed:
    the same errors along the q_i, the same settling steps, to rounding."""
    axis, rot = (train(spec("scaled_quadratic", params, lr=1.5, seed=4, steps=3000))[0]
                 for params in ({}, {"rotation_seed": 0}))
    assert rot.final["coordinate_steps"] == axis.final["coordinate_steps"]
    assert np.allclose(rot.history["coordinate_error"], axis.history["coordinate_error"], rtol=1e-9, atol=1e-14)
    assert rot.final["mean_gap"] == pytest.approx(axis.final["mean_gap"], rel=1e-10)


def test_moving_target_phases_are_the_windows_means_of_the_logged_gaps():
    """With T = 80 every step is logged: each phase's mean gap is the mean of its window's steps."""
    params = {"moves": 3, "period": 20, "transient": 5}
    m = OBJECTIVES["moving_target"].build(**params)
    assert set(range(81)) <= set(_checkpoints(80))
    for opt in ("adagrad", "rmsprop"):
        rec = train(spec("moving_target", params, opt=opt, batch=8, steps=80))[0]
        gaps = np.asarray(rec.history["gap"])
        assert rec.history["step"] == list(range(81))
        by_hand = [gaps[first:last + 1].mean() for _, _, first, last in m.windows]
        assert np.allclose(rec.final["mean_gap_phases"], by_hand, rtol=1e-12)
        # the effective step logged at each move is the optimizer's state after m P updates
        assert steps_at_moves(rec, 20, 3) == [float(np.median(rec.history["effective_step"][s]))
                                              for s in (20, 40, 60)]


def test_the_moving_target_studies_run_their_schedule_and_log_the_moves():
    """Every run lasts its schedule's T steps; the reported ones log the state at every move."""
    for profile in ("full", "quick"):
        for run in expand(load_experiments(ROOT / "experiments.yaml", profile)):
            model = run.spec["model"]
            if model["kind"] != "moving_target":
                continue
            m = OBJECTIVES["moving_target"].build(**model["params"])
            assert run.spec["budget"]["max_steps"] == m.steps, (profile, run.spec["study"])
            if not run.spec["study"].endswith("-tuning"):
                moves = len(m.windows) // 2
                assert {k * m.windows[1][2] for k in range(1, moves + 1)} <= set(_checkpoints(m.steps))


@pytest.mark.parametrize("kind,batch,opts", [
    ("tilted_wells", 4, ("sgd", "sgd")),
    ("moving_target", 8, ("adagrad", "rmsprop")),
    ("scaled_quadratic", None, ("sgd", "adagrad")),
    ("rotated_quadratic", None, ("sgd", "adagrad")),
    ("logistic_rare", 10, ("adagrad", "sgd")),
])
def test_grouped_equals_alone_bit_for_bit(kind, batch, opts):
    kind, params = {"moving_target": ("moving_target", {"moves": 5, "period": 10, "transient": 3}),
                    "rotated_quadratic": ("scaled_quadratic", {"rotation_seed": 0})}.get(kind, (kind, None))
    specs = [spec(kind, params, opt=opts[0], lr=HP[opts[0]]["lr"], seed=0, batch=batch, steps=60),
             spec(kind, params, opt=opts[1], lr=HP[opts[1]]["lr"] * 2, seed=1, batch=batch, steps=60),
             spec(kind, params, opt=opts[0], lr=HP[opts[0]]["lr"] * 50, seed=2, batch=batch, steps=60)]
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


def _rec(study, oname, lr, seed, final, history=None, status="ok", kind="tilted_wells", budget=None, params=None):
    return make_record({"study": study, "seed": seed, "budget": budget or {"max_steps": 100},
                        "model": {"name": kind, "params": {**OBJECTIVES[kind].params, **(params or {})}},
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
    """GD needs 1000 steps in the small coordinates, Adagrad 10: speedup log10 = 2 for every start;
    on the rotated problem both need 1000: speedup 0, reported beside the criteria."""
    recs = []
    for base, ada_steps, params in (("adagrad-quadratic", 10, {}), ("adagrad-rotated", 1000, {"rotation_seed": 0})):
        for study in (base, base + "-tuning"):
            for oname, steps in (("gd", 1000), ("adagrad", ada_steps)):
                for s in range(3):
                    cs = [5, 5, 5, 5, 5, steps, steps, steps]
                    hist = {"step": [0, 1, 10], "coordinate_error": [[1.0] * 8] * 3,
                            "effective_step": [[0.1] * 8] * 3, "gap": [1.0, 0.5, 0.1]}
                    recs.append(_rec(study, oname, 0.1, s, {"mean_gap": 0.1, "coordinate_steps": cs}, hist,
                                     kind="scaled_quadratic", budget={"max_steps": 4000}, params=params))
    a = CLAIMS["adagrad-small-gradients"].analyze(recs, _text("adagrad-small-gradients"), {})
    est = a.quantities["quadratic_speedup_log10"]
    assert est.mean == pytest.approx(2.0) and est.n == 3
    assert a.quantities["rotated_speedup_log10"].mean == pytest.approx(0.0)
    assert a.quantities["logistic_speedup_log10"] is None
    # Adagrad's effective step along the rotated directions: 0.1 · Σ_j Q_ji² = 0.1
    assert a.numbers["rotated"]["adagrad"]["effective_step_end_small"] == pytest.approx(0.1)
    assert [row[0] for row in a.tables[-1]["rows"]] == ["badly scaled quadratic", "rotated quadratic"]
    unsettled = _rec("s", "gd", 0.1, 0, {"coordinate_steps": [1, None]}, budget={"max_steps": 50})
    assert settle_steps(unsettled, [0, 1]) == 51


def _moving_rec(study, oname, lr, seed, phases, steps_at, mean_gap):
    model = {"name": "moving-target", "kind": "moving_target",
             "params": {**OBJECTIVES["moving_target"].params, **SHORT}}
    history = {"step": [0, 5, 10, 20, 30, 40], "gap": [1.0] * 6,
               "effective_step": [[9.0] * 5, [9.0] * 5] + [[v] * 5 for v in steps_at] + [[0.01] * 5]}
    return make_record({"study": study, "seed": seed, "budget": {"max_steps": 40}, "model": model,
                        "optimizer": {"name": oname, "kind": oname, "hp": {"lr": lr}}},
                       final={"mean_gap": mean_gap, "mean_gap_phases": phases, "steps": 40}, history=history)


def test_rmsprop_moving_target_analysis_on_a_known_answer():
    """T = 40, moves at 10, 20, 30; late = moves 2 and 3 (steps 20-40).  Adagrad: transients 8,
    floors 1, effective step 1, 0.5, 0.25 at the moves; RMSprop: 2 everywhere, step 0.3."""
    assert step_change(make_record(history={"effective_step": [1e4, 0.1, 0.05, 0.01]})) == pytest.approx(-1.0)
    shapes = {"adagrad": ([100.0, 8, 1, 8, 1, 8, 1], [1.0, 0.5, 0.25]),
              "rmsprop": ([100.0, 2, 2, 2, 2, 2, 2], [0.3, 0.3, 0.3])}
    recs = []
    for study in ("rmsprop-moving-target", "rmsprop-moving-target-tuning"):
        for oname, (phases, steps_at) in shapes.items():
            for lr, score in ((0.1, 1.0), (0.2, 2.0), (0.4, 3.0)):
                recs += [_moving_rec(study, oname, lr, s, phases, steps_at, score) for s in range(4)]
    a = CLAIMS["rmsprop-improves-adagrad"].analyze(recs, _text("rmsprop-improves-adagrad"), {})
    q = a.quantities
    assert q["adagrad_step_log_change"].mean == pytest.approx(math.log10(0.25))
    assert q["rmsprop_step_log_change"].mean == pytest.approx(0.0)
    assert q["late_tracking_log_ratio"].mean == pytest.approx(math.log10((8 * 4 + 6 + 8 * 4 + 7) / 21 / 2))
    assert q["late_transient_log_ratio"].mean == pytest.approx(math.log10(4))
    assert q["late_floor_log_ratio"].mean == pytest.approx(math.log10(0.5))
    assert q["late_tracking_log_ratio"].n == 4 and q["late_tracking_log_ratio"].unit == "start"
    assert a.numbers["moving_target"]["adagrad"]["lr"] == 0.1 and a.numbers["moving_target"]["adagrad"]["at_edge"]
    assert q["matrix_families_worse"] is None                   # no matrix records given
    assert [f["id"] for f in a.figures] == ["rmsprop-moving-target"]


def test_family_tests_against_scipy_and_holm_by_hand():
    ratios = {"a": [0.50, 0.52, 0.49, 0.51], "b": [-0.30, -0.31, -0.29, -0.30], "c": [0.3, -0.2, 0.1, -0.25],
              "d": [0.4]}
    got = family_tests(ratios)
    p = {f: stats.ttest_1samp(ratios[f], 0.0).pvalue for f in "abc"}
    for f in "abc":
        assert got[f]["p"] == pytest.approx(p[f], rel=1e-12)
    order = sorted("abc", key=lambda f: p[f])                 # Holm by hand: 3 p, 2 p, 1 p, running max
    adj, running = {}, 0.0
    for rank, f in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * p[f]))
        adj[f] = running
    for f in "abc":
        assert got[f]["p_holm"] == pytest.approx(adj[f], rel=1e-12)
    assert [got[f]["outcome"] for f in "abcd"] == ["better", "worse", "no difference", "no difference"]
    assert got["d"]["p"] is None and got["a"]["estimate"].n == 4


def test_matrix_part_counts_families_judged_on_their_seeds():
    def cell(errors_ada, errors_rms, metric="test_mse"):
        out = {}
        for o, errors in (("adagrad", errors_ada), ("rmsprop", errors_rms)):
            finals = [make_record({"seed": s, "optimizer": {"name": o, "hp": {"lr": 0.1}}}, final={metric: e})
                      for s, e in enumerate(errors)]
            out[o] = {"finals": finals, "best": finals[0]}
        return out
    cells = {"matrix-x": cell([1.0, 1.1, 0.9, 1.0], [0.1, 0.12, 0.08, 0.1]),             # RMSprop 10× better
             "matrix-y": cell([0.5, 0.52, 0.49, 0.5], [1.0, 1.0, 1.0, 1.02]),             # RMSprop 2× worse
             "matrix-z": cell([0.2, 0.9, 0.5], [0.8, 0.7, 0.6], metric="test_accuracy")}  # 1 − accuracy
    a = Analysis(quantities={})
    _matrix(cells, _text("rmsprop-improves-adagrad"), a)
    assert a.quantities["matrix_families_worse"].mean == 1 and a.quantities["matrix_families_worse"].method == "exact"
    assert a.quantities["matrix_families_better"].mean == 1 and a.quantities["matrix_families_worse"].n == 3
    z = a.numbers["matrix"]["matrix-z"]
    assert z["log10_ratio"] == pytest.approx([math.log10(0.8 / 0.2), math.log10(0.1 / 0.3), math.log10(0.5 / 0.4)])
    assert [a.numbers["matrix"][f]["outcome"] for f in ("matrix-x", "matrix-y", "matrix-z")] == \
        ["better", "worse", "no difference"]
