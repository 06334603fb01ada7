"""Layers in the spirit of ``jax.example_libraries.stax``, with a leading member axis K.

A layer is ``Layer(init, apply, name)``:

* ``init(rng, input_shape) -> (output_shape, params)``: shapes exclude the member axis K and the
  batch axis B; ``params`` is a dict name -> array for ONE member.
* ``apply(params, x)``: every array in ``params`` carries the member axis first and ``x`` has shape
  ``(K, B, *input_shape)``. Member k only ever reads ``params[...][k]`` and ``x[k]``, so K copies of
  a network train side by side without seeing each other.

Every layer's ``apply`` is written with ops (engine/models/ops.py): autograd differentiates it,
and so does the tape (engine/models/tape.py), with the same backward passes.

Running ``init`` once per member and stacking (``init_members``) is what makes a member's numbers
depend on its own generator only.
"""
from math import prod
from typing import Callable, NamedTuple

import numpy as onp

from engine.precision import FLOAT

from .ops import FUSED_ACTIVATIONS, dense, reshape, sigmoid


class Layer(NamedTuple):
    init: Callable
    apply: Callable
    name: str


def glorot(rng, shape, fan_in, fan_out):
    """Glorot-normal weights, the default of stax's Dense and Conv."""
    return rng.normal(0.0, onp.sqrt(2.0 / (fan_in + fan_out)), size=shape)


def affine(x, W, b=None):
    """``x W + b`` member by member: x (K, B, ..., n_in), W (K, n_in, n_out), b (K, n_out)."""
    return dense(x, W, b, None)


def check_activation(activation) -> None:
    """A clear error for an activation a fused layer does not have."""
    if activation not in FUSED_ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATION_NAMES)} "
                         "(or none, for an affine layer)")


def Dense(n_out, activation=None):
    """x W + b, followed by ``activation`` (None, 'relu' or 'tanh') in the same op."""
    check_activation(activation)

    def init(rng, input_shape):
        n_in = input_shape[-1]
        params = {"W": glorot(rng, (n_in, n_out), n_in, n_out), "b": onp.zeros(n_out)}
        return tuple(input_shape[:-1]) + (n_out,), params

    def apply(params, x):
        return dense(x, params["W"], params["b"], activation)

    return Layer(init, apply, f"Dense({n_out})" + ("" if activation is None else f" + {ACTIVATION_NAMES[activation]}"))


ACTIVATION_NAMES = {"relu": "ReLU", "tanh": "tanh"}   # how a fused layer's name shows its activation
Sigmoid = Layer(lambda rng, shape: (tuple(shape), {}), lambda params, x: sigmoid(x), "sigmoid")
Flatten = Layer(lambda rng, shape: ((prod(shape),), {}), lambda params, x: reshape(x, (-1,)), "Flatten")


def Reshape(shape):
    shape = tuple(shape)
    return Layer(lambda rng, input_shape: (shape, {}), lambda params, x: reshape(x, shape), f"Reshape{shape}")


def dense_stack(sizes, act):
    """Dense(n, act) for every hidden size n (act None: affine hidden layers)."""
    return [Dense(n, act) for n in sizes]


def namespace(params, prefix):
    return {f"{prefix}{k}": v for k, v in params.items()}


def subtree(params, prefix):
    """The entries of ``params`` under ``prefix``, with the prefix removed."""
    n = len(prefix)
    # Keys first, values only for matches: under grad every value lookup in the traced dict is a
    # primitive, and .items() would look up all of them.
    return {k[n:]: params[k] for k in params if k.startswith(prefix)}


def _by_layer(params) -> dict:
    """``'{i}.{name}'`` entries grouped as {'i': {name: value}} in one pass over the keys, rather
    than one ``subtree`` pass per layer: a single-example step of a small network costs per Python
    operation."""
    groups: dict = {}
    for key in params:
        index, _, name = key.partition(".")
        groups.setdefault(index, {})[name] = params[key]
    return groups


def serial(*layers):
    """Composition f_n ∘ … ∘ f_1; layer i's parameters are named ``'{i}.{name}'``."""
    indices = [str(i) for i in range(len(layers))]

    def init(rng, input_shape):
        shape, params = tuple(input_shape), {}
        for i, layer in enumerate(layers):
            shape, p = layer.init(rng, shape)
            params.update(namespace(p, f"{i}."))
        return shape, params

    def apply(params, x):
        groups = _by_layer(params)
        for index, layer in zip(indices, layers):
            x = layer.apply(groups.get(index, {}), x)
        return x

    return Layer(init, apply, "serial")


def activations(layers, params, x):
    """Output of every layer of ``serial(*layers)`` (feature maps for the report)."""
    groups, outputs = _by_layer(params), []
    for i, layer in enumerate(layers):
        x = layer.apply(groups.get(str(i), {}), x)
        outputs.append((layer.name, x))
    return outputs


def stack_members(members):
    """Stack per-member parameter dicts along a new leading member axis, in FLOAT: generators
    draw float64, and each member's initial values are its draws rounded once to FLOAT."""
    return {k: onp.stack([m[k] for m in members]).astype(FLOAT, copy=False) for k in members[0]}


def init_members(init_fn, rngs, input_shape):
    """Initialise one member per generator; returns (output_shape, params with K axis)."""
    results = [init_fn(rng, tuple(input_shape)) for rng in rngs]
    return results[0][0], stack_members([p for _, p in results])


def count_params(params):
    return int(sum(onp.size(v) for v in params.values()))


def layer_table(layers, input_shape, prefix="", channel_moves=()):
    """Rows ``{name, output_shape, n_params, layout, channels_first_shape}`` from the input to the
    output, by shape inference.  ``channel_moves``: the layers of ``layers`` that only move the
    channel axis (a CNN's, engine/models/conv.py); their rows are marked ``layout``, and
    ``channels_first_shape`` is every output shape in the lecture's order (channels, then
    positions), also between a move of the channels to the end and back."""
    shape = tuple(input_shape)
    rows = [dict(name=prefix + "input", output_shape=shape, n_params=0, layout=False, channels_first_shape=shape)]
    # init needs a generator, but only the shapes and sizes it returns are used here.
    rng = onp.random.default_rng(0)
    channels_last = False
    for layer in layers:
        shape, params = layer.init(rng, shape)
        layout = any(layer is move for move in channel_moves)
        channels_last ^= layout
        shown = tuple(shape[-1:]) + tuple(shape[:-1]) if channels_last and not layout else tuple(shape)
        rows.append(dict(name=prefix + layer.name, output_shape=tuple(shape), n_params=count_params(params),
                         layout=layout, channels_first_shape=shown))
    return rows
