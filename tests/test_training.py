"""Training real networks over the member axis: grouping does not change a run, divergence is
recorded, games alternate, clipping bounds the step, and the tuning protocol picks on validation."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from engine.data import DATASETS
from engine.executor import execute_group
from engine.models import MODELS
from engine.optim import OPTIMIZERS
from engine.precision import FLOAT
from engine.training.loop import Members, clip_by_norm
from engine.training import network
from engine.training.network import FlatBlock, member_rngs

RESULT_FIELDS = ("status", "diverged_at_step", "history", "final")
TIMINGS = ("seconds", "seconds_to_target")  # wall-clock: the only numbers allowed to differ


def untimed(record) -> dict:
    """The record's deterministic part: every field but the wall-clock measurements."""
    def without_timings(value):
        return {k: v for k, v in value.items() if k not in TIMINGS} if isinstance(value, dict) else value

    return {f: without_timings(getattr(record, f)) for f in RESULT_FIELDS}


def spec(seed=0, lr=0.003, kind="adam", model="mlp", params=None, dataset="digits", batch=64,
         budget=None, **extra):
    hp = {"sgd": {"lr": lr}, "adam": {"lr": lr, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}}[kind]
    return {"study": "t", "claim": "optimizer-matrix",
            "model": {"name": model, "kind": model, "params": params or {}}, "vary": {},
            "dataset": {"name": dataset, "kind": dataset, "params": {}},
            "optimizer": {"name": kind, "kind": kind, "hp": hp}, "batch": batch, "seed": seed,
            "budget": budget or {"epochs": 2}, **extra}


def items(*specs):
    return [(f"k{i}", f"run{i}", s) for i, s in enumerate(specs)]


@pytest.mark.parametrize("model,params,dataset,batch", [
    ("mlp", {"hidden": [32]}, "digits", 64),
    ("cnn", {"conv": [[4, 3, 1, 1]]}, "digits", "full"),
    ("rnn_last", {"hidden": 16}, "digits_rows", 1),
])
def test_grouped_equals_alone_bit_for_bit(model, params, dataset, batch):
    budget = {"epochs": 1} if batch != 1 else {"max_steps": 150}
    specs = [spec(seed=s, lr=lr, model=model, params=params, dataset=dataset, batch=batch, budget=budget)
             for s, lr in ((0, 0.003), (1, 0.01), (2, 0.001))]
    together = execute_group(items(*specs))
    for i, s in enumerate(specs):
        alone = execute_group(items(s))[0]
        for field in RESULT_FIELDS:
            assert untimed(together[i])[field] == untimed(alone)[field], (model, i, field)


def test_members_with_different_optimizers_train_together_bit_for_bit():
    """One forward/backward pass for every member, each optimizer rule on its own rows."""
    specs = [spec(seed=0, kind="adam", lr=0.003), spec(seed=1, kind="sgd", lr=0.3),
             spec(seed=2, kind="adam", lr=0.01), spec(seed=0, kind="sgd", lr=0.1)]
    together = execute_group(items(*specs))
    for i, s in enumerate(specs):
        alone = execute_group(items(s))[0]
        assert untimed(together[i]) == untimed(alone), i


def test_diverging_member_is_frozen_without_disturbing_the_others():
    good, bad = spec(seed=0, kind="sgd", lr=0.1), spec(seed=1, kind="sgd", lr=1e200)
    together = execute_group(items(good, bad))
    assert together[1].status == "diverged" and together[1].diverged_at_step is not None
    assert together[0].status == "ok" and together[0].metric("test_accuracy") > 0.8
    alone = execute_group(items(good))[0]
    assert untimed(together[0])["final"] == untimed(alone)["final"]
    json.dumps([r.to_json() for r in together], allow_nan=False)


