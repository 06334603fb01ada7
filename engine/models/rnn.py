"""Recurrent networks: the three designs of the lecture (Goodfellow et al. 2016, §10.2).

The state follows h⁽ᵗ⁾ = f(h⁽ᵗ⁻¹⁾; x⁽ᵗ⁾, θ) with the same θ = (U, W, b, V, c) at every step, so the
parameter count does not depend on the sequence length τ and one set of parameters runs on
sequences of any length:

1. ``rnn_hh``: an output at every step, hidden→hidden recurrence (Fig. 10.3)
       h⁽ᵗ⁾ = tanh(b + W h⁽ᵗ⁻¹⁾ + U x⁽ᵗ⁾),   o⁽ᵗ⁾ = c + V h⁽ᵗ⁾
2. ``rnn_oh``: an output at every step, output→hidden recurrence (Fig. 10.4)
       h⁽ᵗ⁾ = tanh(b + W ŷ⁽ᵗ⁻¹⁾ + U x⁽ᵗ⁾),   o⁽ᵗ⁾ = c + V h⁽ᵗ⁾
   Training uses teacher forcing: ŷ⁽ᵗ⁻¹⁾ is the previous TARGET (one-hot). Evaluation feeds the
   model's own previous output distribution softmax(o⁽ᵗ⁻¹⁾). Only what the output says flows
   forward, which is why this design is strictly less powerful than (1).
3. ``rnn_last``: hidden→hidden recurrence, one output o = c + V h⁽τ⁾ after the whole sequence
   (Fig. 10.5), for sequence classification.

h⁽⁰⁾ = 0 and ŷ⁽⁰⁾ = 0. Inputs are (K, B, τ, features); per-step targets are (K, B, τ) with −1
where a step has no target.

For contrast, ``rnn_hh`` with ``shared=False`` is the same recurrence WITHOUT sharing: one
θ⁽ᵗ⁾ = (U⁽ᵗ⁾, W⁽ᵗ⁾, b⁽ᵗ⁾, V⁽ᵗ⁾, c⁽ᵗ⁾) per step t = 1, …, τ of the training length, so its parameter
count is τ times as large and it cannot take a sequence of any other length (it raises
ValueError: the trainer then reports that test split as not applicable).

Patterns 1 and 2 store, after training, their accuracy at each step position on the
test split and on every extra test split (artifacts ``step_accuracy_test``,
``step_accuracy_<split>``; −1 at steps without a target): what the report plots against t.
"""
import numpy as onp

from .base import Model, ModelFactory
from .layers import affine, count_params, dense, glorot, stack_members
from .losses import accuracy, one_hot, softmax, softmax_cross_entropy
from .ops import concatenate, expand_dims, recur, stack, take


def orthogonal(rng, n):
    """A random orthogonal matrix (QR of a Gaussian, signs fixed): W's eigenvalues start on the
    unit circle, so h⁽ᵗ⁾ neither explodes nor vanishes at initialisation."""
    q, r = onp.linalg.qr(rng.normal(size=(n, n)))
    return q * onp.sign(onp.diag(r))


def init_rnn(rng, n_in, n_hidden, n_out, feedback=None):
    """θ for one member; W maps h⁽ᵗ⁻¹⁾ (or, with ``feedback`` outputs, ŷ⁽ᵗ⁻¹⁾) to the hidden units."""
    W = orthogonal(rng, n_hidden) if feedback is None else glorot(rng, (feedback, n_hidden), feedback, n_hidden)
    return {
        "U": glorot(rng, (n_in, n_hidden), n_in, n_hidden),
        "W": W,
        "b": onp.zeros(n_hidden),
        "V": glorot(rng, (n_hidden, n_out), n_hidden, n_out),
        "c": onp.zeros(n_out),
    }


def init_unshared(rng, steps, n_in, n_hidden, n_out):
    """θ⁽¹⁾, …, θ⁽τ⁾ for one member, each drawn as a shared θ would be: every entry gets a leading
    step axis of length τ."""
    return stack_members([init_rnn(rng, n_in, n_hidden, n_out) for _ in range(steps)])


def _fused(params):
    """θ stacked as [W; U; bᵀ], so that b + W r + U x⁽ᵗ⁾ = [r, x⁽ᵗ⁾, 1] · θ is ONE matmul per step.

    Every op costs a few µs whatever its size, and these products are small, so the fewer ops
    per step the faster. (Hoisting U x⁽ᵗ⁾ out of the loop instead would need an index into a
    tracked array per step, whose backward pass writes a full-size zero array each time.)
    """
    return concatenate(1, params["W"], params["U"], expand_dims(params["b"], 1))


