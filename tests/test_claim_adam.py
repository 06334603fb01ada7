"""adam-combines and heuristics-no-theory: the reduction of Adam to RMSprop, the procedure that
shows it, the width of the good learning-rate range, and both analyses on synthetic records."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from engine.claims import CLAIMS
from engine.claims.adam_combines import good_range
from engine.claims.heuristics_no_theory import best_set, family_scores, seed_ranks, welch_tied
from engine.optim.adam import ADAM
from engine.optim.rmsprop import RMSPROP
from engine.procedures import PROCEDURES
from tests.test_record import make_record


def _gradients(steps=50, k=3, p=5, seed=0):
    rng = np.random.default_rng(seed)
    # gradients spanning orders of magnitude, with sign changes and an exact zero
    g = rng.standard_normal((steps, k, p)) * np.logspace(-3, 2, p)
    g[:, 0, 0] = 0.0
    return g


@pytest.mark.parametrize("beta2", [0.9, 0.999])
def test_adam_beta1_zero_is_rmsprop_with_bias_corrected_v_by_hand(beta2):
    """Adam(β₁ = 0) step by step against RMSprop's v_t with v̂_t = v_t/(1 − β₂ᵗ) by hand.

    ε placement: outside the root in both, θ ← θ − α g/(√v̂_t + ε) (the lecture's RMSprop slide
    and Kingma & Ba); RMSprop's own state supplies v_t = β v_{t−1} + (1 − β) g².
    """
    alpha, eps = 0.01, 1e-8
    grads = _gradients()
    theta = np.zeros(grads.shape[1:])
    adam_hp = ADAM.resolve({"lr": alpha, "beta1": 0.0, "beta2": beta2, "eps": eps})
    rms_hp = RMSPROP.resolve({"lr": alpha, "beta": beta2, "eps": eps, "eps_placement": "outside"})
    a_theta, a_state = theta, ADAM.init(theta)
    h_theta, r_state = theta, RMSPROP.init(theta)
    for t, g in enumerate(grads, start=1):
        a_theta, a_state = ADAM.update(a_theta, g, a_state, adam_hp)
        _, r_state = RMSPROP.update(h_theta, g, r_state, rms_hp)       # RMSprop's v_t
        v_hat = r_state["v"] / (1 - beta2 ** t)                          # by hand
        h_theta = h_theta - alpha * g / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(a_state["v"], r_state["v"], rtol=0, atol=0)
        np.testing.assert_allclose(a_theta, h_theta, rtol=1e-13, atol=1e-15)


def test_bias_correction_is_a_rate_warm_up_of_rmsprop():
    """RMSprop's own update with lr α√c_t and ε√c_t (c_t = 1 − β₂ᵗ) is Adam at β₁ = 0."""
    alpha, beta2, eps = 0.003, 0.999, 1e-8
    grads = _gradients(seed=1)
    theta = np.ones(grads.shape[1:])
    adam_hp = ADAM.resolve({"lr": alpha, "beta1": 0.0, "beta2": beta2, "eps": eps})
    rms_hp = RMSPROP.resolve({"lr": alpha, "beta": beta2, "eps": eps})
    a, sa = theta, ADAM.init(theta)
    r, sr = theta, RMSPROP.init(theta)
    for t, g in enumerate(grads, start=1):
        a, sa = ADAM.update(a, g, sa, adam_hp)
        c = 1 - beta2 ** t
        r, sr = RMSPROP.update(r, g, sr, {**rms_hp, "lr": alpha * math.sqrt(c), "eps": eps * math.sqrt(c)})
        np.testing.assert_allclose(a, r, rtol=1e-13, atol=1e-15)


def test_uncorrected_rmsprop_first_step_is_larger_by_one_over_sqrt_one_minus_beta():
    g = np.array([[0.5, -2.0, 3.0]])
    beta = 0.9
    a, _ = ADAM.update(np.zeros_like(g), g, ADAM.init(g), ADAM.resolve({"lr": 1.0, "beta1": 0.0, "beta2": beta, "eps": 0.0}))
    r, _ = RMSPROP.update(np.zeros_like(g), g, RMSPROP.init(g), RMSPROP.resolve({"lr": 1.0, "beta": beta, "eps": 0.0}))
    np.testing.assert_allclose(a, -np.sign(g))
    np.testing.assert_allclose(r, -np.sign(g) / math.sqrt(1 - beta))