def test_gan_players_alternate_with_their_own_states():
    rec = execute_group(items(spec(model="gan", params={"hidden": [16]}, dataset="gaussian_ring",
                                   batch=64, budget={"max_steps": 30})))[0]
    assert rec.status == "ok", rec.error
    assert {"val_d_real", "val_d_fake", "val_mmd", "val_modes"} <= set(rec.history)
    assert rec.final["steps"] == 30


class _TracedOnly:
    """A model factory whose models are never trained on the tape: autograd's trace only."""

    def __init__(self, factory):
        self.factory = factory

    def build(self, data_info, **params):
        return dataclasses.replace(self.factory.build(data_info, **params), tape=False)


@pytest.mark.parametrize("model,params,dataset,batch", [
    ("cnn", {"conv": [[4, 3, 1, 1]], "pool": "max"}, "digits", 1),
    ("autoencoder", {"hidden": [16], "code": 4}, "digits", 32),
    ("gan", {"hidden": [16]}, "gaussian_ring", 64),
])
def test_training_on_the_tape_gives_the_records_of_autograds_trace(model, params, dataset, batch, monkeypatch):
    """The training loop with the models' gradients taken on the tape, and by autograd's trace
    instead: the same records, bit for bit (mixed optimizers, a GAN's two players)."""
    specs = [spec(seed=s, lr=lr, kind=kind, model=model, params=params, dataset=dataset, batch=batch,
                  budget={"max_steps": 60})
             for s, lr, kind in ((0, 0.003, "adam"), (1, 0.05, "sgd"))]
    taped = execute_group(items(*specs))
    monkeypatch.setattr(network, "MODELS", {kind: _TracedOnly(factory) for kind, factory in MODELS.items()})
    traced = execute_group(items(*specs))
    assert all(r.status == "ok" for r in taped), [r.error for r in taped]
    for tape, trace in zip(taped, traced):
        assert untimed(tape) == untimed(trace)


def test_a_timed_study_logs_only_its_training_loss_along_training():
    """A study marked `alone` logs the training loss (what budget.target_loss reads) but no
    validation metric along training; its final metrics still see the validation and test
    splits, and its training is the same, bit for bit, as the same run's without `alone`."""
    budget = {"max_steps": 60, "evals": 6, "target_loss": 0.5}
    timed, logged = (execute_group(items(spec(budget=budget, params={"hidden": [8]}, **extra)))[0]
                     for extra in ({"alone": True}, {}))
    assert "train_loss" in timed.history and not any(k.startswith("val_") for k in timed.history)
    assert any(k.startswith("val_") for k in logged.history)
    assert {"val_loss", "test_loss", "test_accuracy"} <= set(timed.final)
    assert {k: v for k, v in untimed(timed)["history"].items() if not k.startswith("val_")} == \
        {k: v for k, v in untimed(logged)["history"].items() if not k.startswith("val_")}
    assert untimed(timed)["final"] == untimed(logged)["final"]


def test_budget_in_epochs_gives_every_regime_the_same_examples():
    n_train = None
    for batch in ("full", 64, 1):
        rec = execute_group(items(spec(kind="sgd", lr=0.01, batch=batch, budget={"epochs": 1},
                                       params={"hidden": [8]})))[0]
        n_train = n_train or rec.final["batch_size"]  # full batch = the whole training split
        assert n_train % 64, "the test needs a split that 64 does not divide"
        assert rec.final["examples"] == n_train and rec.history["examples"][-1] == n_train


