"""The pieces of batch-local-optima: the rippled lattice against finite differences, autograd and
SciPy; the trainers' stopping rules (‖∇f‖ ≤ tol for objectives, the training loss's change per
epoch for networks) against hand-written loops and a hand-made case; the analysis on synthetic
records with a known answer."""
from __future__ import annotations

import math

import numpy as np
import pytest
from autograd import grad
from scipy import optimize

from engine.claims import CLAIMS
from engine.claims.verdict import wilson
from engine.executor import execute_group
from engine.objectives import OBJECTIVES
from engine.objectives.ripple_lattice import ridge, ridge_slope, term_tilts
from engine.training.network import _stop_converged
from tests.test_record import make_record

KIND = "ripple_lattice"
PARAMS = dict(OBJECTIVES[KIND].params)


def problem(**params):
    return OBJECTIVES[KIND].build(**{**PARAMS, **params})


# --------------------------------------------------------------------------- the landscape

def test_closed_form_gradient_matches_autograd_and_finite_differences():
    p = problem(dim=3)
    rng = np.random.default_rng(0)
    x = rng.uniform(-2.5, 2.5, size=(5, 3))
    idx = np.stack([rng.choice(64, 4, replace=False) for _ in range(5)])
    for batch in (None, idx):
        values, grads = p.loss_and_gradient(x, batch)
        assert values == pytest.approx(np.asarray(p.loss(x, batch)), rel=1e-12)
        auto = grad(lambda z: np.sum(p.loss(z, batch)))(x)
        assert grads == pytest.approx(auto, rel=1e-10, abs=1e-12)
        h = 1e-6
        for j in range(3):
            e = np.zeros_like(x)
            e[:, j] = h
            fd = (np.asarray(p.loss(x + e, batch)) - np.asarray(p.loss(x - e, batch))) / (2 * h)
            assert grads[:, j] == pytest.approx(fd, rel=1e-6, abs=1e-7)


def test_terms_average_to_the_mean_and_are_stationary_at_every_lattice_point():
    p = problem()
    tilts = term_tilts(64, 2, 1.0, 0)
    assert tilts.mean(axis=0) == pytest.approx(0, abs=1e-12) and tilts.std(axis=0) == pytest.approx(1.0)
    x = np.random.default_rng(1).uniform(-2.5, 2.5, size=(7, 2))
    every_term = np.mean([p.loss(x, np.full((7, 1), i)) for i in range(64)], axis=0)
    assert every_term == pytest.approx(p.gap(x), rel=1e-12)
    lattice = np.array([[n, m] for n in range(-3, 4) for m in range(-3, 4)], dtype=float)
    for i in range(64):
        _, g = p.loss_and_gradient(lattice, np.full((len(lattice), 1), i))
        assert np.abs(g).max() < 1e-12


def test_minima_are_the_lattice_points_found_by_scipy():
    """From near every lattice point of [−3, 3]², BFGS finds that point, of value (a/2)‖n‖²; the
    global minimum is 0 at the origin."""
    p = problem()
    f = lambda z: float(p.gap(z[None])[0])
    df = lambda z: p.loss_and_gradient(z[None])[1][0]
    for n in range(-3, 4):
        for m in range(-3, 4):
            res = optimize.minimize(f, np.array([n + 0.02, m - 0.02]), jac=df, method="BFGS", tol=1e-12)
            assert res.x == pytest.approx([n, m], abs=1e-6)
            assert res.fun == pytest.approx(0.5 * (n * n + m * m), abs=1e-10)
    assert p.minimum == 0.0 and f(np.zeros(2)) == 0.0


