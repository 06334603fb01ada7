"""The GAN claims (gan-minimax, gan-indistinguishable): the game's alternation in the trainer with
each generator loss, the final artifacts, the tuning score that breaks ties, the game's solution
read per seed, and both analyses on synthetic records with known answers.  The two-sample
statistics themselves are tested in tests/test_two_sample.py."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from engine.claims import _gan, gan_indistinguishable, gan_minimax
from engine.claims.verdict import evaluate
from engine.report.reason import premise_failed
from engine.config.validate import load_experiments
from engine.data import DATASETS
from engine.executor import execute_group
from engine.models import MODELS, Player
from engine.precision import FLOAT
from engine.training import network
from engine.spec import Named
from engine.tuning import best_run
from tests.test_record import make_record

# --- the game in the trainer ------------------------------------------------------------------


def gan_spec(seed=0, lr=0.003, steps=6, hidden=(8,), dataset="gaussian_ring", params=None, batch=32,
             loss="non_saturating"):
    return {"study": "t", "claim": "gan-minimax",
            "model": {"name": "gan", "kind": "gan",
                      "params": {"hidden": list(hidden), "latent_dim": 4, "generator_loss": loss}},
            "vary": {}, "dataset": {"name": dataset, "kind": dataset, "params": params or {}},
            "optimizer": {"name": "adam", "kind": "adam",
                          "hp": {"lr": lr, "beta1": 0.5, "beta2": 0.999, "eps": 1e-8}},
            "batch": batch, "seed": seed, "budget": {"max_steps": steps, "evals": 3}}


def items(*specs):
    return [(f"k{i}", f"run{i}", s) for i, s in enumerate(specs)]


@pytest.mark.parametrize("loss", ["minimax", "non_saturating"])
def test_players_alternate_each_moving_only_its_own_parameters(monkeypatch, loss):
    """Record what each player's loss sees: a d step leaves g's parameters unchanged and a g step
    leaves d's unchanged; each player has its own optimizer state (Adam's first step is ±lr in
    every coordinate, which a state shared with the other player would not give)."""
    seen = []
    real = MODELS["gan"]

    class Recording:
        def build(self, info, **params):
            model = real.build(info, **params)

            def recorder(player):
                def loss(p, batch):
                    seen.append((player.name, {k: np.array(getattr(v, "_value", v)) for k, v in p.items()}))
                    return player.loss(p, batch)
                return Player(player.name, player.prefix, loss)

            return dataclasses.replace(model, players=tuple(recorder(p) for p in model.players))

    monkeypatch.setitem(network.MODELS, "gan", Recording())
    lr = 0.003
    rec = execute_group(items(gan_spec(lr=lr, steps=3, loss=loss)))[0]
    assert rec.status == "ok", rec.error
    assert [name for name, _ in seen] == ["d", "g"] * 3
    part = lambda p, prefix: np.concatenate([v.ravel() for k, v in sorted(p.items()) if k.startswith(prefix)])
    for step in range(3):
        d_before, g_before = seen[2 * step][1], seen[2 * step + 1][1]
        # The d step moved d, not g.
        np.testing.assert_array_equal(part(d_before, "g."), part(g_before, "g."))
        assert not np.array_equal(part(d_before, "d."), part(g_before, "d."))
        if step + 1 < 3:
            after = seen[2 * step + 2][1]
            # The g step moved g, not d.
            np.testing.assert_array_equal(part(g_before, "d."), part(after, "d."))
            assert not np.array_equal(part(g_before, "g."), part(after, "g."))
    # Each player's first Adam step: |Δθ| = lr wherever its gradient is not zero.
    d_step = np.abs(part(seen[1][1], "d.") - part(seen[0][1], "d."))
    g_step = np.abs(part(seen[3][1], "g.") - part(seen[1][1], "g."))
    for step in (d_step, g_step):
        moved = step[step > 0]
        assert moved.size > 0.5 * step.size
        np.testing.assert_allclose(moved, lr, rtol=1e-2)  # a shared step counter: 0.94 lr


def test_gan_run_logs_the_game_and_stores_the_two_sample_tests():
    specs = [gan_spec(seed=0, steps=30), gan_spec(seed=1, steps=30, lr=0.001)]
    together = execute_group(items(*specs))
    for rec in together:
        assert rec.status == "ok", rec.error
        h = rec.history
        assert {"val_value", "val_d_real", "val_d_fake", "val_mmd", "val_modes", "val_coverage"} <= set(h)
        np.testing.assert_allclose(h["val_value"], -np.asarray(h["val_loss"]))
        np.testing.assert_allclose(h["val_coverage"], np.asarray(h["val_modes"]) + np.asarray(h["val_high_quality"]))
        arts = rec.artifacts
        assert 0 < arts["mmd_pvalue"] <= 1 and 0 <= arts["c2st_accuracy"] <= 1
        assert arts["test_samples"] == 512 and arts["mmd_bandwidth"] > 0
        assert np.asarray(arts["samples"]).shape == (512, 2)
        snaps = arts["snapshots"]
        assert snaps["step"][0] == 0 and snaps["step"][-1] == 30
        assert np.asarray(snaps["samples"]).shape == (len(snaps["step"]), 256, 2)
    # The tests are a function of the run alone, not of its group.
    alone = execute_group(items(specs[1]))[0]
    assert alone.artifacts == together[1].artifacts


def test_gan_on_digits_stores_images():
    rec = execute_group(items(gan_spec(dataset="digits", steps=4, hidden=(16,))))[0]
    assert rec.status == "ok", rec.error
    assert np.asarray(rec.artifacts["samples"]).shape == (16, 1, 8, 8)
    assert rec.artifacts["test_samples"] == len(DATASETS["digits"].load(None).x_test)
    assert "val_modes" not in rec.history and "val_coverage" not in rec.history


def test_coverage_score_breaks_ties_in_modes_by_quality_not_by_the_smallest_rate():
    def rec(lr, modes, hq):
        return make_record({"optimizer": {"name": "adam", "hp": {"lr": lr}}},
                           final={"val_modes": modes, "val_high_quality": hq, "val_coverage": modes + hq})
    grid = [rec(1e-3, 8, 0.4), rec(2e-3, 8, 0.9), rec(4e-3, 7, 1.0)]
    assert best_run(grid, "val_coverage", "max").spec.optimizer.hp["lr"] == 2e-3
    # A mode more always outranks any sample quality: covering a mode needs quality ≥ 1 %.
    assert best_run([rec(1e-3, 7, 0.99), rec(2e-3, 8, 0.08)], "val_coverage", "max").spec.optimizer.hp["lr"] == 2e-3


# --- the game's solution, per seed ---------------------------------------------------------------


def test_a_seed_is_at_the_solution_only_with_every_mode_and_v_near_minus_log_4():
    ideal = -math.log(4.0)

    def rec(value, modes, status="ok"):
        return make_record({}, status=status, final={"test_value": value, "test_modes": modes})
    assert _gan.at_solution(rec(ideal + 0.09, 8), 8)
    assert _gan.at_solution(rec(ideal - 0.09, 8), 8)
    assert not _gan.at_solution(rec(ideal + 0.11, 8), 8)
    # d ≈ ½ with a generator that covers no mode: v at −log 4, yet not the solution
    assert not _gan.at_solution(rec(ideal, 0), 8)
    assert not _gan.at_solution(rec(ideal, 8, status="diverged"), 8)
    assert _gan.at_solution(rec(ideal + 0.05, None), None)   # digits: no modes to count


# --- the analyses on synthetic records ---------------------------------------------------------

RING = {"n_modes": 8, "radius": 2.0, "std": 0.02, "n_train": 512, "n_val": 1024, "n_test": 1024}


def synthetic(study, oname, lr, seed, modes, status="ok", tests=None, dataset="gaussian_ring",
              loss="non_saturating", value=-1.38, mmd=(0.5, 0.1, 0.01)):
    steps = [0, 50, 100]
    claim = "optimizer-matrix" if study.startswith("matrix") else (
        "gan-minimax" if study.startswith("gan-minimax") else "gan-indistinguishable")
    spec = {"study": study, "claim": claim,
            "model": {"name": "g", "kind": "gan", "params": {"generator_loss": loss}},
            "vary": {"generator_loss": loss},
            "dataset": {"name": "d", "kind": dataset, "params": RING if dataset == "gaussian_ring" else {}},
            "optimizer": {"name": oname, "kind": "adam", "hp": {"lr": lr}}, "seed": seed}
    rng = np.random.default_rng(seed)
    shape = (256, 2) if dataset == "gaussian_ring" else (8, 1, 8, 8)
    history = {"step": steps, "val_value": [-1.0, -1.3, value], "val_d_real": [0.9, 0.6, 0.52],
               "val_d_fake": [0.1, 0.4, 0.48], "val_modes": [0, 4, modes], "val_mmd": list(mmd),
               "val_coverage": [0, 4.5, modes + 0.5]}
    final = {"val_coverage": modes + 0.5, "test_modes": modes, "test_high_quality": 0.5, "test_value": value,
             "test_d_real": 0.52, "test_d_fake": 0.48}
    if dataset != "gaussian_ring":
        history = {k: v for k, v in history.items() if k not in ("val_modes", "val_coverage")}
        final = {k: v for k, v in final.items() if k not in ("val_coverage", "test_modes", "test_high_quality")}
    arts = {**(tests or {"mmd2": 0.001, "mmd_pvalue": 0.3, "c2st_accuracy": 0.51}),
            "mmd_bandwidth": 2.5, "test_samples": 512, "samples": rng.uniform(size=(16,) + shape[1:]).tolist(),
            "snapshots": {"step": steps, "samples": rng.uniform(size=(3,) + shape).tolist()}}
    return make_record(spec, status=status, history=history if status == "ok" else {},
                       final=final if status == "ok" else {}, artifacts=arts if status == "ok" else {})


def text(claim) -> dict:
    return claim.CLAIM.text("en")


TUNE = {"metric": "val_coverage", "mode": "max"}


def ring_studies():
    """The matrix's non-saturating GAN (adam ties momentum on its surviving seeds but momentum
    loses a seed) and the slide's minimax game (adam covers 8 modes near −log 4 on two seeds of
    three; momentum covers none, with v at −log 4: a weak discriminator, not the solution)."""
    matrix = {"claim": "optimizer-matrix", "optimizers": ["adam", "momentum"], "seeds": [0, 1, 2], "tune": TUNE}
    minimax = {"claim": "gan-minimax", "optimizers": ["adam", "momentum"], "seeds": [0, 1, 2], "tune": TUNE}
    records = [synthetic("matrix-gan", "adam", 1e-3, 0, 7), synthetic("matrix-gan", "adam", 2e-3, 0, 8),
               synthetic("matrix-gan", "adam", 2e-3, 1, 8), synthetic("matrix-gan", "adam", 2e-3, 2, 8),
               synthetic("matrix-gan", "momentum", 0.1, 0, 8),
               synthetic("matrix-gan", "momentum", 0.1, 1, 8, status="diverged"),
               synthetic("matrix-gan", "momentum", 0.1, 2, 8)]
    mm = dict(study="gan-minimax-ring", loss="minimax")
    records += [synthetic(oname="adam", lr=2e-3, seed=0, modes=8, value=-1.36, **mm),
                synthetic(oname="adam", lr=2e-3, seed=1, modes=8, value=-1.30, **mm),
                synthetic(oname="adam", lr=2e-3, seed=2, modes=6, value=-1.35, **mm),
                synthetic(oname="momentum", lr=0.1, seed=0, modes=0, value=-1.386, **mm),
                synthetic(oname="momentum", lr=0.1, seed=1, modes=0, value=-1.386, **mm),
                synthetic(oname="momentum", lr=0.1, seed=2, modes=0, value=-1.386, **mm)]
    return {"matrix-gan": matrix, "gan-minimax-ring": minimax}, records


def test_minimax_analysis_judges_the_slides_game_and_shows_both_losses():
    studies, records = ring_studies()
    analysis = gan_minimax.analyze(records, text(gan_minimax), studies)
    numbers = analysis.numbers
    assert numbers["judged"] == "minimax"
    assert numbers["minimax"]["best_optimizer"] == "adam" and numbers["non_saturating"]["best_optimizer"] == "adam"
    assert numbers["minimax"]["at_solution"] == [True, True, False]   # seed 2: 6 modes
    assert numbers["minimax"]["optimizers"]["momentum"]["at_solution"] == [False] * 3   # no mode, v = −log 4
    est = analysis.quantities["minimax_at_solution"]
    assert (est.mean, est.n, est.method, est.unit) == (pytest.approx(2 / 3), 3, "wilson", "seed")
    assert numbers["non_saturating"]["optimizers"]["momentum"]["test_modes"] == [8, 0.0, 8]
    assert {f["id"] for f in analysis.figures} == {"gan-minimax-game", "gan-minimax-modes", "gan-minimax-samples"}
    assert all(f["svg"].startswith("<svg") for f in analysis.figures)
    # one table row per optimizer and loss, the loss named in each
    rows = analysis.tables[0]["rows"]
    assert len(rows) == 4 and {r[0] for r in rows} == {"minimax (the slide's game)", "non-saturating"}


def digits_records(pvalues, value=-1.38, c2st=0.9):
    return [synthetic("gan-digits", "adam", 3e-3, s, 0, dataset="digits", loss=loss, value=value,
                      tests={"mmd2": 0.05, "mmd_pvalue": p, "c2st_accuracy": c2st})
            for loss in ("minimax", "non_saturating") for s, p in enumerate(pvalues)]


def test_indistinguishable_analysis_reads_the_premise_and_the_tests_per_seed():
    studies, records = ring_studies()
    studies["gan-digits"] = {"claim": "gan-indistinguishable", "optimizers": ["adam"], "seeds": [0, 1, 2]}
    pvalues = (0.01, 0.02, 0.3)
    records += digits_records(pvalues)
    analysis = gan_indistinguishable.analyze(records, text(gan_indistinguishable), studies)
    q = analysis.quantities
    # the ring: the matrix's non-saturating adam, three seeds at the solution, tests not rejecting
    assert q["ring_converged"].mean == 1.0 and q["ring_converged"].n == 3
    assert q["ring_mmd_not_rejected"].mean == 1.0
    assert q["ring_c2st_accuracy"].mean == pytest.approx(0.51)
    assert q["ring_mmd_fall"].mean == pytest.approx(0.02)   # 0.01 / 0.5
    # the digits: two seeds of three reject at 5 %
    assert q["digits_mmd_not_rejected"].mean == pytest.approx(1 / 3)
    assert analysis.numbers["digits"]["non_saturating"]["mmd_pvalue"] == list(pvalues)
    assert analysis.numbers["ring"]["non_saturating"]["optimizer"] == "adam"
    assert analysis.numbers["ring"]["minimax"]["converged"] == [True, True, False]
    assert analysis.numbers["ring_optimizers"]["minimax"]["momentum"]["converged"] == [False] * 3
    # The negative control (two real samples) is indistinguishable, as it must be.
    control = analysis.numbers["ring"]["real_control"]
    assert control["mmd_pvalue"] > 0.01 and abs(control["c2st_accuracy"] - 0.5) < 0.1
    assert control["mmd_bandwidth"] == 2.5  # the bandwidth the runs used
    real = DATASETS["gaussian_ring"].load(None, **RING).x_test[:512]
    default = gan_indistinguishable.real_control(Named("ring", "gaussian_ring", RING))
    # the median distance of FLOAT points, against SciPy's in float64
    assert math.isclose(default["mmd_bandwidth"], float(np.median(pdist(real))), rel_tol=10 * np.finfo(FLOAT).eps)
    ids = {f["id"] for f in analysis.figures}
    assert {"gan-indistinguishable-samples-ring", "gan-indistinguishable-samples-digits",
            "gan-indistinguishable-final", "gan-indistinguishable-curves"} <= ids
    assert len(analysis.tables[0]["rows"]) == 6   # two data sets × (two losses + the control)


def test_indistinguishable_verdict_is_inconclusive_when_the_game_did_not_converge():
    """The declared criterion on synthetic records: digits far from −log 4 (premise fails) with
    tests that reject; the ring at the solution with tests that do not: the claim is inconclusive
    for its premise's sake, not 'not supported'."""
    studies, records = ring_studies()
    studies["gan-digits"] = {"claim": "gan-indistinguishable", "optimizers": ["adam"], "seeds": [0, 1, 2]}
    records += digits_records((0.0005,) * 10, value=-1.0)   # 0 of 10: Wilson [0, 0.28]
    analysis = gan_indistinguishable.analyze(records, text(gan_indistinguishable), studies)
    criteria = load_experiments().data["claims"]["gan-indistinguishable"]["criterion"]
    verdict, rows = evaluate(criteria, analysis.quantities)
    outcomes = {r["quantity"]: r["outcome"] for r in rows}
    assert outcomes["digits_converged"] == "fail" and outcomes["digits_mmd_not_rejected"] == "fail"
    assert verdict == "inconclusive" and premise_failed(verdict, rows) is not None
