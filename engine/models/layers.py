"""Layers in the spirit of ``jax.example_libraries.stax``, with a leading member axis K.

A layer is ``Layer(init, apply, name)``:

* ``init(rng, input_shape) -> (output_shape, params)``: shapes exclude the member axis K and the
  batch axis B; ``params`` is a dict name -> array for ONE member.
* ``apply(params, x)``: every array in ``params`` carries the member axis first and ``x`` has shape
  ``(K, B, *input_shape)``. Member k only ever reads ``params[...][k]`` and ``x[k]``, so K copies of
  a network train side by side without seeing each other.
* ``vjp(params, x) -> (y, pullback)``, where a layer has one: the same output, and its backward
  pass by hand, ``pullback(g, input_gradient, parameter_gradients=True) -> (∂L/∂x or None,
  {name: ∂L/∂param}, empty when not wanted)`` for g = ∂L/∂y.  It runs the very NumPy operations
  autograd runs through the layer's VJPs, without recording a trace: a single-example step of a
  small network costs per recorded operation, and the trace was a third of it (half for the MLP).
  ``serial`` has one when all its layers do; the tests require the models' gradients to equal
  autograd's bit for bit.  Like jax.vjp, but first order only.

Running ``init`` once per member and stacking (``init_members``) is what makes a member's numbers
depend on its own generator only.
"""
from math import prod
from typing import Callable, NamedTuple

import autograd.numpy as np
import numpy as onp
from autograd.extend import defvjp_argnums, primitive

from engine.precision import FLOAT


class Layer(NamedTuple):
    init: Callable
    apply: Callable
    name: str
    layout: bool = False   # only moves the channel axis (engine/models/conv.py): no layer of the model
    vjp: Callable | None = None  # the backward pass by hand (module doc); None: autograd's only


def glorot(rng, shape, fan_in, fan_out):
    """Glorot-normal weights, the default of stax's Dense and Conv."""
    return rng.normal(0.0, onp.sqrt(2.0 / (fan_in + fan_out)), size=shape)


# Activations a fused layer can apply: the function (in place on the fresh pre-activation z), and
# its derivative from the OUTPUT a = f(z), which is what the backward pass has at hand.
FUSED_ACTIVATIONS = {
    None: (lambda z: z, None),
    "relu": (lambda z: onp.maximum(z, 0.0, out=z), lambda a: a > 0),
    "tanh": (lambda z: onp.tanh(z, out=z), lambda a: 1.0 - a * a),
}


def activation_derivative(g, ans, activation):
    """g · f'(z), with f'(z) computed from the output a = f(z)."""
    if activation == "tanh":  # the same products in place: one fresh array instead of three
        out = onp.multiply(ans, ans)
        onp.subtract(1.0, out, out=out)
        return onp.multiply(g, out, out=out) if out.dtype == onp.result_type(g, out) else g * out
    derivative = FUSED_ACTIVATIONS[activation][1]
    return g if derivative is None else g * derivative(ans)


@primitive
def dense(x, W, b=None, activation=None):
    """f(x W + b) member by member: x (K, B, ..., n_in), W (K, n_in, n_out), b (K, n_out) or None.

    One autograd primitive with a hand-written backward pass (``_dense_vjp``) rather than the
    four to six primitives of matmul, broadcast, add and activation: training steps of small
    models cost per recorded operation, not per flop (single-example SGD most of all).  Each
    member's rows meet only its own W[k] and b[k], through a matmul stacked over K.
    """
    K = W.shape[0]
    rows = x.reshape(K, -1, x.shape[-1])
    z = onp.matmul(rows, W)
    if b is not None:
        z += b[:, None, :]
    return FUSED_ACTIVATIONS[activation][0](z).reshape(x.shape[:-1] + (W.shape[-1],))


