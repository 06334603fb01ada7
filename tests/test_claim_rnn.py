"""The RNN claims (lecture §4): the delayed-recall data's extra test lengths, the recurrence
without sharing, per-step accuracy artifacts, the trainer's "not applicable" for a model that
cannot take a longer input, and both analyses on synthetic records with known answers."""
import numpy as np
import pytest
from autograd.test_util import check_grads

import autograd.numpy as anp
from engine.claims import CLAIMS
from engine.claims.rnn_parameter_sharing import analyze as analyze_sharing
from engine.claims.rnn_parameter_sharing import beyond_accuracy, parameter_count
from engine.claims.verdict import wilson
from engine.claims.rnn_three_patterns import analyze as analyze_patterns
from engine.claims.rnn_three_patterns import classification_runs
from engine.data import DATASETS, load_dataset
from engine.models import build_model
from engine.models.rnn import hh_logits, step_accuracy, unshared_logits
from engine.training.network import train_network_group
from engine.optim import OPTIMIZERS
from tests.test_record import make_record

K, B = 2, 3


def memory(steps, features=1, n_classes=2):
    return {"kind": "memory", "shape": (steps, features), "n_classes": n_classes}


# --- data ---------------------------------------------------------------------------------------


def test_extra_lengths_leave_the_default_splits_unchanged():
    small = dict(seq_len=12, delay=4, n_train=30, n_val=5, n_test=7)
    plain = load_dataset("delayed_recall", 3, **small)
    longer = load_dataset("delayed_recall", 3, **small, extra_seq_lens=[24, 48])
    for split in ("train", "val", "test"):
        for a, b in zip(plain.split(split), longer.split(split)):
            np.testing.assert_array_equal(a, b)
    assert plain.extra == {} and set(longer.extra) == {"len24", "len48"}
    for n in (24, 48):
        x, y = longer.extra[f"len{n}"]
        assert x.shape == (7, n, 1) and y.shape == (7, n)
        # The same rule at every step: y⁽ᵗ⁾ = x⁽ᵗ⁻ᵈ⁾, no target for the first d steps.
        np.testing.assert_array_equal(y[:, :4], -1)
        np.testing.assert_array_equal(y[:, 4:], x[:, :-4, 0])
    # The default (no extras) is part of the registry's parameters.
    assert DATASETS["delayed_recall"].params["extra_seq_lens"] == ()


@pytest.mark.parametrize("bad", [[3], [20, 20]])
def test_extra_lengths_are_checked(bad):
    with pytest.raises(ValueError):
        DATASETS["delayed_recall"].make(0, seq_len=10, delay=3, extra_seq_lens=bad)


# --- models -------------------------------------------------------------------------------------


def test_parameter_counts_in_closed_form():
    """Shared: (F + H + 1)·H + (H + 1)·C whatever τ; without sharing: τ times that."""
    f, h, c = 1, 32, 2
    per_step = (f + h + 1) * h + (h + 1) * c
    for steps in (5, 20, 80):
        assert parameter_count("rnn_hh", {"hidden": h}, steps) == per_step
        assert parameter_count("rnn_hh", {"hidden": h, "shared": False}, steps) == steps * per_step
        unshared = build_model("rnn_hh", memory(steps), hidden=h, shared=False)
        assert sum(row["n_params"] for row in unshared.layers) == unshared.n_params


def test_unshared_gradients_against_finite_differences():
    model = build_model("rnn_hh", memory(4), hidden=3, shared=False)
    params = model.init([np.random.default_rng(0), np.random.default_rng(1)])
    params = {name: value.astype(np.float64) for name, value in params.items()}   # differences are precise in float64
    rng = np.random.default_rng(2)
    batch = {"x": rng.normal(size=(K, B, 4, 1)), "y": rng.integers(0, 2, size=(K, B, 4))}
    batch["y"][..., 0] = -1
    np.random.seed(0)
    check_grads(lambda p: anp.sum(model.loss(p, batch)), modes=["rev"], order=1)(params)


def test_unshared_with_equal_steps_is_the_shared_network():
    """Giving every step the same θ⁽ᵗ⁾ = θ recovers pattern 1 exactly: the only difference
    between the two models is the sharing."""
    shared = build_model("rnn_hh", memory(6), hidden=4)
    params = shared.init([np.random.default_rng(0), np.random.default_rng(1)])
    tiled = {k: np.repeat(v[:, None], 6, axis=1) for k, v in params.items()}
    x = np.random.default_rng(3).normal(size=(K, B, 6, 1))
    np.testing.assert_allclose(unshared_logits(tiled, x), hh_logits(params, x), rtol=1e-12, atol=1e-12)