def test_one_maximum_between_neighbouring_integers():
    """h' changes sign exactly at the integers (minima) and once in between (a maximum)."""
    z = np.linspace(-4 + 1e-4, 4 - 1e-4, 80001)
    slope = ridge_slope(z, 1.0, 0.1)
    changes = z[1:][np.sign(slope[1:]) != np.sign(slope[:-1])]
    inner = [c for c in changes if abs(c - round(c)) > 1e-3]
    assert len(inner) == 8                                       # one per interval (n, n + 1)
    for c in inner:
        root = optimize.brentq(lambda t: ridge_slope(t, 1.0, 0.1), c - 1e-3, c + 1e-3)
        assert ridge(root, 1.0, 0.1) > ridge(np.floor(root), 1.0, 0.1)
        assert ridge(root, 1.0, 0.1) > ridge(np.ceil(root), 1.0, 0.1)


# --------------------------------------------------------------------------- stopping rules

def spec(lr, seed=0, batch=None, steps=500, tol=1e-6):
    return {"study": "t", "claim": "c", "vary": {}, "dataset": None,
            "model": {"name": KIND, "kind": KIND, "params": PARAMS},
            "optimizer": {"name": "sgd", "kind": "sgd", "hp": {"lr": lr}}, "batch": batch, "seed": seed,
            "budget": {"max_steps": steps, "until": {"grad_norm": tol}}}


def train(*specs):
    return execute_group([(f"k{i}", f"r{i}", s) for i, s in enumerate(specs)])


def untimed_result(rec) -> tuple:
    return rec.status, rec.diverged_at_step, rec.history, rec.final


def test_gd_stops_at_the_first_step_with_a_small_gradient():
    p = problem()
    x = p.initial_point(np.random.default_rng(3))
    for step in range(500):
        g = p.loss_and_gradient(x[None])[1][0]
        if np.linalg.norm(g) <= 1e-6:
            break
        x = x - 0.05 * g
    rec = train(spec(0.05, seed=3))[0]
    assert rec.final["converged"] and rec.final["steps"] == step
    assert rec.final["x"] == pytest.approx(x.tolist(), rel=1e-12)
    assert rec.final["grad_norm"] <= 1e-6 and rec.history["step"][-1] == step


def test_stopped_members_do_not_change_the_others_and_the_cap_is_reported():
    """Members that stop, and one that never converges (a step above 2/(4π²b) cannot settle at any
    minimum), give in one group the records they give alone, for GD and for SGD."""
    groups = [[spec(0.05, seed=1, steps=300), spec(0.8, seed=2, steps=300)],
              [spec(0.1, seed=4, batch=4, steps=4000), spec(0.02, seed=5, batch=4, steps=4000)]]
    for specs in groups:
        together = train(*specs)
        for s, rec in zip(specs, together):
            alone = train(s)[0]
            assert rec.final == alone.final and rec.history == alone.history
    # Ten members, most of which stop early: the stopped ones leave the computation (compaction)
    # and the others go on with the same numbers.
    specs = [spec(lr, seed=s, batch=4, steps=3000) for s, lr in enumerate([0.02, 0.05, 0.1, 0.2, 0.3] * 2)]
    specs += [spec(0.9, seed=20, batch=4, steps=3000), spec(5.0, seed=21, batch=4, steps=3000)]
    together = train(*specs)
    assert sum(r.final["converged"] for r in together) == 10 and together[-1].status == "diverged"
    for s, rec in zip(specs, together):
        assert untimed_result(rec) == untimed_result(train(s)[0])
    gd = train(*groups[0])
    assert gd[0].final["converged"] and not gd[1].final["converged"] and gd[1].final["steps"] == 300
    sgd = train(*groups[1])
    assert all(r.final["converged"] and r.final["examples"] == r.final["steps"] * 4 for r in sgd)


class _Members:
    def __init__(self, k):
        self.active = np.ones(k, bool)

    def freeze(self, mask):
        self.active &= ~mask


class _Losses:
    """A stand-in model whose loss on the training split follows a script, one row per epoch."""

    def __init__(self, rows):
        self.rows = iter(rows)

    def loss(self, params, batch):
        return np.array(next(self.rows))