def test_training_stays_in_float32_under_every_optimizer():
    """A network's parameters, gradients, hyperparameters and every rule's state stay in FLOAT
    through steps of all seven rules in one group, clipped: a float64 constant anywhere would
    promote them (and double the cost of every later step)."""
    data = DATASETS["digits"].load(None)
    model = MODELS["mlp"].build(data.info, hidden=[8])
    kinds = sorted(OPTIMIZERS)
    specs = [{"seed": i, "optimizer": {"kind": kind, "hp": OPTIMIZERS[kind].resolve({"lr": 0.01})}}
             for i, kind in enumerate(kinds)]
    params = model.init(member_rngs(specs, 0))
    block = FlatBlock(params, "")
    members = Members(specs, [block.pack(params)], clip_norm=1.0)
    assert data.x_train.dtype == FLOAT and members.thetas[0].dtype == FLOAT
    batch = {"x": np.broadcast_to(data.x_train[:16], (len(kinds),) + data.x_train[:16].shape),
             "y": np.broadcast_to(data.y_train[:16], (len(kinds), 16))}
    for _ in range(3):  # by the backward pass training takes (the tape; autograd's: tests/test_models.py)
        values, grads = block.loss_and_gradient(lambda arrays: model.loss(arrays, batch), members.thetas[0],
                                                model.tape)
        assert values.dtype == FLOAT and grads.dtype == FLOAT
        members.step(0, grads)
        assert members.thetas[0].dtype == FLOAT
    for r in members.rules:
        assert all(np.asarray(v).dtype == FLOAT for v in r.hp.values() if not isinstance(v, str)), r.rule.name
        assert all(v.dtype == FLOAT for v in r.states[0].values() if isinstance(v, np.ndarray)), r.rule.name


def test_effective_step_median_is_numpys_median_of_every_coordinate():
    """The logged median, by rule (a step shared by all coordinates is its own median), equals
    np.median over the whole (K, P) array of effective steps, bit for bit: every rule, each on
    rows that are not contiguous, after steps that give the adaptive rules distinct values."""
    data = DATASETS["digits"].load(None)
    model = MODELS["mlp"].build(data.info, hidden=[8])
    kinds = sorted(OPTIMIZERS) * 2
    specs = [{"seed": i, "optimizer": {"kind": kind, "hp": OPTIMIZERS[kind].resolve({"lr": 0.01 * (i + 1)})}}
             for i, kind in enumerate(kinds)]
    params = model.init(member_rngs(specs, 0))
    block = FlatBlock(params, "")
    members = Members(specs, [block.pack(params)])
    batch = {"x": np.broadcast_to(data.x_train[:16], (len(kinds),) + data.x_train[:16].shape),
             "y": np.broadcast_to(data.y_train[:16], (len(kinds), 16))}
    for _ in range(3):
        _, grads = block.loss_and_gradient(lambda arrays: model.loss(arrays, batch), members.thetas[0], model.tape)
        members.step(0, grads)
        expected = np.median(members.effective_step(0), axis=1)
        assert len(set(expected.tolist())) > len(OPTIMIZERS)
        np.testing.assert_array_equal(members.effective_step_median(), expected)


def test_clip_by_norm():
    g = np.array([[3.0, 4.0], [0.3, 0.4]])
    np.testing.assert_allclose(clip_by_norm(g, 1.0), [[0.6, 0.8], [0.3, 0.4]])
    assert clip_by_norm(g, None) is g


def test_flat_block_round_trip():
    params = {"a.W": np.arange(12.0).reshape(2, 2, 3), "a.b": np.ones((2, 3)), "b.W": np.zeros((2, 1))}
    block = FlatBlock(params, "a.")
    theta = block.pack(params)
    assert theta.shape == (2, 9)
    back = block.unpack(theta)
    assert set(back) == {"a.W", "a.b"} and all(np.array_equal(back[k], params[k]) for k in back)


