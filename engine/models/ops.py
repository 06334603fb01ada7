"""The array operations the feed-forward models are written with, each an ``Op`` (engine/models/
tape.py): a NumPy forward and its backward pass, defined once, for autograd and the tape alike.

Arrays carry the member axis K first and, for data, the batch axis B second; every op keeps its
inputs' dtype (a float32 gradient stays float32).  ``backward(g, y, args, argnums)`` returns
∂L/∂args[i] for each i in ``argnums`` given g = ∂L/∂y.
"""
from math import prod

import numpy as onp

from .tape import Op

# Activations a fused dense layer can apply: the function (in place on the fresh pre-activation
# z), and its derivative from the OUTPUT a = f(z), which is what the backward pass has at hand.
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


def _dense(x, W, b, activation):
    """a = f(x W + b) member by member: x (K, B, ..., n_in), W (K, n_in, n_out), b (K, n_out) or None.

    One op rather than the four to six of matmul, broadcast, add and activation: training steps of
    small models cost per recorded operation, not per flop (single-example SGD most of all).  Each
    member's rows meet only its own W[k] and b[k], through a matmul stacked over K."""
    K = W.shape[0]
    z = onp.matmul(x.reshape(K, -1, x.shape[-1]), W)
    if b is not None:
        z += b[:, None, :]
    return FUSED_ACTIVATIONS[activation][0](z).reshape(x.shape[:-1] + (W.shape[-1],))


def _dense_backward(g, a, args, argnums, into=(None, None, None)):
    """∂L/∂z = g ⊙ f'(z); ∂L/∂x = ∂L/∂z Wᵀ; ∂L/∂W = xᵀ ∂L/∂z; ∂L/∂b = Σ_rows ∂L/∂z (per member).
    ∂L/∂W, and ∂L/∂b over several rows, are written into the arrays ``into`` gives them, if any
    (the same products); a one-row ∂L/∂b is a view of ∂L/∂z, which the tape copies there."""
    x, W = args[0], args[1]
    K, n_in, n_out = W.shape
    gz = activation_derivative(g, a, args[3]).reshape(K, -1, n_out)
    if onp.result_type(x, gz) != W.dtype:   # a product of another dtype is cast once, by the caller
        into = (None,) * len(argnums)
    out = []
    for argnum, dest in zip(argnums, into):
        if argnum == 0:
            if n_out == 1:  # a column times a row: NumPy's matmul takes its loop without BLAS
                # there, 4× slower than einsum's; both give each product once rounded, added to +0
                out.append(onp.einsum("kbo,kio->kbi", gz, W).reshape(x.shape))
            else:
                out.append(onp.matmul(gz, W.swapaxes(1, 2)).reshape(x.shape))
        elif argnum == 1:
            rows = x.reshape(K, -1, n_in)
            if rows.shape[1] == 1:  # one example (single-example SGD): an outer product, no matmul loop
                # (einsum's loop beats broadcasting a column against a row: ≈ 25% at 100 × 100)
                out.append(onp.einsum("ki,kj->kij", rows[:, 0], gz[:, 0], out=dest))
            else:
                out.append(onp.matmul(rows.swapaxes(1, 2), gz, out=dest))
        elif gz.shape[1] == 1:
            out.append(gz[:, 0])
        else:  # Σ_rows as a product with a row of ones: BLAS's, ≈ 8× NumPy's sum over a middle axis here
            ones = onp.ones((K, 1, gz.shape[1]), gz.dtype)
            out.append(onp.matmul(ones, gz, out=None if dest is None else dest[:, None])[:, 0])
    return tuple(out)


dense = Op(_dense, _dense_backward, into=True)


def _recur(r, x, theta):
    """h = tanh([r, x] θ) for the fed-back r (h⁽ᵗ⁻¹⁾ or ŷ⁽ᵗ⁻¹⁾), x = (x⁽ᵗ⁾, 1) and θ = [W; U; bᵀ]:
    one step of the recurrence, the concatenation and the fused dense op as one op."""
    return _dense(onp.concatenate([r, x], axis=-1), theta, None, "tanh")


def _recur_backward(g, h, args, argnums):
    """The dense op's backward pass on [r, x] (joined again: one small copy), its input gradient
    cut back into r's and x's parts: the numbers the two ops' backward passes give."""
    r, x, theta = args
    wanted = tuple(sorted({0 if i < 2 else 1 for i in argnums}))   # the dense op's: [r, x] and θ
    grads = dict(zip(wanted, _dense_backward(g, h, (onp.concatenate([r, x], axis=-1), theta, None, "tanh"), wanted)))
    parts = {2: grads.get(1)}
    if 0 in grads:
        parts[0], parts[1] = grads[0][..., :r.shape[-1]], grads[0][..., r.shape[-1]:]
    return tuple(parts[i] for i in argnums)


# One op per step rather than two: a single-example step of a recurrence costs per recorded
# operation, and the concatenation's backward pass (np.split) costs more than its forward.
recur = Op(_recur, _recur_backward)