def test_network_stopping_rule_on_a_hand_made_case():
    """Member 0 keeps falling by 10⁻³ per epoch; member 1 is flat from epoch 2 on; member 2 has one
    quiet epoch (a turning point) and moves again, then settles.  Window 3, tol 10⁻⁴."""
    losses = [[1.000, 1.0, 0.50], [0.999, 0.8, 0.50005], [0.998, 0.79995, 0.49], [0.997, 0.79995, 0.48],
              [0.996, 0.79999, 0.48], [0.995, 0.79999, 0.48], [0.994, 0.79999, 0.48], [0.993, 0.7, 0.48]]
    model, members = _Losses(losses[1:]), _Members(3)
    converged, quiet, previous = [None] * 3, np.zeros(3, int), np.array(losses[0])
    for epoch in range(1, len(losses)):
        previous = _stop_converged(model, None, None, previous, quiet, {"train_loss_change": 1e-4, "window": 3},
                                   members, converged, epoch)
    assert converged == [None, 4, 6]
    assert previous.tolist() == [0.993, 0.79999, 0.48]      # stopped members keep their loss


# --------------------------------------------------------------------------- the analysis

def _rec(study, oname, lr, seed, final, kind=KIND, dataset=None):
    return make_record({"study": study, "seed": seed, "budget": {"max_steps": 100},
                        "model": {"name": kind, "params": dict(OBJECTIVES[kind].params) if kind == KIND else {}},
                        "dataset": dataset, "optimizer": {"name": oname, "kind": "sgd", "hp": {"lr": lr}}},
                       final=final)


def test_analysis_on_a_known_answer():
    """Lattice: at the tuned step (0.2 for both) GD ends global from 10 of 20 starts, SGD from all
    20 but one that did not converge (left out of every quantity).  The step where a tuning start
    did not converge (0.4) is never chosen, even with the lowest gap.  MLP: GD's loss is 10× SGD's
    on the 4 seeds where both converged."""
    recs = []
    for study, oname in (("local-optima-lattice-gd", "gd"), ("local-optima-lattice-sgd", "minibatch-sgd")):
        for lr, gap, ok in ((0.1, 0.5, True), (0.2, 0.2, True), (0.4, 0.01, False)):
            recs += [_rec(study + "-tuning", oname, lr, 100 + s, {"final_gap": gap, "converged": ok or s > 0})
                     for s in range(4)]
            for s in range(20):
                if oname == "minibatch-sgd":
                    basin, ok = 0, s != 7
                else:
                    basin, ok = int(s % (2 if lr == 0.2 else 4) != 0), True
                recs.append(_rec(study, oname, lr, s, {"final_gap": 0.0, "basin": basin, "converged": ok,
                                                       "steps": 10, "x": [0.0, 0.0]}))
    mlp = {"name": "digits"}
    for oname, loss in (("gd", 0.03), ("minibatch-sgd", 0.003)):
        recs += [_rec("local-optima-mlp-" + ("gd" if oname == "gd" else "sgd"), oname, 1.0, s,
                      {"train_loss_full": loss, "converged": s != 2, "epochs": 50}, kind="mlp", dataset=mlp)
                 for s in range(5)]
    a = CLAIMS["batch-local-optima"].analyze(recs, CLAIMS["batch-local-optima"].text("en"), {})
    lattice = a.numbers["lattice"]
    assert lattice["gd"]["lr"] == 0.2 and lattice["minibatch-sgd"]["lr"] == 0.2
    assert lattice["minibatch-sgd"]["converged"] == 19
    gd = a.quantities["global_fraction_gd"]
    assert gd.mean == pytest.approx(0.5) and (gd.low, gd.high) == pytest.approx(wilson(10, 20))
    gain = a.quantities["global_fraction_gain"]
    assert gain.n == 19 and gain.mean == pytest.approx(sum(s % 2 != 0 for s in range(20) if s != 7) / 19)
    same = a.quantities["global_fraction_gain_same_step"]
    assert same.mean == pytest.approx(gain.mean) and same.unit == "start"
    ratio = a.quantities["mlp_converged_loss_log_ratio"]
    assert ratio.n == 4 and ratio.mean == pytest.approx(1.0) and ratio.unit == "seed"
    assert math.isclose(a.numbers["mlp"]["gd"]["converged"], 4)