def _dense_vjp(argnums, ans, args, kwargs):
    """dL/dz = g·f'(z); dL/dx = dL/dz Wᵀ; dL/dW = xᵀ dL/dz; dL/db = Σ_rows dL/dz (per member).

    First order only: these are NumPy operations, so ``dense`` cannot be differentiated twice."""
    x, W = args[0], args[1]
    activation = args[3] if len(args) > 3 else kwargs.get("activation")
    K, n_in, n_out = W.shape

    def vjp(g):
        gz = activation_derivative(g, ans, activation).reshape(K, -1, n_out)
        out = []
        for argnum in argnums:
            if argnum == 0:
                out.append(onp.matmul(gz, onp.swapaxes(W, 1, 2)).reshape(x.shape))
            elif argnum == 1:
                rows = x.reshape(K, -1, n_in)
                if rows.shape[1] == 1:  # one example (single-example SGD): an outer product, no matmul loop
                    # (einsum's loop beats broadcasting a column against a row: ≈ 25% at 100 × 100)
                    out.append(onp.einsum("ki,kj->kij", rows[:, 0], gz[:, 0]))
                else:
                    out.append(onp.matmul(onp.swapaxes(rows, 1, 2), gz))
            else:
                out.append(gz.sum(axis=1))
        return tuple(out)

    return vjp


defvjp_argnums(dense, _dense_vjp)


def dense_vjp(x, W, b, activation, names=("W", "b")):
    """``dense``'s output and its backward pass by hand, a layer's pullback (module doc) whose
    parameter gradients are named ``names``: ``_dense_vjp`` as autograd calls it, for the
    arguments it traces (not x when x is data, not W and b when they are frozen)."""
    args = (x, W, b, activation)
    y = dense.fun(*args)

    def pullback(g, input_gradient, parameter_gradients=True):
        argnums = ((0,) if input_gradient else ()) + ((1, 2) if parameter_gradients else ())
        grads = _dense_vjp(argnums, y, args, {})(g)
        return ((grads[0] if input_gradient else None),
                (dict(zip(names, grads[-2:])) if parameter_gradients else {}))

    return y, pullback


def unbroadcast(g, shape):
    """What autograd's ``unbroadcast`` does to the gradient of an operand of ``shape`` when nothing
    was broadcast: a sum over each axis of length 1, which changes no value but turns −0.0 into
    +0.0 (the sum starts from 0).  Adding 0.0 once does exactly that, in one pass instead of a
    sum per axis (each a copy of the whole gradient)."""
    return g + 0.0 if 1 in tuple(shape) else g


def parameterless_vjp(forward_and_backward):
    """The ``vjp`` of a layer without parameters, from ``forward_and_backward(x) -> (y, g ↦ ∂L/∂x)``."""
    def vjp(params, x):
        y, backward = forward_and_backward(x)

        def pullback(g, input_gradient, parameter_gradients=True):
            return (backward(g) if input_gradient else None), {}

        return y, pullback

    return vjp


def affine(x, W, b=None):
    """``x W + b`` member by member: x (K, B, ..., n_in), W (K, n_in, n_out), b (K, n_out)."""
    return dense(x, W, b)


def sigmoid(x):
    # tanh form: no overflow warning for large |x|, unlike 1 / (1 + exp(-x)).
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def sigmoid_vjp(x):
    """``sigmoid`` and its backward pass by hand: autograd's VJPs of its multiply, add, tanh and
    multiply, in turn (tanh's: g / cosh(z)²)."""
    z = 0.5 * x
    inner = onp.tanh(z) + 1.0
    y = 0.5 * inner

    def backward(g):
        g = unbroadcast(unbroadcast(0.5 * g, inner.shape), z.shape)
        return unbroadcast(0.5 * (g / onp.cosh(z) ** 2), x.shape)

    return y, backward


def softplus(x):
    return np.logaddexp(0.0, x)


def softplus_vjp(x):
    """``softplus`` and its backward pass by hand, autograd's VJP of logaddexp: g · exp(x − y)."""
    y = onp.logaddexp(0.0, x)
    return y, lambda g: unbroadcast(g * onp.exp(x - y), x.shape)


def mean(x, axis):
    """np.mean(x, axis) as a sum over a count: the same values, and a backward pass that keeps
    x's dtype (autograd's VJP of np.mean divides by a NumPy integer, which promotes float32
    gradients to float64 for the rest of the backward pass)."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return np.sum(x, axis=axis) / prod(x.shape[a] for a in axes)


def mean_vjp(x, axis):
    """``mean`` and its backward pass by hand: autograd's VJPs of the division (g / n) and of the
    sum (g reshaped with the summed axes kept, plus zeros of x's shape)."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    count = prod(x.shape[a] for a in axes)
    y = onp.sum(x, axis=axis) / count
    summed = {a % x.ndim for a in axes}
    kept = tuple(1 if a in summed else n for a, n in enumerate(x.shape))
    return y, lambda g: onp.reshape(unbroadcast(g / count, y.shape), kept) + onp.zeros(x.shape, x.dtype)


def check_activation(activation) -> None:
    """A clear error for an activation a fused layer does not have."""
    if activation not in FUSED_ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATION_NAMES)} "
                         "(or none, for an affine layer)")


