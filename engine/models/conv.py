"""Convolution and pooling layers, 1-D and 2-D, built on an im2col primitive.

The lecture's s(t) = (x ∗ w)(t) = ∫ x(a) w(t − a) da flips the kernel; CNN libraries (and this
module) compute the cross-correlation s(t) = Σ_a x(t + a) w(a) instead. The two differ only by
the flip w(a) ↔ w(−a) of a learned kernel, so they define the same model family; the tests compare
with ``scipy.signal.correlate`` directly and with ``scipy.signal.convolve`` on a flipped kernel.

Every window of the (padded) input becomes a row of a matrix (im2col), and the convolution is one
matmul of those rows with the kernels: the fused dense op (engine/models/ops.py), which also adds
the bias and applies the activation.  ``im2col`` is an op (engine/models/tape.py): the windows are
cut with NumPy stride tricks, and its backward pass, its adjoint ``col2im``, scatters the gradient
of each window back onto the input.  Pooling is im2col, a reshape and an op that reduces each
window's positions (``window_max``; the mean of engine/models/ops.py).

Inside a CNN the feature maps are channels-last, (K, B, *n, C) like TensorFlow's default and
unlike torch's (C, *n): a window's channels are then contiguous in memory, so cutting windows
and scattering them back copies whole runs, and the matmul's output is already the next layer's
input, with no transpose.  ``conv`` offers the lecture's and SciPy's layout (K, B, C, *n) on top,
with kernels (O, C, *k) as torch stores them.  A ``Conv`` layer stores its kernels as the matrix
that multiplies the windows, (∏k·C, O) (``kernel_matrix``; ``kernels`` lays it back out as
(O, C, *k)): the same numbers, initialised from the same draws, and nothing to transpose at any
step, forward or backward.

Output length along each axis: ⌊(n + 2p − k)/s⌋ + 1.
"""
from itertools import product
from math import prod

import autograd.numpy as np
import numpy as onp
from numpy.lib.stride_tricks import as_strided

from .layers import ACTIVATION_NAMES, Layer, check_activation, glorot
from .ops import dense, mean, moveaxis, reshape
from .tape import Op


def conv_output_size(n, kernel, stride=1, padding=0):
    return (n + 2 * padding - kernel) // stride + 1


def _output_shape(input_shape, kernel, stride, padding, what):
    out = tuple(conv_output_size(*args) for args in zip(input_shape, kernel, stride, padding))
    if min(out) < 1:
        raise ValueError(f"{what} window {kernel} does not fit input {tuple(input_shape)} with padding {padding}")
    return out


def _per_axis(value, d):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * d


def _zero_padded(x, lead, padding):
    """x with `padding` zeros on both sides of each spatial axis (np.pad's result, at a fraction
    of its cost on the small arrays of single-example steps)."""
    if not any(padding):
        return x
    spatial = x.shape[lead:lead + len(padding)]
    xp = onp.zeros(x.shape[:lead] + tuple(n + 2 * p for n, p in zip(spatial, padding)) + x.shape[-1:], dtype=x.dtype)
    xp[(Ellipsis,) + tuple(slice(p, p + n) for p, n in zip(padding, spatial)) + (slice(None),)] = x
    return xp


def _im2col(x, kernel, stride, padding):
    """Windows of a channels-last x (..., *n, C) as rows: (..., *out, ∏kernel·C), each row ordered
    (kernel offsets, then channels)."""
    d = len(kernel)
    lead = x.ndim - d - 1
    xp = _zero_padded(x, lead, padding)
    out = tuple(conv_output_size(n, k, s) for n, k, s in zip(xp.shape[lead:lead + d], kernel, stride))
    # A read-only view (..., *out, *kernel, C): window j's offset a along an axis is element
    # j·s + a, so its strides are (s·step, step).  Flattening it copies each window's values
    # once, already in row order (no sliding_window_view and transpose: half the cost at B = 1).
    steps = xp.strides[lead:lead + d]
    windows = as_strided(xp, x.shape[:lead] + out + tuple(kernel) + x.shape[-1:],
                         xp.strides[:lead] + tuple(t * s for t, s in zip(steps, stride)) + steps + xp.strides[-1:],
                         writeable=False)
    return windows.reshape(x.shape[:lead] + out + (-1,))


def _col2im(cols, x_shape, kernel, stride, padding):
    """Adjoint of im2col: add each window's row back onto the input position it was cut from."""
    d = len(kernel)
    lead = len(x_shape) - d - 1
    spatial, channels = x_shape[lead : lead + d], x_shape[-1]
    out = cols.shape[lead : lead + d]
    g = cols.reshape(x_shape[:lead] + out + tuple(kernel) + (channels,))
    padded = tuple(n + 2 * p for n, p in zip(spatial, padding))
    xp = onp.zeros(x_shape[:lead] + padded + (channels,), dtype=cols.dtype)
    # One strided slice-add per kernel offset (∏kernel of them) rather than np.add.at per element:
    # the same scatter, with the loop over the few offsets instead of the many windows.
    for offset in product(*map(range, kernel)):
        target = tuple(slice(o, o + s * (m - 1) + 1, s) for o, s, m in zip(offset, stride, out))
        xp[(Ellipsis,) + target + (slice(None),)] += g[(Ellipsis,) + offset + (slice(None),)]
    return xp[(Ellipsis,) + tuple(slice(p, p + n) for p, n in zip(padding, spatial)) + (slice(None),)]


# Both maps are linear and adjoint to each other, so each one's backward pass is the other (as
# ops, so that autograd can differentiate a backward pass again: second order works here).
im2col = Op(_im2col, lambda g, cols, args, argnums: (col2im(g, args[0].shape, *args[1:]),))
col2im = Op(_col2im, lambda g, x, args, argnums: (im2col(g, *args[2:]),))


