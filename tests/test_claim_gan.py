"""The GAN claims (gan-minimax, gan-indistinguishable): the two-sample tests against independent
references, the game's alternation in the trainer, the final artifacts, the tuning score that
breaks ties, and both analyses on synthetic records with known answers."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist

from engine.claims import gan_indistinguishable, gan_minimax
from engine.data import DATASETS
from engine.executor import execute_group
from engine.models import MODELS, Player
from engine.models.gan import c2st_accuracy, mmd2, mmd_permutation_test, real_bandwidth
from engine.precision import FLOAT
from engine.training import network
from engine.spec import Named
from engine.tuning import best_run
from tests.test_record import make_record

# --- two-sample tests --------------------------------------------------------------------------


def naive_mmd2(a, b, sigma):
    """Unbiased MMD² written out from its definition (Gretton et al. 2012, eq. 3)."""
    k = lambda u, v: np.exp(-cdist(u, v, "sqeuclidean") / (2 * sigma**2))
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    n, m = len(a), len(b)
    return ((kaa.sum() - np.trace(kaa)) / (n * (n - 1)) + (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
            - 2 * kab.mean())


def test_mmd_statistic_matches_its_definition():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 3)), rng.normal(0.5, 1.2, size=(30, 3))
    reference = naive_mmd2(a, b, 0.8)
    stat, _ = mmd_permutation_test(a, b, 0.8, np.random.default_rng(1))
    np.testing.assert_allclose(stat, reference, rtol=1e-12)
    np.testing.assert_allclose(mmd2(a[None], b[None], 0.8), [reference], rtol=1e-12)


def test_bandwidth_is_the_median_distance_between_real_samples_only():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2, 50, 2))
    np.testing.assert_allclose(real_bandwidth(a), [np.median(pdist(a[0])), np.median(pdist(a[1]))])
    # The default bandwidth does not move with the generated sample.
    for b in (rng.normal(size=(2, 50, 2)), 10.0 + rng.normal(size=(2, 50, 2))):
        np.testing.assert_allclose(mmd2(a, b), [naive_mmd2(a[i], b[i], real_bandwidth(a)[i]) for i in range(2)])


def test_permutation_p_value():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(100, 2))
    # Far apart: no relabelling reaches the observed statistic, p = 1 / (1 + permutations).
    _, p = mmd_permutation_test(a, a + 3.0, 1.0, np.random.default_rng(0), n_permutations=99)
    assert p == pytest.approx(0.01)
    # The null hypothesis true: p is (about) uniform, so it rejects at 5 % about 5 % of the time.
    ps = [mmd_permutation_test(rng.normal(size=(40, 2)), rng.normal(size=(40, 2)), 1.0, rng, 99)[1]
          for _ in range(150)]
    assert 0.0 <= np.mean(np.array(ps) <= 0.05) <= 0.12
    assert 0.4 < np.mean(ps) < 0.6


def test_classifier_two_sample_test():
    rng = np.random.default_rng(3)
    same = [c2st_accuracy(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)), rng) for _ in range(5)]
    assert abs(np.mean(same) - 0.5) < 0.05
    assert c2st_accuracy(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 4.0, rng) > 0.97


# --- the game in the trainer ------------------------------------------------------------------


def gan_spec(seed=0, lr=0.003, steps=6, hidden=(8,), dataset="gaussian_ring", params=None, batch=32):
    return {"study": "t", "claim": "gan-minimax",
            "model": {"name": "gan", "kind": "gan", "params": {"hidden": list(hidden), "latent_dim": 4}},
            "vary": {}, "dataset": {"name": dataset, "kind": dataset, "params": params or {}},
            "optimizer": {"name": "adam", "kind": "adam",
                          "hp": {"lr": lr, "beta1": 0.5, "beta2": 0.999, "eps": 1e-8}},
            "batch": batch, "seed": seed, "budget": {"max_steps": steps, "evals": 3}}


def items(*specs):
    return [(f"k{i}", f"run{i}", s) for i, s in enumerate(specs)]


def test_players_alternate_each_moving_only_its_own_parameters(monkeypatch):
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
    rec = execute_group(items(gan_spec(lr=lr, steps=3)))[0]
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


# --- the analyses on synthetic records ---------------------------------------------------------

RING = {"n_modes": 8, "radius": 2.0, "std": 0.02, "n_train": 512, "n_val": 1024, "n_test": 1024}


def synthetic(study, oname, lr, seed, modes, status="ok", tests=None, dataset="gaussian_ring"):
    steps = [0, 50, 100]
    spec = {"study": study, "claim": "optimizer-matrix" if study.startswith("matrix") else "gan-indistinguishable",
            "model": {"name": "g", "kind": "gan", "params": {}},
            "dataset": {"name": "d", "kind": dataset, "params": RING if dataset == "gaussian_ring" else {}},
            "optimizer": {"name": oname, "kind": "adam", "hp": {"lr": lr}}, "seed": seed}
    rng = np.random.default_rng(seed)
    shape = (256, 2) if dataset == "gaussian_ring" else (8, 1, 8, 8)
    history = {"step": steps, "val_value": [-1.0, -1.3, -1.38], "val_d_real": [0.9, 0.6, 0.52],
               "val_d_fake": [0.1, 0.4, 0.48], "val_modes": [0, 4, modes], "val_mmd": [0.5, 0.1, 0.01],
               "val_coverage": [0, 4.5, modes + 0.5]}
    final = {"val_coverage": modes + 0.5, "test_modes": modes, "test_high_quality": 0.5, "test_value": -1.38,
             "test_d_real": 0.52, "test_d_fake": 0.48}
    arts = {**(tests or {"mmd2": 0.001, "mmd_pvalue": 0.3, "c2st_accuracy": 0.51}),
            "mmd_bandwidth": 2.5, "test_samples": 512, "samples": rng.uniform(size=(16,) + shape[1:]).tolist(),
            "snapshots": {"step": steps, "samples": rng.uniform(size=(3,) + shape).tolist()}}
    return make_record(spec, status=status, history=history if status == "ok" else {},
                       final=final if status == "ok" else {}, artifacts=arts if status == "ok" else {})


def text(claim) -> dict:
    return claim.CLAIM.text("en")


def ring_matrix():
    study = {"claim": "optimizer-matrix", "optimizers": ["adam", "momentum"], "seeds": [0, 1, 2],
             "tune": {"metric": "val_coverage", "mode": "max"}}
    records = [synthetic("matrix-gan", "adam", 1e-3, 0, 7), synthetic("matrix-gan", "adam", 2e-3, 0, 8),
               synthetic("matrix-gan", "adam", 2e-3, 1, 8), synthetic("matrix-gan", "adam", 2e-3, 2, 8),
               synthetic("matrix-gan", "momentum", 0.1, 0, 8),
               synthetic("matrix-gan", "momentum", 0.1, 1, 8, status="diverged"),
               synthetic("matrix-gan", "momentum", 0.1, 2, 8)]
    return {"matrix-gan": study}, records


def test_minimax_analysis_picks_the_best_optimizer_and_counts_a_diverged_seed():
    studies, records = ring_matrix()
    analysis = gan_minimax.analyze(records, text(gan_minimax), studies)
    # momentum ties adam on its surviving seeds but loses a seed: adam is the best.
    assert analysis.numbers["best_optimizer"] == "adam"
    est = analysis.quantities["best_test_modes"]
    assert (est.mean, est.n, est.low, est.high) == (8.0, 3, 8.0, 8.0)
    assert analysis.quantities["best_test_d_real"].mean == pytest.approx(0.52)
    assert analysis.numbers["optimizers"]["momentum"]["test_modes"] == [8, 0.0, 8]
    assert analysis.numbers["optimizers"]["adam"]["lr"] == 2e-3
    assert {f["id"] for f in analysis.figures} == {"gan-minimax-game", "gan-minimax-modes"}
    assert all(f["svg"].startswith("<svg") for f in analysis.figures)


def test_indistinguishable_analysis_reads_the_tests_per_seed():
    studies, records = ring_matrix()
    studies["gan-digits"] = {"claim": "gan-indistinguishable", "optimizers": ["adam"], "seeds": [0, 1, 2]}
    pvalues = (0.01, 0.02, 0.03)
    records += [synthetic("gan-digits", "adam", 1e-3, s, 0, dataset="digits",
                          tests={"mmd2": 0.05, "mmd_pvalue": p, "c2st_accuracy": 0.9}) for s, p in enumerate(pvalues)]
    analysis = gan_indistinguishable.analyze(records, text(gan_indistinguishable), studies)
    q = analysis.quantities
    assert q["ring_mmd_pvalue"].mean == pytest.approx(0.3) and q["ring_mmd_pvalue"].n == 3
    assert q["ring_c2st_accuracy"].mean == pytest.approx(0.51)
    assert q["digits_mmd_pvalue"].values == pvalues
    assert q["digits_c2st_accuracy"].mean == pytest.approx(0.9)
    assert analysis.numbers["ring"]["optimizer"] == "adam" and analysis.numbers["ring"]["lr"] == 2e-3
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
    assert len(analysis.tables[0]["rows"]) == 4