def _procedure_spec(seed, noise=1.0, dim=4, steps=120):
    proc = PROCEDURES["adam-rmsprop"]
    return {"seed": seed, "model": {"name": "q", "kind": "quadratic", "params": {"dim": dim, "kappa": 50.0}},
            "procedure": {"kind": "adam-rmsprop",
                          "params": proc.resolve({"lr": 0.05, "steps": steps, "noise": noise})}}


def test_procedure_outputs():
    outs = PROCEDURES["adam-rmsprop"].run([_procedure_spec(0), _procedure_spec(1), _procedure_spec(2, noise=0.0, dim=2)])
    assert [o["status"] for o in outs] == ["ok"] * 3
    for o in outs:
        f, h = o["final"], o["history"]
        assert f["max_rel_diff_bias_corrected"] < 1e-12
        assert f["max_rel_diff_uncorrected"] > 1e-3
        assert len(h["diff_bias_corrected"]) == len(h["step"]) == 121
        assert h["diff_bias_corrected"][0] == 0.0 and h["diff_uncorrected"][0] == 0.0
    assert "path_adam" in outs[2]["history"] and "path_adam" not in outs[0]["history"]
    assert len(outs[2]["history"]["path_rmsprop_bc"]) == 121
    # different seeds: different starts and noise
    assert outs[0]["final"]["final_value_adam"] != outs[1]["final"]["final_value_adam"]
    # deterministic
    again = PROCEDURES["adam-rmsprop"].run([_procedure_spec(0)])[0]
    assert again["final"] == outs[0]["final"]


def test_good_range_known_answers():
    lrs = 10.0 ** np.arange(5)                      # log10: 0 … 4
    r = good_range(lrs, [0.0, 1.0, 1.0, 1.0, 0.0], margin=0.5)
    assert r["width"] == pytest.approx(3.0)          # plateau 1–3 plus half a decade each side
    assert r["low"] == pytest.approx(10 ** 0.5) and r["high"] == pytest.approx(10 ** 3.5)
    assert not r["censored"]
    r = good_range(lrs, [1.0, 0.9, 0.2, 0.1, 0.0], margin=0.05)
    assert r["width"] == pytest.approx(0.5) and r["censored"]
    # a diverged point (NaN) counts as 0; unordered input is sorted
    r = good_range(lrs[::-1], [np.nan, 0.96, 0.97, 0.9, 0.0][::-1], margin=0.02)
    assert r["best_lr"] == pytest.approx(100.0)
    assert r["width"] == pytest.approx(0.01 / 0.96 + 1 + (0.97 - 0.95) / (0.97 - 0.9), rel=1e-9)


def _network_record(study, model, oname, lr, seed, final, status="ok", claim="x"):
    return make_record({"study": study, "claim": claim, "model": {"name": model, "kind": "mlp"},
                        "optimizer": {"name": oname, "hp": {"lr": lr}}, "seed": seed, "dataset": {"name": "d"}},
                       status=status, final=final if status == "ok" else {})


def _text(claim_id):
    return CLAIMS[claim_id].text("en")