def _reshape(x, shape):
    """x with the member and batch axes kept and the others laid out as ``shape``."""
    return onp.reshape(x, x.shape[:2] + tuple(shape))


reshape = Op(_reshape, lambda g, y, args, argnums: (onp.reshape(g, args[0].shape),))


def _moved(ndim, source, destination):
    """The axis order of np.moveaxis(x, source, destination) for one source and destination
    (a transpose with it skips moveaxis's normalisation of axes: a third of its cost at B = 1)."""
    order = list(range(ndim))
    order.insert(destination % ndim, order.pop(source % ndim))
    return order


def _moveaxis(x, source, destination):
    """x with axis ``source`` moved to ``destination`` (a feature map's channel axis)."""
    return x.transpose(_moved(x.ndim, source, destination))


moveaxis = Op(_moveaxis, lambda g, y, args, argnums: (g.transpose(_moved(g.ndim, args[2], args[1])),))


def _sigmoid(x):
    """σ(x) = 1 / (1 + e⁻ˣ), as ½ (tanh(x/2) + 1): no overflow for large |x|."""
    y = onp.tanh(0.5 * x)
    y += 1.0
    y *= 0.5
    return y


sigmoid = Op(_sigmoid, lambda g, y, args, argnums: (g * (y * (1.0 - y)),))   # σ' = σ (1 − σ)


def _axes(axis):
    return (axis,) if isinstance(axis, int) else tuple(axis)


def _mean(x, axis):
    """The mean over ``axis`` (an int or a tuple), as a sum over a count: x's dtype is kept."""
    return x.sum(axis=axis) / prod(x.shape[a] for a in _axes(axis))


def _mean_backward(g, y, args, argnums):
    """Each averaged entry receives g / n."""
    x, axes = args[0], _axes(args[1])
    scaled = onp.expand_dims(g / prod(x.shape[a] for a in axes), tuple(a % x.ndim for a in axes))
    return (onp.broadcast_to(scaled, x.shape),)


mean = Op(_mean, _mean_backward)


def _add(a, b):
    """a + b, arrays of one shape."""
    return a + b


add = Op(_add, lambda g, y, args, argnums: tuple(g for _ in argnums))


def _negative(a):
    """−a."""
    return -a


negative = Op(_negative, lambda g, y, args, argnums: (-g,))


def _concatenate(axis, *arrays):
    """[a₁, a₂, …] joined along ``axis`` (the axis comes first: the arrays are any number)."""
    return onp.concatenate(arrays, axis=axis)


def _concatenate_backward(g, y, args, argnums):
    """Each piece receives its own slice of g."""
    axis, arrays = args[0], args[1:]
    pieces = onp.split(g, onp.cumsum([a.shape[axis] for a in arrays])[:-1], axis=axis)
    return tuple(pieces[i - 1] for i in argnums)


concatenate = Op(_concatenate, _concatenate_backward)


def _stack(axis, *arrays):
    """[a₁, a₂, …] stacked along a new axis ``axis`` (a recurrence's states over t)."""
    return onp.stack(arrays, axis=axis)


def _at(index, axis, ndim):
    """The index that picks entry ``index`` of ``axis`` of an array with ndim axes."""
    return (slice(None),) * (axis % ndim) + (index,)


stack = Op(_stack, lambda g, y, args, argnums: tuple(g[_at(i - 1, args[0], g.ndim)] for i in argnums))


def _take(x, index, axis):
    """Entry ``index`` of ``axis`` (step t's own parameters of a recurrence without sharing)."""
    return x[_at(index, axis, x.ndim)]


def _take_backward(g, y, args, argnums):
    """g at the entry taken, zeros elsewhere."""
    x, index, axis = args
    out = onp.zeros(x.shape, dtype=g.dtype)
    out[_at(index, axis, x.ndim)] = g
    return (out,)


take = Op(_take, _take_backward)


def _expand_dims(x, axis):
    """x with a new axis of length 1 at ``axis`` (a bias as a row to stack under matrices)."""
    return onp.expand_dims(x, axis)


expand_dims = Op(_expand_dims, lambda g, y, args, argnums: (onp.reshape(g, args[0].shape),))


def _reparameterise(stats, noise):
    """h = μ + σ ⊙ ε from stats = [μ, log σ²] along the last axis and noise ε ~ N(0, I)."""
    mu, log_var = onp.split(stats, 2, axis=-1)
    return mu + onp.exp(0.5 * log_var) * noise


def _reparameterise_backward(g, h, args, argnums):
    """∂/∂μ = g, ∂/∂log σ² = ½ g ⊙ σ ⊙ ε, ∂/∂ε = g ⊙ σ."""
    stats, noise = args
    sigma = onp.exp(0.5 * onp.split(stats, 2, axis=-1)[1])
    return tuple(onp.concatenate([g, (0.5 * g) * sigma * noise], axis=-1) if argnum == 0 else g * sigma
                 for argnum in argnums)


reparameterise = Op(_reparameterise, _reparameterise_backward)