def _with_ones(x):
    return onp.concatenate([x, onp.ones(x.shape[:-1] + (1,), dtype=x.dtype)], axis=-1)


def hidden_states(params, x):
    """[h⁽¹⁾, …, h⁽τ⁾] for x of shape (K, B, τ, features), each (K, B, hidden)."""
    theta, x = _fused(params), _with_ones(x)
    h = onp.zeros(x.shape[:2] + (params["W"].shape[-1],), dtype=x.dtype)
    states = []
    for t in range(x.shape[2]):
        h = recur(h, x[:, :, t], theta)
        states.append(h)
    return states


def hh_logits(params, x):
    """Pattern 1: o⁽ᵗ⁾ for every t, (K, B, τ, n_out)."""
    return affine(stack(2, *hidden_states(params, x)), params["V"], params["c"])


def unshared_logits(params, x):
    """Pattern 1 without sharing: h⁽ᵗ⁾ = tanh(b⁽ᵗ⁾ + W⁽ᵗ⁾ h⁽ᵗ⁻¹⁾ + U⁽ᵗ⁾ x⁽ᵗ⁾), o⁽ᵗ⁾ = c⁽ᵗ⁾ + V⁽ᵗ⁾ h⁽ᵗ⁾,
    (K, B, τ, n_out).  Parameters (K, τ, ...) exist for exactly τ steps."""
    steps = params["W"].shape[1]
    if x.shape[2] != steps:
        raise ValueError(f"a recurrence without sharing has parameters for {steps} steps, not {x.shape[2]}")
    # [W⁽ᵗ⁾; U⁽ᵗ⁾; b⁽ᵗ⁾ᵀ] for every t: (K, τ, hidden + features + 1, hidden)
    theta = concatenate(2, params["W"], params["U"], expand_dims(params["b"], 2))
    x = _with_ones(x)
    h = onp.zeros(x.shape[:2] + (params["W"].shape[-1],), dtype=x.dtype)
    outputs = []
    for t in range(steps):
        h = recur(h, x[:, :, t], take(theta, t, 1))
        outputs.append(affine(h, take(params["V"], t, 1), take(params["c"], t, 1)))
    return stack(2, *outputs)


def last_logits(params, x):
    """Pattern 3: o from h⁽τ⁾ only, (K, B, n_out)."""
    return affine(hidden_states(params, x)[-1], params["V"], params["c"])


def teacher_forced_logits(params, x, y):
    """Pattern 2 in training: with the targets fed back, no step waits for another, so all τ
    steps are computed at once."""
    y = onp.asarray(y)
    previous = onp.concatenate([onp.full(y.shape[:-1] + (1,), -1), y[..., :-1]], axis=-1)
    fed_back = one_hot(previous, params["c"].shape[-1], x.dtype)
    h = dense(onp.concatenate([fed_back, _with_ones(x)], axis=-1), _fused(params), None, "tanh")
    return affine(h, params["V"], params["c"])


def free_running_logits(params, x):
    """Pattern 2 at evaluation: the model's own output distribution softmax(o⁽ᵗ⁻¹⁾) is fed back."""
    theta, x = _fused(params), _with_ones(x)
    fed_back = onp.zeros(x.shape[:2] + (params["c"].shape[-1],), dtype=x.dtype)
    outputs = []
    for t in range(x.shape[2]):
        h = recur(fed_back, x[:, :, t], theta)
        o = affine(h, params["V"], params["c"])
        fed_back = softmax(o)
        outputs.append(o)
    return stack(2, *outputs)


def _table(params, info, per_step, hidden, recurrence, shared=True):
    steps, features = info["shape"]
    out = (steps, info["n_classes"]) if per_step else (info["n_classes"],)
    t = "" if shared else "⁽ᵗ⁾"
    return [
        dict(name="input x⁽ᵗ⁾", output_shape=(steps, features), n_params=0),
        dict(
            name=f"h⁽ᵗ⁾ = tanh(b{t} + W{t} {recurrence} + U{t} x⁽ᵗ⁾)",
            output_shape=(steps, hidden),
            n_params=count_params({k: params[k] for k in "UWb"}),
        ),
        dict(
            name=f"o⁽ᵗ⁾ = c{t} + V{t} h⁽ᵗ⁾" if per_step else "o = c + V h⁽τ⁾",
            output_shape=out,
            n_params=count_params({k: params[k] for k in "Vc"}),
        ),
    ]