def test_adam_sensitivity_analysis_on_synthetic_curves():
    lrs = 10.0 ** np.arange(-4, 1.01, 0.5)
    def tent(center, half, slope):     # accuracy 0.9 within `half` decades of center, then falling
        x = np.log10(lrs)              # `slope` per decade (kinks on grid points: interpolation exact)
        return np.clip(0.9 - slope * np.maximum(np.abs(x - center) - half, 0), 0, 1)
    records = []
    for study in ("s1", "s2"):
        for seed in (0, 1, 2):
            for oname, half, slope in (("adam", 1.0, 0.2 / (1 + 0.1 * seed)), ("minibatch-sgd", 0.5, 0.2),
                                       ("momentum", 0.5, 0.1)):
                for lr, acc in zip(lrs, tent(-2.0, half, slope)):
                    records.append(_network_record(study, "m", oname, float(lr), seed, {"val_accuracy": float(acc)},
                                                   claim="adam-combines"))
    studies = {"s1": {"claim": "adam-combines"}, "s2": {"claim": "adam-combines"}}
    a = CLAIMS["adam-combines"].analyze(records, _text("adam-combines"), studies)
    # good range = 2·half + 2·(0.02/slope) decades
    assert a.quantities["width_sgd"].mean == pytest.approx(1.2)
    assert a.quantities["width_momentum"].mean == pytest.approx(1.4)
    assert a.quantities["width_adam"].mean == pytest.approx(2.22)
    assert a.quantities["width_adam"].values == pytest.approx((2.2, 2.22, 2.24))
    assert a.quantities["width_adam_minus_sgd"].mean == pytest.approx(1.02)
    assert a.quantities["width_adam_minus_sgd"].n == 3
    assert a.quantities["width_adam_minus_sgd"].low > 0
    assert any(f["id"] == "adam-lr-sensitivity" for f in a.figures)


def _matrix(winners: dict, spread=0.002, seeds=(0, 1, 2), diverge=()):
    """Records and studies of a synthetic matrix: family → optimizer → mean accuracy."""
    records, studies = [], {}
    rng = np.random.default_rng(0)
    for fam, means in winners.items():
        studies[fam] = {"claim": "optimizer-matrix", "optimizers": list(means), "seeds": list(seeds),
                        "tune": {"metric": "val_accuracy", "mode": "max"}}
        for oname, mu in means.items():
            for seed in seeds:
                acc = mu + spread * rng.standard_normal()
                status = "diverged" if (fam, oname, seed) in diverge else "ok"
                records.append(_network_record(fam, fam, oname, 0.1, seed,
                                               {"val_accuracy": acc, "test_accuracy": acc}, status))
    return records, studies


def test_welch_tie_matches_scipy_and_handles_zero_spread():
    a, b = [0.9, 0.91, 0.92], [0.95, 0.97, 0.96]
    tied, p = welch_tied(a, b)
    assert p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue) and not tied
    assert welch_tied([8, 8, 8], [8, 8, 8]) == (True, 1.0)
    assert welch_tied([7, 7, 7], [8, 8, 8]) == (False, 0.0)


def test_heuristics_universal_winner_found_and_absent():
    text = _text("heuristics-no-theory")
    one_wins = {"f1": {"adam": 0.95, "sgd": 0.90, "rms": 0.91}, "f2": {"adam": 0.80, "sgd": 0.70, "rms": 0.72}}
    records, studies = _matrix(one_wins)
    a = CLAIMS["heuristics-no-theory"].analyze(records, text, studies)
    assert a.quantities["universal_winners"].mean == 1 and a.quantities["universal_winners"].n == 3
    assert a.numbers["universal_winners"] == ["adam"]
    split = {"f1": {"adam": 0.95, "sgd": 0.90, "rms": 0.91}, "f2": {"adam": 0.70, "sgd": 0.80, "rms": 0.72}}
    records, studies = _matrix(split)
    a = CLAIMS["heuristics-no-theory"].analyze(records, text, studies)
    assert a.quantities["universal_winners"].mean == 0
    assert {f["id"] for f in a.figures} == {"heuristics-dotplot", "heuristics-ranks"}
    # a matrix family with no results leaves the count unmeasured (missing), not easier to pass
    a = CLAIMS["heuristics-no-theory"].analyze(records, text, {**studies, "f3": {**studies["f1"]}})
    assert a.quantities["universal_winners"] is None
    # indistinguishable everywhere: every optimizer is a "universal winner"
    records, studies = _matrix({"f1": {"adam": 0.9, "sgd": 0.9}, "f2": {"adam": 0.8, "sgd": 0.8}}, spread=0.01)
    a = CLAIMS["heuristics-no-theory"].analyze(records, text, studies)
    assert a.quantities["universal_winners"].mean == 2


