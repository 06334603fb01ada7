"""Train a group of runs of a neural model on a data set, all members at once.

Every member has its own generators, derived from its seed alone — initialisation, minibatch
order and the model's noise (VAE, GAN) — so its numbers do not depend on the group it trains in.
The batch regime is part of the spec: 'full' (gradient descent: every step sees the whole
training split), 1 (single-example SGD) or B (minibatch).  A budget in epochs gives every
regime the same number of examples processed; a budget in steps (used for GANs) the same number
of updates.  Models with players (a GAN's discriminator and generator) alternate one step per
player, each with its own optimizer state and the run's optimizer variant.
"""
from __future__ import annotations

import numpy as np
from autograd import make_vjp

from engine.data import DATASETS
from engine.models import MODELS, Player
from engine.training.loop import Members

TRAIN_EVAL_EXAMPLES = 1000  # the training loss is tracked on a fixed subset: enough, and cheap
N_EVALS = 24                # evaluation points along training, evenly spaced in steps


def member_rngs(specs: list[dict], stream: int) -> list[np.random.Generator]:
    """One generator per member from (seed, stream): streams keep init, batches and noise apart."""
    return [np.random.default_rng([s["seed"], stream]) for s in specs]


class FlatBlock:
    """The parameters under one prefix, as the (K, P) matrix the optimizers step, and back.

    Gradients are taken with respect to the dict of arrays, not the flat matrix: slicing a traced
    matrix costs a full-size scatter per slice in the backward pass (≈ 70 µs each here)."""

    def __init__(self, params: dict, prefix: str):
        self.names = sorted(n for n in params if n.startswith(prefix))
        self.shapes = [params[n].shape[1:] for n in self.names]
        self.sizes = [int(np.prod(s)) for s in self.shapes]

    def pack(self, params: dict) -> np.ndarray:
        k = params[self.names[0]].shape[0]
        return np.concatenate([params[n].reshape(k, -1) for n in self.names], axis=1)

    def unpack(self, theta) -> dict:
        out, start = {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes):
            out[name] = theta[:, start:start + size].reshape((theta.shape[0],) + shape)
            start += size
        return out


def _batch_size(spec: dict, n_train: int) -> int:
    batch = spec["batch"]
    if batch == "full" or batch is None:
        return n_train
    return min(int(batch), n_train)


def _draw_latents(model, rngs, size: int) -> dict:
    return {name: np.stack([rng.standard_normal((size,) + tuple(shape)) for rng in rngs])
            for name, shape in model.latents.items()}


def _examples(x: np.ndarray, y, k: int) -> dict:
    """The same examples for every member, without copying them K times."""
    batch = {"x": np.broadcast_to(x, (k,) + x.shape)}
    if y is not None:
        batch["y"] = np.broadcast_to(y, (k,) + y.shape)
    return batch


def _evaluate(model, params, batch: dict, latents: dict, prefix: str) -> dict:
    metrics = model.metrics(params, {**batch, **latents})
    return {f"{prefix}_{name}": np.asarray(value, dtype=float) for name, value in metrics.items()}


def train_network_group(specs: list[dict]) -> list[dict]:
    s0 = specs[0]
    data = DATASETS[s0["dataset"]["kind"]].load(None, **s0["dataset"]["params"])
    model = MODELS[s0["model"]["kind"]].build(data.info, **s0["model"]["params"])
    k = len(specs)
    n_train = data.x_train.shape[0]
    batch_size = _batch_size(s0, n_train)
    steps_per_epoch = n_train // batch_size
    budget = s0["budget"]
    total_steps = budget["max_steps"] if "max_steps" in budget else budget["epochs"] * steps_per_epoch

    params = model.init(member_rngs(specs, 0))
    players = model.players or (Player("all", "", model.loss),)
    blocks = [FlatBlock(params, p.prefix) for p in players]
    members = Members(specs, [b.pack(params) for b in blocks], s0.get("clip_norm"))
    batch_rngs, noise_rngs, eval_rngs = (member_rngs(specs, i) for i in (1, 2, 3))

    def current() -> dict:
        out = dict(params)
        for block, theta in zip(blocks, members.thetas):
            out.update(block.unpack(theta))
        return out

    n_sub = min(TRAIN_EVAL_EXAMPLES, n_train)
    train_eval = _examples(data.x_train[:n_sub], None if data.y_train is None else data.y_train[:n_sub], k)
    val = _examples(data.x_val, data.y_val, k)
    # Fixed evaluation noise per member: curves then move only because the parameters move.
    eval_latents = {"train": _draw_latents(model, eval_rngs, n_sub),
                    "val": _draw_latents(model, eval_rngs, data.x_val.shape[0]),
                    "test": _draw_latents(model, eval_rngs, data.x_test.shape[0])}
    eval_steps = set(np.unique(np.round(np.linspace(0, total_steps, N_EVALS + 1))).astype(int).tolist())
    history: list[dict] = [dict() for _ in range(k)]
    ones = np.ones(k)
    order = [None] * k

    def log(step: int) -> None:
        p = current()
        row = {**_evaluate(model, p, train_eval, eval_latents["train"], "train"),
               **_evaluate(model, p, val, eval_latents["val"], "val")}
        was_active = members.active.copy()
        members.check_finite(row["train_loss"], step)
        for i in np.flatnonzero(was_active):
            h = history[i]
            for key, value in (("step", step), ("examples", step * batch_size),
                               ("epoch", step / steps_per_epoch)):
                h.setdefault(key, []).append(value)
            for key, value in row.items():
                h.setdefault(key, []).append(float(value[i]))

    for step in range(total_steps):
        if step in eval_steps:
            log(step)
            if not members.active.any():
                break
        position = step % steps_per_epoch
        if position == 0:
            order = [rng.permutation(n_train) for rng in batch_rngs]
        if batch_size == n_train:
            batch = _examples(data.x_train, data.y_train, k)
        else:
            idx = np.stack([o[position * batch_size:(position + 1) * batch_size] for o in order])
            batch = {"x": data.x_train[idx]}
            if data.y_train is not None:
                batch["y"] = data.y_train[idx]
        batch.update(_draw_latents(model, noise_rngs, batch_size))
        for b, (block, player) in enumerate(zip(blocks, players)):
            # The other players' parameters are constants here (none for a single-player model).
            frozen = {}
            for other, theta in zip(blocks, members.thetas):
                if other is not block:
                    frozen.update(other.unpack(theta))
            vjp, values = make_vjp(lambda own: player.loss({**frozen, **own}, batch))(
                block.unpack(members.thetas[b]))
            members.check_finite(np.asarray(values), step, parameters=False)
            members.step(b, block.pack(vjp(ones)))
        if not members.active.any():
            break
    else:
        log(total_steps)

    final_params = current()
    test = _examples(data.x_test, data.y_test, k)
    finals = {**_evaluate(model, final_params, val, eval_latents["val"], "val"),
              **_evaluate(model, final_params, test, eval_latents["test"], "test")}
    outcomes = []
    for i in range(k):
        diverged = members.diverged_at[i]
        steps = diverged if diverged is not None else total_steps
        final = {"steps": steps, "epochs": steps / steps_per_epoch, "examples": steps * batch_size,
                 "batch_size": batch_size}
        if diverged is None:
            final.update({key: float(value[i]) for key, value in finals.items()})
            final["train_loss"] = history[i]["train_loss"][-1]
        outcomes.append({"status": "diverged" if diverged is not None else "ok",
                         "diverged_at_step": diverged, "history": history[i], "final": final})
    return outcomes