def test_unshared_step_t_uses_only_its_own_parameters():
    model = build_model("rnn_hh", memory(5), hidden=3, shared=False)
    params = model.init([np.random.default_rng(0), np.random.default_rng(1)])
    x = np.random.default_rng(4).normal(size=(K, B, 5, 1))
    bumped = {**params, "V": params["V"].copy()}
    bumped["V"][:, 2] += 1.0  # the output matrix of step 3 only
    before, after = unshared_logits(params, x), unshared_logits(bumped, x)
    changed = [not np.allclose(before[:, :, t], after[:, :, t]) for t in range(5)]
    assert changed == [False, False, True, False, False]


def test_unshared_cannot_take_another_length_but_shared_can():
    unshared = build_model("rnn_hh", memory(5), hidden=3, shared=False)
    shared = build_model("rnn_hh", memory(5), hidden=3)
    rngs = [np.random.default_rng(0), np.random.default_rng(1)]
    for steps in (4, 10):
        batch = {"x": np.zeros((K, B, steps, 1)), "y": np.zeros((K, B, steps), dtype=int)}
        with pytest.raises(ValueError):
            unshared.metrics(unshared.init(rngs), batch)
        assert shared.metrics(shared.init(rngs), batch)["accuracy"].shape == (K,)


def test_step_accuracy_by_hand():
    logits = np.zeros((1, 3, 4, 2))
    logits[..., 1] = 1.0  # always predicts 1
    y = np.array([[-1, 1, 0, 1], [-1, 1, 1, 0], [-1, 0, 1, 1]])
    np.testing.assert_allclose(step_accuracy(logits, y), [[-1.0, 2 / 3, 2 / 3, 2 / 3]])
    # Weighted by targets per step, the per-step accuracies average to the overall accuracy.
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 50, 7, 2))
    y = rng.integers(0, 2, size=(50, 7))
    y[:, :2] = -1
    per_step = step_accuracy(logits, y)
    overall = ((logits.argmax(-1) == y) & (y >= 0)).sum(axis=(1, 2)) / (y >= 0).sum()
    np.testing.assert_allclose(per_step[:, 2:].mean(axis=1), overall)


def _spec(model_params, data_params, seed, epochs=1):
    return {"study": "t", "claim": "t", "vary": {}, "seed": seed, "batch": 16,
            "model": {"name": "m", "kind": "rnn_hh", "params": model_params},
            "dataset": {"name": "d", "kind": "delayed_recall",
                        "params": {**DATASETS["delayed_recall"].params, **data_params}},
            "optimizer": {"name": "adam", "kind": "adam", "hp": OPTIMIZERS["adam"].resolve({"lr": 0.01})},
            "budget": {"epochs": epochs, "evals": 2}}


def test_trainer_reports_longer_splits_and_step_artifacts():
    data = {"seq_len": 8, "delay": 2, "n_train": 64, "n_val": 16, "n_test": 16, "extra_seq_lens": [16, 32]}
    for shared in (True, False):
        outs = train_network_group([_spec({"hidden": 6, "shared": shared}, data, s) for s in (0, 1)])
        for out in outs:
            final, artifacts = out["final"], out["artifacts"]
            assert len(artifacts["step_accuracy_test"]) == 8
            assert artifacts["step_accuracy_test"][:2] == [-1.0, -1.0]
            for n in (16, 32):
                assert final[f"test_len{n}_applicable"] == (1.0 if shared else 0.0)
                assert (f"test_len{n}_accuracy" in final) == shared
                assert (f"step_accuracy_len{n}" in artifacts) == shared
            targets = 16 * 6
            np.testing.assert_allclose(np.mean(artifacts["step_accuracy_test"][2:]), final["test_accuracy"],
                                       atol=0.5 / targets)


# --- analyses on synthetic records --------------------------------------------------------------


def _text(claim_id, language="es"):
    return CLAIMS[claim_id].text(language)


def _record(kind, seed, final, params=None, dataset=None, study="s", optimizer="adam", hp=None,
            budget=None, history=None, artifacts=None):
    return make_record({"study": study, "seed": seed, "batch": 32,
                        "model": {"name": kind, "params": params or {"hidden": 4}}, "dataset": dataset,
                        "optimizer": {"name": optimizer, "kind": "adam", "hp": hp or {"lr": 0.01}},
                        "budget": budget or {"epochs": 2}},
                       final=final, history=history or {"epoch": [0.0, 1.0, 2.0], "val_accuracy": [0.5, 0.8, 0.9]},
                       artifacts=artifacts or {})