def test_diverged_seeds_are_dropped_counted_and_rank_last():
    records, studies = _matrix({"f1": {"adam": 0.95, "sgd": 0.90}}, diverge={("f1", "adam", 2)})
    fam = family_scores(records, studies)["f1"]
    assert fam["diverged"]["adam"] == [2] and len(fam["optimizers"]["adam"]) == 2
    assert seed_ranks(fam)[2] == {"adam": 2.0, "sgd": 1.0}
    assert seed_ranks(fam)[0] == {"adam": 1.0, "sgd": 2.0}
    assert best_set(fam)["best"] == "adam"


def test_adam_rank_from_matrix():
    records, studies = _matrix({"f1": {"adam": 0.95, "sgd": 0.90, "rms": 0.91},
                                "f2": {"adam": 0.70, "sgd": 0.80, "rms": 0.72}})
    a = CLAIMS["adam-combines"].analyze(records, _text("adam-combines"), studies)
    est = a.quantities["adam_rank"]
    assert est.n == 3 and est.mean == pytest.approx(4.0)     # 1st in f1, 3rd of 3 in f2: 7 on the scale of 7


def test_an_optimizer_without_runs_in_a_family_is_absent_there_never_worse():
    """rms declared by both families but run only in f1: f2 compares adam and sgd alone."""
    records, studies = _matrix({"f1": {"adam": 0.95, "sgd": 0.90, "rms": 0.91}, "f2": {"adam": 0.70, "sgd": 0.80}})
    studies["f2"]["optimizers"] = ["adam", "sgd", "rms"]
    a = CLAIMS["heuristics-no-theory"].analyze(records, _text("heuristics-no-theory"), studies)
    f2_rows = [row for row in a.tables[0]["rows"] if row[0] == "f2"]
    assert len(f2_rows) == 2 and all("rms" not in str(row[1]).lower() for row in f2_rows)
    assert a.numbers["absent"] == {"rms": ["f2"]}
    assert a.numbers["families"]["f2"]["tied_with_best"] == ["sgd"] and "rms" not in a.numbers["families"]["f2"]["welch_p"]
    won = a.quantities["universal_winners"]
    assert won.method == "exact" and won.n == 2 and won.mean == 0     # over adam and sgd, who ran everywhere
    rank = CLAIMS["adam-combines"].analyze(records, _text("adam-combines"), studies).quantities["adam_rank"]
    assert rank.mean == pytest.approx((1 + 7) / 2)     # 1st of 3 in f1, 2nd of 2 in f2 → 7 on the scale of 7


def test_the_best_sets_correct_every_welch_test_of_the_claim_with_holm():
    """Three families, one test each, raw p ≈ 0.026, 0.041, 0.024: each a loss at 5 % alone, all
    ties after Holm (by hand: sorted 0.024·3 = 0.073, then max(0.073, 0.026·2), then
    max(0.073, 0.041·1): every adjusted p is 3 × the smallest)."""
    from engine.claims.heuristics_no_theory import best_sets

    rng = np.random.default_rng(3)
    fams = {f"f{i}": {"mode": "max", "optimizers": {
        "best": dict(enumerate(1.0 + 0.1 * rng.standard_normal(4))),
        "other": dict(enumerate(1.0 - d + 0.1 * rng.standard_normal(4)))}} for i, d in enumerate((0.3, 0.2, 0.18))}
    sets = best_sets(fams)
    raw = [sets[f]["p"]["other"] for f in fams]
    assert all(p < 0.05 for p in raw)
    assert [sets[f]["p_holm"]["other"] for f in fams] == pytest.approx([3 * min(raw)] * 3)
    assert all(sets[f]["tied"] == ["best", "other"] for f in fams)
    alone = best_sets({"f0": fams["f0"]})["f0"]      # one test: Holm changes nothing
    assert alone["p_holm"]["other"] == alone["p"]["other"] and alone["tied"] == ["best"]
