"""Convolution and pooling layers, 1-D and 2-D, built on an im2col primitive.

The lecture's s(t) = (x ∗ w)(t) = ∫ x(a) w(t − a) da flips the kernel; CNN libraries (and this
module) compute the cross-correlation s(t) = Σ_a x(t + a) w(a) instead. The two differ only by
the flip w(a) ↔ w(−a) of a learned kernel, so they define the same model family; the tests compare
with ``scipy.signal.correlate`` directly and with ``scipy.signal.convolve`` on a flipped kernel.

Every window of the (padded) input becomes a row of a matrix (im2col), and the convolution is one
matmul of those rows with the kernels: the fused dense op (engine/models/ops.py), which also adds
the bias and applies the activation.  ``im2col`` is an op (engine/models/tape.py): the windows'
entries are gathered from the input's positions by an index computed once per shape, and its
backward pass, its adjoint ``col2im``, adds the gradient of each window back onto the input.
Pooling is im2col, a reshape and an op that reduces each window's positions (``window_max``; the
mean of engine/models/ops.py).

Inside a CNN the feature maps are channels-last, (K, B, *n, C) like TensorFlow's default and
unlike torch's (C, *n): a position's channels are then contiguous in memory, so gathering windows
and adding them back moves whole runs of C values, and the matmul's output is already the next
layer's input, with no transpose.  ``conv`` offers the lecture's and SciPy's layout (K, B, C, *n) on top,
with kernels (O, C, *k) as torch stores them.  A ``Conv`` layer stores its kernels as the matrix
that multiplies the windows, (∏k·C, O) (``kernel_matrix``; ``kernels`` lays it back out as
(O, C, *k)): the same numbers, initialised from the same draws, and nothing to transpose at any
step, forward or backward.

Output length along each axis: ⌊(n + 2p − k)/s⌋ + 1.
"""
from functools import lru_cache
from math import prod

import autograd.numpy as np
import numpy as onp

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


def _geometry(kernel, stride, padding):
    """d ↦ (kernel, strides, paddings) for d spatial axes, one entry per axis, each made once
    (a single-example step costs per Python operation)."""
    return lru_cache(maxsize=None)(lambda d: tuple(_per_axis(v, d) for v in (kernel, stride, padding)))


# A plan depends on the whole input shape (member and batch axes included): a worker meets a few
# shapes per group (the training batch, the evaluation splits), so a bounded cache keeps the
# training step's plans and forgets those of groups long done.
PLANS = 256


@lru_cache(maxsize=PLANS)
def _im2col_plan(x_shape, kernel, stride, padding):
    """How ``_im2col`` cuts x of shape ``x_shape``: (the shape of x's positions as rows, whether
    a window reads the padding (then the zero row after them, ``_with_zero_row``), the flat index
    of the row each window entry reads, the shape of the windows as rows)."""
    d = len(kernel)
    lead = len(x_shape) - d - 1
    spatial = x_shape[lead:lead + d]
    out = _output_shape(spatial, kernel, stride, padding, "im2col")
    # Window j's offset a along an axis reads position j·s + a − p of x, or the zero row
    # (index ∏n, after x's rows) where that falls in the padding.
    flat, inside = onp.zeros((), onp.intp), onp.ones((), bool)
    for i, (n, k, s, p, m) in enumerate(zip(spatial, kernel, stride, padding, out)):
        position = (onp.arange(m) * s)[:, None] + onp.arange(k)[None, :] - p
        # window j along axis i of the (out…, kernel…) index, offset a along axis d + i
        others = tuple(range(i)) + tuple(range(i + 1, d + i)) + tuple(range(d + i + 1, 2 * d))
        position = onp.expand_dims(position, others)
        flat, inside = flat * n + position, inside & (0 <= position) & (position < n)
    rows = x_shape[:lead] + (prod(spatial), x_shape[-1])
    index = onp.where(inside, flat, prod(spatial)).ravel()
    index.flags.writeable = False
    return rows, not inside.all(), index, x_shape[:lead] + out + (-1,)


def _with_zero_row(rows):
    """``rows`` (..., N, C) with one row of zeros after them (..., N + 1, C): what an index reads
    where it points at nothing (the padding)."""
    out = onp.zeros(rows.shape[:-2] + (rows.shape[-2] + 1, rows.shape[-1]), rows.dtype)
    out[..., :-1, :] = rows
    return out