RECALL = {"name": "recall", "kind": "delayed_recall",
          "params": {"seq_len": 10, "delay": 3, "extra_seq_lens": [20, 40]}}


PARITY = {"name": "parity", "kind": "running_count",
          "params": {"seq_len": 10, "modulus": 2, "extra_seq_lens": [20, 40]}}


def test_beyond_accuracy_by_hand():
    assert beyond_accuracy([-1.0, -1.0, 1.0, 1.0, 0.5, 0.75], 4) == pytest.approx(0.625)
    assert beyond_accuracy([-1.0, 0.5, 1.0, -1.0, 0.0], 2) == pytest.approx(0.5)
    assert beyond_accuracy([1.0, 1.0], 2) is None


def _parity_record(seed, acc, beyond20, beyond40):
    applicable = {"test_len20_applicable": 1.0, "test_len40_applicable": 1.0}
    return _record("rnn_hh", seed, {"test_accuracy": acc, "test_len20_accuracy": 0.0, "test_len40_accuracy": 0.0,
                                    **applicable}, dataset=PARITY, study="parity",
                   artifacts={"step_accuracy_test": [acc] * 10, "step_accuracy_len20": [acc] * 10 + beyond20,
                              "step_accuracy_len40": [acc] * 10 + beyond40})


def test_sharing_analysis_known_answers():
    recs = [_parity_record(0, 1.0, [0.9] * 10, [0.8] * 30),
            _parity_record(1, 0.995, [0.995] * 10, [0.995] * 10 + [0.5] * 20),
            _parity_record(2, 0.7, [0.5] * 10, [0.5] * 30)]          # did not learn: left out of the ratios
    for seed in range(2):
        recs.append(_record("rnn_hh", seed, {"test_accuracy": 1.0, "test_len20_accuracy": 1.0,
                                             "test_len40_accuracy": 1.0, "test_len20_applicable": 1.0,
                                             "test_len40_applicable": 1.0},
                            dataset=RECALL, artifacts={"step_accuracy_test": [-1.0] * 3 + [1.0] * 7,
                                                       "step_accuracy_len20": [-1.0] * 3 + [1.0] * 17,
                                                       "step_accuracy_len40": [-1.0] * 3 + [1.0] * 37}))
        recs.append(_record("rnn_hh", seed, {"test_accuracy": 0.99, "test_len20_applicable": 0.0,
                                             "test_len40_applicable": 0.0},
                            params={"hidden": 4, "shared": False}, dataset=RECALL))
    for language in ("es", "en"):
        analysis = analyze_sharing(recs, _text("rnn-parameter-sharing", language), {})
        q = analysis.quantities
        assert q["param_ratio"].method == "exact" and q["param_ratio"].mean == 1.0 and q["param_ratio"].n == 5
        # Two of three seeds learnt (≥ 0.99); of those, one keeps ≥ 0.95 of its accuracy at 2τ
        # (ratios 0.9 and 1.0) and none at 4τ (0.8 and 0.66…), with Wilson's intervals
        # (engine.claims.verdict.wilson, itself checked against SciPy in tests/test_verdict.py).
        for name, k, n in (("learnt_share", 2, 3), ("generalised_2x", 1, 2), ("generalised_4x", 0, 2)):
            assert q[name].method == "wilson" and q[name].unit == "seed" and q[name].n == n
            assert q[name].mean == pytest.approx(k / n)
            assert (q[name].low, q[name].high) == pytest.approx(wilson(k, n))
        numbers = analysis.numbers
        np.testing.assert_allclose(numbers["ratios"]["2x"], [0.9, 1.0])
        np.testing.assert_allclose(numbers["ratios"]["4x"], [0.8, (10 * 0.995 + 20 * 0.5) / 30 / 0.995])
        assert numbers["learnt_seeds"] == [0, 1]
        counts = numbers["parameter_counts"]
        assert set(counts["shared"].values()) == {(1 + 4 + 1) * 4 + 5 * 2}
        assert counts["unshared"]["40"] == 40 * counts["shared"]["40"]
        assert numbers["applicable"]["recall|unshared|len40"] == [0.0, 0.0]
        assert numbers["accuracy"]["recall|shared"]["40"] == [1.0, 1.0]
        assert len(analysis.figures) == 2 and all(f["svg"].lstrip().startswith("<svg") for f in analysis.figures)
        table = analysis.tables[0]
        assert len(table["rows"]) == 3 and all(len(r) == len(table["columns"]) for r in table["rows"])
        assert table["rows"][2][-2] == _text("rnn-parameter-sharing", language)["labels"]["not_applicable_short"]