def kernel_matrix(w, d):
    """Kernels w (..., O, C, *k) with d spatial axes as the (..., ∏k·C, O) matrix that multiplies
    im2col's rows (rows ordered by kernel offset, then channel)."""
    lead = w.ndim - 2 - d
    axes = tuple(range(lead)) + tuple(range(lead + 2, lead + 2 + d)) + (lead + 1, lead)
    return np.reshape(np.transpose(w, axes), w.shape[:lead] + (-1, w.shape[lead]))


def kernels(matrix, kernel):
    """The inverse of ``kernel_matrix``: (..., ∏k·C, O) → (..., O, C, *k) for a kernel shape k."""
    d, lead = len(kernel), matrix.ndim - 2
    channels = matrix.shape[-2] // prod(kernel)
    w = onp.reshape(matrix, matrix.shape[:lead] + tuple(kernel) + (channels, matrix.shape[-1]))
    return onp.transpose(w, tuple(range(lead)) + (lead + d + 1, lead + d) + tuple(range(lead, lead + d)))


def conv_kernels(matrix, kernel_size, d: int):
    """``kernels`` of a ``Conv`` layer's weight matrix, for the kernel size that Conv was given
    (one number, or one per axis) and d spatial axes."""
    return kernels(matrix, _per_axis(kernel_size, d))


def conv_channels_last(x, W, b, kernel, stride=1, padding=0, activation=None):
    """f(cross-correlation of x (K, B, *n, C) with the kernels of shape ``kernel`` held as the
    matrix W (K, ∏k·C, O) + bias b (K, O)): (K, B, *out, O).  Member k uses only W[k], b[k] and
    x[k]."""
    d = len(kernel)
    cols = im2col(x, tuple(kernel), _per_axis(stride, d), _per_axis(padding, d))
    return dense(cols, W, b, activation)


def conv(x, w, b, stride=1, padding=0, activation=None):
    """The same in the lecture's (and SciPy's) layout: x (K, B, C, *n) and kernels w (K, O, C, *k)
    → (K, B, O, *out)."""
    d = w.ndim - 3
    y = conv_channels_last(moveaxis(x, 2, -1), kernel_matrix(w, d), b, w.shape[3:], stride, padding, activation)
    return moveaxis(y, -1, 2)


ChannelsLast = Layer(lambda rng, shape: (tuple(shape[1:]) + (shape[0],), {}),
                     lambda params, x: moveaxis(x, 2, -1), "channels last")
# Back to (C, *n) before flattening: the dense layers then see the features in torch's order
# (channel, then position), so a CNN computes exactly what it did with channels-first maps.
ChannelsFirst = Layer(lambda rng, shape: (tuple(shape[-1:]) + tuple(shape[:-1]), {}),
                      lambda params, x: moveaxis(x, -1, 2), "channels first")
CHANNEL_MOVES = (ChannelsLast, ChannelsFirst)   # the layers that only move the channel axis


def Conv(out_channels, kernel_size, stride=1, padding=0, activation=None):
    """Convolution layer, followed by ``activation`` (None, 'relu', 'tanh') in the same primitive;
    channels-last inputs: (n, C) in 1-D, (h, w, C) in 2-D (see ``ChannelsLast``)."""
    check_activation(activation)

    def init(rng, input_shape):
        *spatial, channels = input_shape
        d = len(spatial)
        kernel, strides, pads = (_per_axis(v, d) for v in (kernel_size, stride, padding))
        out = _output_shape(spatial, kernel, strides, pads, "convolution")
        fan_in, fan_out = channels * prod(kernel), out_channels * prod(kernel)
        w = glorot(rng, (out_channels, channels) + kernel, fan_in, fan_out)   # torch's layout, its draws
        return out + (out_channels,), {"w": kernel_matrix(w, d), "b": onp.zeros(out_channels)}

    def apply(params, x):
        kernel = _per_axis(kernel_size, x.ndim - 3)
        return conv_channels_last(x, params["w"], params["b"], kernel, stride, padding, activation)

    name = f"Conv({out_channels}, k={kernel_size}, s={stride}, p={padding})"
    return Layer(init, apply, name + ("" if activation is None else f" + {ACTIVATION_NAMES[activation]}"))


def _pool(reduce, label):
    """A pooling layer: ``reduce(windows, axis)`` over each window's positions."""
    def layer(window, stride=None):
        stride = window if stride is None else stride

        def init(rng, input_shape):
            *spatial, channels = input_shape
            d = len(spatial)
            out = _output_shape(spatial, _per_axis(window, d), _per_axis(stride, d), (0,) * d, label)
            return out + (channels,), {}

        def apply(params, x):
            d = x.ndim - 3
            cols = im2col(x, _per_axis(window, d), _per_axis(stride, d), (0,) * d)
            return reduce(reshape(cols, cols.shape[2:-1] + (-1, x.shape[-1])), -2)

        return Layer(init, apply, f"{label}({window}, s={stride})")

    return layer


def _window_max(x, axis):
    """The largest value along ``axis`` (max pooling over a window's positions)."""
    return x.max(axis=axis)


def _window_max_backward(g, ans, args, argnums):
    """g shared equally among the positions that attain the maximum (a subgradient; ties are rare
    in real data), in x's dtype."""
    x, axis = args
    winners = x == onp.expand_dims(ans, axis)
    share = winners / winners.sum(axis=axis, keepdims=True).astype(x.dtype)
    return (onp.expand_dims(g, axis) * share,)


window_max = Op(_window_max, _window_max_backward)
MaxPool = _pool(window_max, "MaxPool")
AvgPool = _pool(mean, "AvgPool")
POOLS = {"max": MaxPool, "avg": AvgPool}