def _im2col(x, kernel, stride, padding):
    """Windows of a channels-last x (..., *n, C) as rows: (..., *out, ∏kernel·C), each row ordered
    (kernel offsets, then channels)."""
    rows, padded, index, cols = _im2col_plan(x.shape, kernel, stride, padding)
    values = x.reshape(rows)
    if padded:   # the padding: one zero row, read by every window position in it
        values = _with_zero_row(values)
    # One gather of C-value rows by a precomputed index (np.take): copying a strided window view
    # moves runs of k·C values per inner loop, which cost 2.5-3.5× as much for the digits' C = 1
    # and k = 3 (B = 1 and 64), and a little more for MNIST-1D's C = 25.
    return values.take(index, axis=len(rows) - 2).reshape(cols)


@lru_cache(maxsize=PLANS)
def _col2im_plan(x_shape, kernel, stride, padding):
    """How ``_col2im`` adds onto x of shape ``x_shape``: (the shape of the windows' entries as
    rows, that of x's positions as rows, and for m = 0, 1, …: the index of the m-th entry, in
    kernel-offset order, that each position of x receives, or the zero row after the entries
    (``_with_zero_row``) where it has fewer)."""
    rows, _, index, _ = _im2col_plan(x_shape, kernel, stride, padding)
    n, entries = rows[-2], index.size
    order = onp.lexsort((onp.arange(entries) % prod(kernel), index))   # by position, then offset
    order = order[index[order] < n]   # entries read from the padding add onto nothing
    position = index[order]
    rank = onp.arange(order.size) - onp.searchsorted(position, position)
    reads = onp.full((rank.max() + 1, n), entries)
    reads[rank, position] = order
    reads.flags.writeable = False
    return rows[:-2] + (entries, rows[-1]), rows, tuple(reads)


def _col2im(cols, x_shape, kernel, stride, padding):
    """Adjoint of im2col: add each window's row back onto the input position it was cut from.

    Each position's values are added onto a zero in the order of their kernel offsets, as a loop
    over the offsets with one strided slice-add each would add them, by one gather per rank (at
    most ∏⌈k/s⌉ ranks: 2 for k = 3, s = 2) of whole C-value rows: those slice-adds cost 1.5-2×
    as much for MNIST-1D's layers at B = 1 and B = 100."""
    values, rows, reads = _col2im_plan(x_shape, kernel, stride, padding)
    g = _with_zero_row(cols.reshape(values))
    x = onp.zeros(rows, cols.dtype)
    for read in reads:
        x += g.take(read, axis=len(rows) - 2)
    return x.reshape(x_shape)


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


def conv_channels_last(x, W, b, kernel, stride, padding, activation=None):
    """f(cross-correlation of x (K, B, *n, C) with the kernels of shape ``kernel`` held as the
    matrix W (K, ∏k·C, O) + bias b (K, O)): (K, B, *out, O); ``kernel``, ``stride`` and
    ``padding`` are tuples, one entry per spatial axis.  Member k uses only W[k], b[k] and x[k]."""
    return dense(im2col(x, kernel, stride, padding), W, b, activation)


def conv(x, w, b, stride=1, padding=0, activation=None):
    """The same in the lecture's (and SciPy's) layout: x (K, B, C, *n) and kernels w (K, O, C, *k)
    → (K, B, O, *out); ``stride`` and ``padding`` one number or one per axis."""
    d = w.ndim - 3
    y = conv_channels_last(moveaxis(x, 2, -1), kernel_matrix(w, d), b, w.shape[3:], _per_axis(stride, d),
                           _per_axis(padding, d), activation)
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
    geometry = _geometry(kernel_size, stride, padding)

    def init(rng, input_shape):
        *spatial, channels = input_shape
        d = len(spatial)
        kernel, strides, pads = geometry(d)
        out = _output_shape(spatial, kernel, strides, pads, "convolution")
        fan_in, fan_out = channels * prod(kernel), out_channels * prod(kernel)
        w = glorot(rng, (out_channels, channels) + kernel, fan_in, fan_out)   # torch's layout, its draws
        return out + (out_channels,), {"w": kernel_matrix(w, d), "b": onp.zeros(out_channels)}

    def apply(params, x):
        return conv_channels_last(x, params["w"], params["b"], *geometry(x.ndim - 3), activation)

    name = f"Conv({out_channels}, k={kernel_size}, s={stride}, p={padding})"
    return Layer(init, apply, name + ("" if activation is None else f" + {ACTIVATION_NAMES[activation]}"))


def _pool(reduce, label):
    """A pooling layer: ``reduce(windows, axis)`` over each window's positions."""
    def layer(window, stride=None):
        stride = window if stride is None else stride
        geometry = _geometry(window, stride, 0)

        def init(rng, input_shape):
            *spatial, channels = input_shape
            out = _output_shape(spatial, *geometry(len(spatial)), label)
            return out + (channels,), {}

        def apply(params, x):
            cols = im2col(x, *geometry(x.ndim - 3))
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