def test_sharing_analysis_without_records_is_missing():
    analysis = analyze_sharing([], _text("rnn-parameter-sharing"), {})
    assert all(v is None for v in analysis.quantities.values())


def test_patterns_analysis_pairs_by_seed_and_ignores_the_unshared_network():
    recs = []
    for seed, (hh, oh) in enumerate([(1.0, 0.5), (0.9, 0.55), (0.95, 0.45)]):
        recs.append(_record("rnn_hh", seed, {"test_accuracy": hh}, dataset=RECALL))
        recs.append(_record("rnn_hh", seed, {"test_accuracy": 0.1}, params={"hidden": 4, "shared": False},
                            dataset=RECALL))
        recs.append(_record("rnn_oh", seed, {"test_accuracy": oh, "test_teacher_forced_accuracy": oh},
                            dataset=RECALL))
    # A pattern-2 run on another task is never paired.
    other = {**RECALL, "params": {**RECALL["params"], "delay": 5}}
    recs.append(_record("rnn_oh", 3, {"test_accuracy": 0.0}, dataset=other))
    recs.append(_record("rnn_hh", 3, {"test_accuracy": 1.0}, dataset=RECALL))
    digits = {"name": "d", "kind": "digits_rows", "params": {}}
    mnist = {"name": "m", "kind": "mnist1d_seq", "params": {}}
    for seed, acc in enumerate([0.95, 0.97]):
        recs.append(_record("rnn_last", seed, {"test_accuracy": acc}, dataset=digits, study="dig"))
    for seed, acc in enumerate([0.3, 0.25, 0.35]):
        recs.append(_record("rnn_last", seed, {"test_accuracy": acc}, dataset=mnist, study="mn"))
    analysis = analyze_patterns(recs, _text("rnn-three-patterns"), {"dig": {}, "mn": {}})
    q = analysis.quantities
    np.testing.assert_allclose(q["hh_minus_oh"].values, [0.5, 0.35, 0.5])
    assert q["hh_minus_oh"].n == 3
    np.testing.assert_allclose(q["last_digits_accuracy"].values, [0.95, 0.97])
    np.testing.assert_allclose(q["last_mnist1d_accuracy"].mean, 0.3)
    assert len(analysis.figures) == 2 and len(analysis.tables[0]["rows"]) == 5


def test_classification_runs_follow_the_tuning_choice():
    """For a tuned study (as the optimizer matrix is), the runs of the optimizer whose chosen rate
    scores best on validation, at that rate, every seed."""
    digits = {"name": "d", "kind": "digits_rows", "params": {}}
    study = {"tune": {"metric": "val_accuracy", "mode": "max"}, "seeds": [0, 1]}
    recs = []
    for opt, grid in (("adam", {0.001: 0.90, 0.01: 0.95}), ("sgd", {0.1: 0.93})):
        for lr, score in grid.items():
            recs.append(_record("rnn_last", 0, {"val_accuracy": score, "test_accuracy": score}, dataset=digits,
                                study="m", optimizer=opt, hp={"lr": lr}))
        best = max(grid, key=grid.get)
        recs.append(_record("rnn_last", 1, {"val_accuracy": grid[best] - 0.01, "test_accuracy": 0.5},
                            dataset=digits, study="m", optimizer=opt, hp={"lr": best}))
    runs, opt = classification_runs(recs, {"m": study}, "digits_rows")
    assert opt == "adam"
    assert [(r.spec.seed, r.spec.optimizer.hp["lr"]) for r in runs] == [(0, 0.01), (1, 0.01)]
    assert classification_runs(recs, {"m": study}, "mnist1d_seq") == ([], None)


def test_prose_languages_have_the_same_keys():
    import yaml

    from engine.claims.base import TEXTS

    def keys(node, path=""):
        if isinstance(node, dict):
            return {k2 for k, v in node.items() for k2 in keys(v, f"{path}.{k}")} | {path}
        return {path}

    for claim_id in ("rnn-parameter-sharing", "rnn-three-patterns"):
        data = yaml.safe_load((TEXTS / f"{claim_id}.yaml").read_text(encoding="utf-8"))
        assert keys(data["es"]) == keys(data["en"])
        assert len(data["es"].get("columns", [])) == len(data["en"].get("columns", []))
        assert data["quote_es"].strip() and data["es"]["title"] != data["en"]["title"]