def step_accuracy(logits, y):
    """Accuracy at each step position, (K, τ), from logits (K, B, τ, C) and targets (B, τ) or
    (K, B, τ); −1 where no example has a target at that step."""
    y = onp.broadcast_to(onp.asarray(y), onp.shape(logits)[:-1])
    has = y >= 0
    hits = (onp.argmax(onp.asarray(logits), axis=-1) == y) & has
    counts = has.sum(axis=1)
    return onp.where(counts > 0, hits.sum(axis=1) / onp.maximum(counts, 1), -1.0)


def _step_artifacts(logits_fn):
    """artifacts(params, data, rngs): step accuracy on test and on each extra test split that the
    model can take (a model without sharing cannot take another length)."""

    def artifacts(params, data, rngs):
        k = next(iter(params.values())).shape[0]
        members = lambda x: onp.broadcast_to(x, (k,) + x.shape)
        out = {"step_accuracy_test": step_accuracy(logits_fn(params, members(data.x_test)), data.y_test)}
        for name, (x, y) in data.extra.items():
            try:
                out[f"step_accuracy_{name}"] = step_accuracy(logits_fn(params, members(x)), y)
            except (ValueError, TypeError):
                continue
        return out

    return artifacts


def _model(kind, info, hidden, *, feedback, per_step, loss, metrics, logits, shared=True):
    n_in, n_out = info["shape"][-1], info["n_classes"]

    def init_one(rng):
        if not shared:
            return init_unshared(rng, info["shape"][0], n_in, hidden, n_out)
        return init_rnn(rng, n_in, hidden, n_out, feedback=n_out if feedback else None)

    example = init_one(onp.random.default_rng(0))  # shapes only, for the table
    recurrence = "ŷ⁽ᵗ⁻¹⁾" if feedback else "h⁽ᵗ⁻¹⁾"
    return Model(
        kind=kind,
        init=lambda rngs: stack_members([init_one(rng) for rng in rngs]),
        loss=loss,
        metrics=metrics,
        layers=_table(example, info, per_step, hidden, recurrence, shared),
        n_params=count_params(example),
        extras={"logits": logits},
        artifacts=_step_artifacts(logits) if per_step else None,
        tape=True,
    )


def _classification_metrics(logits_fn):
    def metrics(params, batch):
        logits = logits_fn(params, batch["x"])
        return {"loss": softmax_cross_entropy(logits, batch["y"]), "accuracy": accuracy(logits, batch["y"])}

    return metrics


def rnn_hh(info, *, hidden=32, shared=True):
    """Pattern 1; ``shared=False`` gives every step of the training length its own θ⁽ᵗ⁾ (the
    contrast for the parameter-sharing claim)."""
    logits = hh_logits if shared else unshared_logits

    def loss(params, batch):
        return softmax_cross_entropy(logits(params, batch["x"]), batch["y"])

    return _model(
        "rnn_hh", info, hidden, feedback=False, per_step=True, loss=loss,
        metrics=_classification_metrics(logits), logits=logits, shared=bool(shared),
    )


def rnn_oh(info, *, hidden=32):
    def loss(params, batch):
        return softmax_cross_entropy(teacher_forced_logits(params, batch["x"], batch["y"]), batch["y"])

    free_running = _classification_metrics(free_running_logits)

    def metrics(params, batch):
        forced = teacher_forced_logits(params, batch["x"], batch["y"])
        return {
            **free_running(params, batch),
            "teacher_forced_loss": softmax_cross_entropy(forced, batch["y"]),
            "teacher_forced_accuracy": accuracy(forced, batch["y"]),
        }

    return _model(
        "rnn_oh", info, hidden, feedback=True, per_step=True, loss=loss, metrics=metrics,
        logits=free_running_logits,
    )


def rnn_last(info, *, hidden=64):
    def loss(params, batch):
        return softmax_cross_entropy(last_logits(params, batch["x"]), batch["y"])

    return _model(
        "rnn_last", info, hidden, feedback=False, per_step=False, loss=loss,
        metrics=_classification_metrics(last_logits), logits=last_logits,
    )


RNN_HH = ModelFactory(
    "rnn_hh", rnn_hh, frozenset({"memory"}), "RNN pattern 1: output at every step, hidden→hidden recurrence"
)
RNN_OH = ModelFactory(
    "rnn_oh",
    rnn_oh,
    frozenset({"memory"}),
    "RNN pattern 2: output at every step, output→hidden recurrence, trained with teacher forcing",
)
RNN_LAST = ModelFactory(
    "rnn_last", rnn_last, frozenset({"sequence"}), "RNN pattern 3: hidden→hidden recurrence, one output at the end"
)
