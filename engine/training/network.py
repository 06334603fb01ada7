"""Train a group of runs of a neural model on a data set, all members at once.

Every member has its own generators, derived from its seed alone — initialisation, minibatch
order and the model's noise (VAE, GAN) — so its numbers do not depend on the group it trains in.
The batch regime is part of the spec: 'full' (gradient descent: every step sees the whole
training split), 1 (single-example SGD) or B (minibatch).  A budget in epochs gives every
regime exactly the same examples: each epoch is one permutation of the training split cut into
⌈N/B⌉ batches, the last one smaller when B does not divide N.  A budget in steps (used for GANs)
gives every regime the same number of updates.  Models with players (a GAN's discriminator and
generator) alternate one step per player, each with its own optimizer state and the run's
optimizer variant.

Along training, at ``budget.evals`` evenly spaced steps (default 24), each member logs its
training loss and every validation metric (on fixed subsets of the splits; the final metrics
use the whole validation and test splits; a study marked ``alone``, whose claim times its runs,
logs no validation metric along training: its evaluations exist to catch ``budget.target_loss``,
its clock leaves them out, and the other core waits idle for them), the seconds spent training so far
(evaluation excluded) and the median over coordinates of its optimizer's effective step.  With
``budget.target_loss`` a member stops at the first evaluation whose training loss reaches it, and
records the steps, examples and seconds that took.  With ``budget.until = {train_loss_change: tol,
window: W}`` a member stops at the end of the first run of W consecutive epochs (default 1) over
each of which its training loss, on the whole training split, changed by at most tol (it has
converged; the budget is then a cap), and records that loss (``train_loss_full``) and whether it
converged.  W > 1 keeps a turning point of the loss, or one quiet epoch of SGD, from counting.  A data set's extra test sets (``Dataset.extra``)
give final metrics ``test_<name>_<metric>``; a model's ``artifacts`` and ``snapshot`` (see
engine/models/base.py) are stored with the run.
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from autograd import make_vjp
from autograd.extend import SparseObject, defvjp, primitive, vspace

from engine.data import DATASETS
from engine.models import MODELS, Player
from engine.models.tape import reusing_forwards, value_and_gradient
from engine.precision import FLOAT
from engine.training.loop import Members

# Curves along training are read on fixed subsets: 24 points on the whole splits cost as much as
# the training itself.  Final metrics (what tuning and the claims use) see the whole val and test.
TRAIN_EVAL_EXAMPLES = 256   # the training loss along training
VAL_EVAL_EXAMPLES = 512     # validation metrics along training
N_EVALS = 24                # evaluation points along training, evenly spaced in steps
N_SNAPSHOTS = 6             # of those, how many also store the model's snapshot


def member_rngs(specs: list[dict], stream: int) -> list[np.random.Generator]:
    """One generator per member from (seed, stream): streams keep init, batches and noise apart."""
    return [np.random.default_rng([s["seed"], stream]) for s in specs]


@primitive
def _columns(theta, start: int, stop: int, shape: tuple):
    """Columns start:stop of θ (K, P) as the member-stacked array of ``shape`` they hold (a view)."""
    return theta[:, start:stop].reshape((theta.shape[0],) + shape)


def _columns_vjp(ans, theta, start, stop, shape):
    """g added into columns start:stop of a (K, P) gradient, which autograd allocates once for all
    the arrays cut from θ (autograd.extend's SparseObject): no zero matrix per array."""
    space = vspace(theta)

    def vjp(g):
        def add_into(gradient):
            gradient[:, start:stop] += g.reshape(len(g), -1)
            return gradient
        return SparseObject(space, add_into)

    return vjp


defvjp(_columns, _columns_vjp)


class FlatBlock:
    """The parameters under one prefix, as the (K, P) matrix the optimizers step, and back.

    ``unpack`` cuts the flat matrix into the model's arrays (views, no copies).  On the tape,
    gradients are taken with respect to those arrays and written into their columns of the
    (K, P) matrix the optimizer steps (by the op itself where it can: a dense layer's ∂W); by
    autograd, with respect to θ, each array cut by one primitive whose backward pass adds into
    its columns."""

    def __init__(self, params: dict, prefix: str):
        self.names = sorted(n for n in params if n.startswith(prefix))
        self.shapes = [tuple(params[n].shape[1:]) for n in self.names]
        self.sizes = [int(np.prod(s)) for s in self.shapes]

    def pack(self, params: dict) -> np.ndarray:
        k = params[self.names[0]].shape[0]
        return np.concatenate([params[n].reshape(k, -1) for n in self.names], axis=1)

    def unpack(self, theta: np.ndarray, cut=None) -> dict:
        """θ's arrays, by ``cut(θ, start, stop, shape)`` (default: plain views)."""
        out, start, k = {}, 0, theta.shape[0]
        for name, shape, size in zip(self.names, self.shapes, self.sizes):
            out[name] = (theta[:, start:start + size].reshape((k,) + shape) if cut is None
                         else cut(theta, start, start + size, shape))
            start += size
        return out

    def loss_and_gradient(self, loss, theta: np.ndarray, tape: bool = False, arrays: dict | None = None) -> tuple:
        """loss(arrays) -> (K,) at θ's arrays: its values and the (K, P) gradient of their sum,
        which holds every member's gradient of its own loss (a parameter the loss does not
        read gets zeros).  ``tape``: the loss is written with ops only (``Model.tape``), and
        its gradient is taken on the tape (engine/models/tape.py), at ``arrays`` when given
        (``unpack(θ)`` already cut); else by autograd."""
        if tape:
            gradient = np.empty_like(theta)   # each array's gradient is written into its columns
            values, _ = value_and_gradient(loss, self.unpack(theta) if arrays is None else arrays,
                                           self.unpack(gradient))
            return values, gradient
        vjp, values = make_vjp(lambda t: loss(self.unpack(t, _columns)))(theta)
        return values, vjp(np.ones(np.shape(values), dtype=theta.dtype))


def examples_per_step(spec: dict, n_train: int) -> int:
    """Examples per step: the whole training split for batch 'full' or none, else B (at most N)."""
    batch = spec["batch"]
    if batch == "full" or batch is None:
        return n_train
    return min(int(batch), n_train)


def _draw_latents(model, rngs, size: int) -> dict:
    """Each member's N(0, 1) draws for the model's noise inputs, rounded to FLOAT."""
    draws = {}
    for name, shape in model.latents.items():
        # Each member's draws straight into its rows (the same numbers as drawing and stacking)
        out = np.empty((len(rngs), size) + tuple(shape))
        for rng, rows in zip(rngs, out):
            rng.standard_normal(out=rows)
        draws[name] = out.astype(FLOAT)
    return draws


def _examples(x: np.ndarray, y, k: int) -> dict:
    """The same examples for every member, without copying them K times."""
    batch = {"x": np.broadcast_to(x, (k,) + x.shape)}
    if y is not None:
        batch["y"] = np.broadcast_to(y, (k,) + y.shape)
    return batch


def _evaluate(model, params, batch: dict, latents: dict, prefix: str) -> dict:
    metrics = model.metrics(params, {**batch, **latents})
    return {f"{prefix}_{name}": np.asarray(value, dtype=float) for name, value in metrics.items()}


def _as_lists(arrays: dict, i: int) -> dict:
    return {name: np.asarray(value[i], dtype=float).tolist() for name, value in arrays.items()}


def _extra_tests(model, params, data, specs, k: int) -> dict:
    """Final metrics on the data set's extra test sets.  A model that cannot take such an input
    at all (an MLP fed a longer sequence) reports test_<name>_applicable = 0 instead."""
    out = {}
    for name, (x, y) in data.extra.items():
        latents = _draw_latents(model, member_rngs(specs, 5), x.shape[0])
        try:
            metrics = _evaluate(model, params, _examples(x, y, k), latents, f"test_{name}")
        except (ValueError, TypeError):
            out[f"test_{name}_applicable"] = np.zeros(k)
            continue
        out.update(metrics)
        out[f"test_{name}_applicable"] = np.ones(k)
    return out


@dataclass
class _Convergence:
    """``budget.until``: each member's training loss on the whole split (the one at which it
    stopped, once stopped), its count of quiet epochs, and the step it stopped at (``at``)."""
    until: dict
    train_all: dict
    loss: np.ndarray
    quiet: np.ndarray
    at: list

    @classmethod
    def of(cls, model, data, params: dict, until: dict, k: int) -> _Convergence | None:
        if until.get("train_loss_change") is None:
            return None
        if model.latents or model.players:
            raise ValueError("until.train_loss_change needs a single-player model without noise inputs")
        train_all = _examples(data.x_train, data.y_train, k)
        loss = np.asarray(model.loss(params, train_all), dtype=float)
        return cls(until, train_all, loss, np.zeros(k, dtype=int), [None] * k)

    def after_epoch(self, model, params: dict, members, step: int) -> None:
        self.loss = _stop_converged(model, params, self.train_all, self.loss, self.quiet, self.until, members,
                                    self.at, step)


def _stop_converged(model, params, train_all, previous, quiet, until, members, converged_at, step) -> np.ndarray:
    """The training loss on the whole split at the end of an epoch.  ``quiet`` counts, per member,
    the consecutive epochs whose loss changed by at most ``until['train_loss_change']``; active
    members whose count reaches ``until['window']`` stop here (their entries keep the loss at which
    they stopped)."""
    loss = np.asarray(model.loss(params, train_all), dtype=float)
    active = members.active.copy()
    quiet[:] = np.where(np.abs(loss - previous) <= until["train_loss_change"], quiet + 1, 0)
    done = active & (quiet >= until.get("window", 1))
    for i in np.flatnonzero(done):
        converged_at[i] = step
    members.freeze(done)
    return np.where(active, loss, previous)


def _minibatch(data, order, position: int, batch_size: int, k: int) -> dict:
    """The examples of step ``position`` of the epoch: rows of each member's ``order``, or the
    whole split when every step sees it (no order drawn)."""
    if batch_size == data.x_train.shape[0]:
        return _examples(data.x_train, data.y_train, k)
    idx = order[:, position * batch_size:(position + 1) * batch_size]
    batch = {"x": data.x_train[idx]}
    if data.y_train is not None:
        batch["y"] = data.y_train[idx]
    return batch


def _players_step(members, blocks, players, batch: dict, step: int, tape: bool) -> None:
    """One optimizer step per player, in turn, on ``batch`` (``tape``: ``Model.tape``).

    With several players, each block's arrays are cut once (and again after it steps), and an
    op that a later player's loss runs again on the same arrays reuses its value
    (``reusing_forwards``): a GAN's generator step takes g(z) from the discriminator's, θ⁽ᵍ⁾
    unchanged in between."""
    cut = [block.unpack(theta) for block, theta in zip(blocks, members.thetas)]
    with reusing_forwards() if len(blocks) > 1 else nullcontext():
        for b, (block, player) in enumerate(zip(blocks, players)):
            # The other players' parameters are constants here (none for a single-player model).
            frozen = {name: value for other, arrays in enumerate(cut) if other != b for name, value in arrays.items()}
            values, grads = block.loss_and_gradient(lambda arrays: player.loss({**frozen, **arrays}, batch),
                                                    members.thetas[b], tape, cut[b])
            members.check_finite(np.asarray(values), step, parameters=False)
            members.step(b, grads)
            if b + 1 < len(blocks):  # the players after it see its new parameters
                cut[b] = block.unpack(members.thetas[b])


def _outcome(final: dict, i: int, finals: dict, history: dict, diverged, artifacts: dict, snapshots: dict) -> dict:
    """Member i's record: its status, history and final metrics (none when it diverged)."""
    if diverged is None:
        final.update({key: float(value[i]) for key, value in finals.items()})
        final["train_loss"] = history["train_loss"][-1]
    outcome = {"status": "diverged" if diverged is not None else "ok",
               "diverged_at_step": diverged, "history": history, "final": final}
    if artifacts or snapshots:
        outcome["artifacts"] = {**_as_lists(artifacts, i), **({"snapshots": snapshots} if snapshots else {})}
    return outcome


def _eval_points(total_steps: int, n_evals: int) -> tuple[set, set]:
    """The steps at which to evaluate (evenly spaced, both ends included) and, of those, the
    N_SNAPSHOTS (evenly spaced among them) that also store the model's snapshot."""
    points = np.unique(np.round(np.linspace(0, total_steps, n_evals + 1))).astype(int)
    shots = points[np.unique(np.round(np.linspace(0, len(points) - 1, N_SNAPSHOTS)).astype(int))]
    return set(points.tolist()), set(shots.tolist())


@dataclass(frozen=True)
class _Schedule:
    """How the budget maps to steps: examples per step, steps per epoch and the steps to take."""
    n_train: int
    batch_size: int
    steps_per_epoch: int
    total_steps: int

    @classmethod
    def of(cls, spec: dict, n_train: int) -> _Schedule:
        batch_size = examples_per_step(spec, n_train)
        steps_per_epoch = -(-n_train // batch_size)
        budget = spec["budget"]
        total_steps = budget["max_steps"] if "max_steps" in budget else budget["epochs"] * steps_per_epoch
        return cls(n_train, batch_size, steps_per_epoch, total_steps)

    def examples(self, step: int) -> int:
        """Examples processed after `step` updates (the last batch of an epoch may be smaller)."""
        epochs, position = divmod(step, self.steps_per_epoch)
        return epochs * self.n_train + min(position * self.batch_size, self.n_train)


@dataclass(frozen=True)
class _EvalSets:
    """The examples evaluations read, each member's the same, and each member's fixed noise."""
    train: dict      # the first TRAIN_EVAL_EXAMPLES of the training split
    val_sub: dict    # the first VAL_EVAL_EXAMPLES of the validation split
    val: dict
    latents: dict    # split -> noise inputs, for the train subset and the whole val and test splits
    val_sub_latents: dict

    @classmethod
    def of(cls, model, data, k: int, rngs) -> _EvalSets:
        n_sub = min(TRAIN_EVAL_EXAMPLES, data.x_train.shape[0])
        n_val_sub = min(VAL_EVAL_EXAMPLES, data.x_val.shape[0])
        # Fixed evaluation noise per member: curves then move only because the parameters move.
        latents = {"train": _draw_latents(model, rngs, n_sub),
                   "val": _draw_latents(model, rngs, data.x_val.shape[0]),
                   "test": _draw_latents(model, rngs, data.x_test.shape[0])}
        return cls(
            train=_examples(data.x_train[:n_sub], None if data.y_train is None else data.y_train[:n_sub], k),
            val_sub=_examples(data.x_val[:n_val_sub], None if data.y_val is None else data.y_val[:n_val_sub], k),
            val=_examples(data.x_val, data.y_val, k),
            latents=latents,
            val_sub_latents={name: value[:, :n_val_sub] for name, value in latents["val"].items()},
        )


@dataclass
class _Group:
    """A group in training: its members' parameters, what each logged, and when each stopped."""
    specs: list
    data: object
    model: object
    schedule: _Schedule
    params: dict
    players: tuple
    blocks: list
    members: Members
    sets: _EvalSets
    convergence: _Convergence | None
    eval_steps: set
    snapshot_steps: set
    history: list        # per member: the curves along training
    snapshots: list      # per member: the model's snapshots along training
    reached_at: list     # per member: the step at which it reached budget.target_loss, or None
    seconds_at: list     # ... and the training seconds it had taken
    trained_seconds: float = 0.0

    @classmethod
    def start(cls, specs: list[dict]) -> _Group:
        s0, k = specs[0], len(specs)
        data = DATASETS[s0["dataset"]["kind"]].load(None, **s0["dataset"]["params"])
        model = MODELS[s0["model"]["kind"]].build(data.info, **s0["model"]["params"])
        schedule = _Schedule.of(s0, data.x_train.shape[0])
        params = model.init(member_rngs(specs, 0))
        players = model.players or (Player("all", "", model.loss),)
        blocks = [FlatBlock(params, p.prefix) for p in players]
        members = Members(specs, [b.pack(params) for b in blocks], s0.get("clip_norm"))
        sets = _EvalSets.of(model, data, k, member_rngs(specs, 3))
        eval_steps, snapshot_steps = _eval_points(schedule.total_steps, s0["budget"].get("evals", N_EVALS))
        convergence = _Convergence.of(model, data, params, s0["budget"].get("until", {}), k)
        return cls(specs, data, model, schedule, params, players, blocks, members, sets, convergence,
                   eval_steps, snapshot_steps, history=[dict() for _ in range(k)],
                   snapshots=[dict() for _ in range(k)], reached_at=[None] * k, seconds_at=[None] * k)

    @property
    def target_loss(self) -> float | None:
        return self.specs[0]["budget"].get("target_loss")

    def current(self) -> dict:
        out = dict(self.params)
        for block, theta in zip(self.blocks, self.members.thetas):
            out.update(block.unpack(theta))
        return out

    def log(self, step: int) -> None:
        """Evaluate at `step`, stop the members that reached the target, append to the active
        members' histories (and snapshots)."""
        p, members = self.current(), self.members
        row = {**_evaluate(self.model, p, self.sets.train, self.sets.latents["train"], "train"),
               "effective_step": members.effective_step_median()}
        if not self.specs[0].get("alone"):
            row.update(_evaluate(self.model, p, self.sets.val_sub, self.sets.val_sub_latents, "val"))
        was_active = members.active.copy()
        members.check_finite(row["train_loss"], step)
        if self.target_loss is not None:
            reached = members.active & (row["train_loss"] <= self.target_loss)
            for i in np.flatnonzero(reached):
                self.reached_at[i], self.seconds_at[i] = step, self.trained_seconds
            members.freeze(reached)
        snap = (self.model.snapshot(p, self.data, member_rngs(self.specs, 4))
                if self.model.snapshot and step in self.snapshot_steps else {})
        for i in np.flatnonzero(was_active):
            self._append(i, step, row, snap)

    def _append(self, i: int, step: int, row: dict, snap: dict) -> None:
        h = self.history[i]
        for key, value in (("step", step), ("examples", self.schedule.examples(step)),
                           ("epoch", step / self.schedule.steps_per_epoch), ("seconds", self.trained_seconds)):
            h.setdefault(key, []).append(value)
        for key, value in row.items():
            h.setdefault(key, []).append(float(value[i]))
        if snap:
            self.snapshots[i].setdefault("step", []).append(step)
            for name, value in _as_lists(snap, i).items():
                self.snapshots[i].setdefault(name, []).append(value)

    def train(self) -> None:
        """Step every member through the budget, evaluating at the evaluation steps, until the
        budget ends or no member is active."""
        schedule, data, k = self.schedule, self.data, len(self.specs)
        batch_rngs, noise_rngs = member_rngs(self.specs, 1), member_rngs(self.specs, 2)
        order = None
        for step in range(schedule.total_steps):
            if step in self.eval_steps:
                self.log(step)
                if not self.members.active.any():
                    break
            started = time.perf_counter()
            position = step % schedule.steps_per_epoch
            if schedule.batch_size != schedule.n_train and position == 0:  # a new epoch: each member's own order
                order = np.stack([rng.permutation(schedule.n_train) for rng in batch_rngs])
            batch = _minibatch(data, order, position, schedule.batch_size, k)
            batch.update(_draw_latents(self.model, noise_rngs, batch["x"].shape[1]))
            _players_step(self.members, self.blocks, self.players, batch, step, self.model.tape)
            self.trained_seconds += time.perf_counter() - started
            if self.convergence is not None and (step + 1) % schedule.steps_per_epoch == 0:
                self.convergence.after_epoch(self.model, self.current(), self.members, step + 1)
            if not self.members.active.any():
                break
        else:
            self.log(schedule.total_steps)

    def outcomes(self) -> list[dict]:
        """Each member's record, with the final metrics on the whole val and test splits."""
        k, model, data, sets = len(self.specs), self.model, self.data, self.sets
        final_params = self.current()
        test = _examples(data.x_test, data.y_test, k)
        finals = {**_evaluate(model, final_params, sets.val, sets.latents["val"], "val"),
                  **_evaluate(model, final_params, test, sets.latents["test"], "test"),
                  **_extra_tests(model, final_params, data, self.specs, k)}
        artifacts = model.artifacts(final_params, data, member_rngs(self.specs, 4)) if model.artifacts else {}
        return [_outcome(self._final(i), i, finals, self.history[i], self.members.diverged_at[i], artifacts,
                         self.snapshots[i]) for i in range(k)]

    def _final(self, i: int) -> dict:
        """Member i's steps, examples and seconds, and whether (and when) it stopped early."""
        schedule, reached_at = self.schedule, self.reached_at[i]
        diverged = self.members.diverged_at[i]
        converged_at = None if self.convergence is None else self.convergence.at[i]
        stopped = reached_at if reached_at is not None else converged_at
        steps = diverged if diverged is not None else (stopped if stopped is not None else schedule.total_steps)
        final = {"steps": steps, "epochs": steps / schedule.steps_per_epoch, "examples": schedule.examples(steps),
                 "batch_size": schedule.batch_size,
                 "seconds": self.history[i]["seconds"][-1] if self.history[i] else 0.0}
        if self.target_loss is not None:
            final.update({"reached_target": reached_at is not None, "steps_to_target": reached_at,
                          "examples_to_target": None if reached_at is None else schedule.examples(reached_at),
                          "seconds_to_target": self.seconds_at[i]})
        if self.convergence is not None:
            final.update({"converged": converged_at is not None,
                          "train_loss_full": float(self.convergence.loss[i])})
        return final


def train_network_group(specs: list[dict]) -> list[dict]:
    group = _Group.start(specs)
    group.train()
    return group.outcomes()