def Dense(n_out, activation=None):
    """x W + b, followed by ``activation`` (None, 'relu' or 'tanh') in the same primitive."""
    check_activation(activation)

    def init(rng, input_shape):
        n_in = input_shape[-1]
        params = {"W": glorot(rng, (n_in, n_out), n_in, n_out), "b": onp.zeros(n_out)}
        return tuple(input_shape[:-1]) + (n_out,), params

    def apply(params, x):
        return dense(x, params["W"], params["b"], activation)

    def vjp(params, x):
        return dense_vjp(x, params["W"], params["b"], activation)

    return Layer(init, apply, f"Dense({n_out})" + ("" if activation is None else f" + {ACTIVATION_NAMES[activation]}"),
                 vjp=vjp)


ACTIVATION_NAMES = {"relu": "ReLU", "tanh": "tanh"}   # how a fused layer's name shows its activation
Sigmoid = Layer(lambda rng, shape: (tuple(shape), {}), lambda params, x: sigmoid(x), "sigmoid",
                vjp=parameterless_vjp(sigmoid_vjp))

Flatten = Layer(
    lambda rng, shape: ((prod(shape),), {}),
    lambda params, x: np.reshape(x, x.shape[:2] + (-1,)),
    "Flatten",
    # autograd's VJP of a reshape is the reshape back
    vjp=parameterless_vjp(lambda x: (onp.reshape(x, x.shape[:2] + (-1,)), lambda g: onp.reshape(g, x.shape))),
)


def Reshape(shape):
    shape = tuple(shape)
    return Layer(
        lambda rng, input_shape: (shape, {}),
        lambda params, x: np.reshape(x, x.shape[:2] + shape),
        f"Reshape{shape}",
        vjp=parameterless_vjp(lambda x: (onp.reshape(x, x.shape[:2] + shape), lambda g: onp.reshape(g, x.shape))),
    )


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

    def vjp(params, x):
        groups = _by_layer(params)
        pullbacks = []
        for index, layer in zip(indices, layers):
            x, pullback = layer.vjp(groups.get(index, {}), x)
            pullbacks.append(pullback)
        # Below the first layer with parameters nobody wants ∂L/∂x: autograd does not compute it
        # either, since x there is data, not a traced value.
        first = next((i for i, index in enumerate(indices) if groups.get(index)), len(indices))

        def serial_pullback(g, input_gradient, parameter_gradients=True):
            grads = {}
            for i in range(len(pullbacks) - 1, (0 if input_gradient else first) - 1, -1):
                g, layer_grads = pullbacks[i](g, input_gradient or i > first, parameter_gradients)
                grads.update(namespace(layer_grads, f"{indices[i]}."))
            return (g if input_gradient else None), grads

        return x, serial_pullback

    return Layer(init, apply, "serial", vjp=vjp if all(layer.vjp is not None for layer in layers) else None)


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


def layer_table(layers, input_shape, prefix=""):
    """Rows ``{name, output_shape, n_params, layout, channels_first_shape}`` from the input to the
    output, by shape inference.  ``layout`` marks a layer that only moves the channel axis;
    ``channels_first_shape`` is the output shape in the lecture's order (channels, then
    positions), also between a move of the channels to the end and back."""
    shape = tuple(input_shape)
    rows = [dict(name=prefix + "input", output_shape=shape, n_params=0, layout=False, channels_first_shape=shape)]
    # init needs a generator, but only the shapes and sizes it returns are used here.
    rng = onp.random.default_rng(0)
    channels_last = False
    for layer in layers:
        shape, params = layer.init(rng, shape)
        channels_last ^= layer.layout
        shown = tuple(shape[-1:]) + tuple(shape[:-1]) if channels_last and not layer.layout else tuple(shape)
        rows.append(dict(name=prefix + layer.name, output_shape=tuple(shape), n_params=count_params(params),
                         layout=layer.layout, channels_first_shape=shown))
    return rows