def test_flow_minimum_is_where_gradient_flow_goes():
    """Against SciPy's ODE solver for ẋ = −∇F from starts in [−2.5, 2.5]², and the maxima against
    SciPy's bounded minimiser of −h."""
    from scipy.integrate import solve_ivp
    from engine.objectives.ripple_lattice import flow_minimum, ridge_maxima

    for n, m in zip(range(-3, 3), ridge_maxima(1.0, 0.1, 3)):
        res = optimize.minimize_scalar(lambda z: -ridge(z, 1.0, 0.1), bounds=(n + 1e-6, n + 1 - 1e-6),
                                       method="bounded", options={"xatol": 1e-10})
        assert m == pytest.approx(res.x, abs=1e-6)
    p = problem()
    for x0 in np.random.default_rng(2).uniform(-2.5, 2.5, size=(12, 2)):
        sol = solve_ivp(lambda t, x: -p.loss_and_gradient(x[None])[1][0], (0, 200), x0, rtol=1e-10, atol=1e-12)
        assert np.rint(sol.y[:, -1]).tolist() == flow_minimum(x0, 1.0, 0.1).tolist()


@pytest.mark.parametrize("old,new,message", [
    ("{max_steps: 500, until: {grad_norm: 1.0e-6}}", "{max_steps: 500, until: {train_loss_change: 1.0e-6}}",
     "until.train_loss_change applies to networks only, not to model 'ripple-lattice'"),
    ("{epochs: 400, evals: 12, until: {train_loss_change: 1.0e-4, window: 5}}",
     "{epochs: 400, evals: 12, until: {grad_norm: 1.0e-4}}",
     "until.grad_norm applies to analytic objectives only, not to model 'mlp-small-digits'"),
    ("{epochs: 400, evals: 12, until: {train_loss_change: 1.0e-4, window: 5}}",
     "{epochs: 400, evals: 12, until: {grad_norm: 1.0e-4, window: 5}}", "is not valid under any of the given schemas"),
])
def test_a_stopping_rule_for_the_wrong_kind_of_model_is_refused(tmp_path, old, new, message):
    from pathlib import Path
    from engine.config.errors import ConfigError
    from engine.config.validate import load_experiments

    text = (Path(__file__).resolve().parent.parent / "experiments.yaml").read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "experiments.yaml"
    bad.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_experiments(bad, "full")


def test_network_members_that_converge_at_different_epochs_train_as_they_do_alone():
    """GD on the small MLP: a rate that kills the network (it stops early, its loss flat at log 10)
    and one that keeps descending, give in one group the records they give alone."""
    from tests.test_training import spec as network_spec, untimed

    budget = {"epochs": 60, "evals": 3, "until": {"train_loss_change": 1e-3, "window": 3}}
    specs = [network_spec(seed=s, lr=lr, kind="sgd", params={"hidden": [32]}, batch="full", budget=budget)
             for s, lr in ((0, 8.0), (1, 1.0))]
    together = execute_group([(f"k{i}", f"r{i}", s) for i, s in enumerate(specs)])
    for s, rec in zip(specs, together):
        assert untimed(rec) == untimed(execute_group([("k", "r", s)])[0])
    dead, alive = together
    assert dead.final["converged"] and dead.final["train_loss_full"] == pytest.approx(math.log(10), abs=1e-3)
    assert dead.final["epochs"] < alive.final["epochs"] and alive.final["train_loss_full"] < 1.0