def test_flat_block_gradient_is_autograd_s_with_respect_to_theta():
    """θ cut into its arrays by one primitive each (autograd's path for a model not written with
    ops) gives what autograd gives through slices of θ, bit for bit: a parameter read twice sums
    both paths, one never read gets zeros."""
    import autograd.numpy as anp
    from autograd import make_vjp

    rng = np.random.default_rng(0)
    params = {"a.W": rng.standard_normal((2, 3, 3)), "a.b": rng.standard_normal((2, 3)),
              "a.unused": rng.standard_normal((2, 4)), "b.W": np.zeros((2, 1))}
    x = rng.standard_normal((2, 5, 3))
    block = FlatBlock(params, "a.")
    theta = block.pack(params)

    def loss(p):
        h = anp.tanh(anp.matmul(x, p["a.W"]) + p["a.b"][:, None, :])
        return anp.sum(anp.matmul(h, p["a.W"]) ** 2, axis=(1, 2))

    def sliced(t):
        out, start = {}, 0
        for name, shape, size in zip(block.names, block.shapes, block.sizes):
            out[name] = anp.reshape(t[:, start:start + size], (2,) + shape)
            start += size
        return out

    values, g = block.loss_and_gradient(loss, theta)
    vjp, expected = make_vjp(lambda t: loss(sliced(t)))(theta)
    assert np.array_equal(values, expected) and np.array_equal(g, vjp(np.ones(2)))
    assert g.shape == theta.shape and not g[:, -4:].any()


def test_tuning_protocol_runs_the_grid_then_the_chosen_rate_with_every_seed(tmp_path, cli):
    from pathlib import Path

    from engine.config.validate import load_experiments
    from engine.plan import expand, expand_with_waiting
    from engine.store import ResultStore

    tiny = Path(__file__).parent / "data" / "tiny_nn.yaml"
    exp, store = load_experiments(tiny), ResultStore(tmp_path / "s")
    assert len(expand(exp, store)) == 4 and len(expand_with_waiting(exp, store)[1]) == 2
    code, _, err = cli("run", tiny, "--store", store.root, "--jobs", "1")
    assert code == 0, err
    assert "the final seeds of 2 tuned cells follow their grids" in err and "trained 6 runs" in err
    # The progress bar counts the final seeds from the start: its total is 6 runs throughout.
    assert "6/6 runs" in err and "/4 runs" not in err
    runs = expand(exp, store)
    assert len(runs) == 6 and not expand_with_waiting(exp, store)[1]
    finals = [r for r in runs if r.spec["seed"] == 1]
    chosen = {r.spec["optimizer"]["name"]: r.spec["optimizer"]["hp"]["lr"] for r in finals}
    assert chosen == {"sgd": 0.3, "adam": 0.01}  # the other rates barely move in two epochs
    code, _, err = cli("run", tiny, "--store", store.root, "--jobs", "1")
    assert code == 0 and "0 to train" in err


@pytest.mark.parametrize("b", [1, 2, 3, 7])
def test_gradient_noise_subset_sums_add_each_block(b):
    """1_Sᵀ C 1_S, by gathered blocks (small b) or by indicator rows (b ≥ N/13), against the sum
    of C over S × S written out; n = 40 puts b = 1, 2 on the first path and 3, 7 on the second."""
    from engine.procedures.gradient_noise import draw_subsets, subset_sums

    rng = np.random.default_rng(b)
    g = rng.standard_normal((40, 5))
    gram = (g - g.mean(axis=0)) @ (g - g.mean(axis=0)).T
    chosen = draw_subsets(rng, 40, b, 30)
    expected = [sum(gram[i, j] for i in row for j in row) for row in chosen]
    np.testing.assert_allclose(subset_sums(gram, chosen), expected, rtol=1e-12)
    single = gram.astype(np.float32)   # C in float32, converted by the caller or here: the same bits
    np.testing.assert_array_equal(subset_sums(single, chosen, single.astype(np.float64)), subset_sums(single, chosen))


@pytest.mark.parametrize("b", [1, 2, 5])
def test_gradient_noise_draws_take_the_smallest_keys(b):
    """Each draw is the b examples of smallest uniform keys: the rows argpartition gives (b = 1:
    the argmin, in its place)."""
    from engine.procedures.gradient_noise import draw_subsets

    keys = np.random.default_rng(b).random((50, 30))
    chosen = draw_subsets(np.random.default_rng(b), 30, b, 50)
    np.testing.assert_array_equal(chosen, np.argpartition(keys, b - 1, axis=1)[:, :b])
