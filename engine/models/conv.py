"""Convolution and pooling layers, 1-D and 2-D, built on an im2col primitive.

The lecture's s(t) = (x ∗ w)(t) = ∫ x(a) w(t − a) da flips the kernel; CNN libraries (and this
module) compute the cross-correlation s(t) = Σ_a x(t + a) w(a) instead. The two differ only by
the flip w(a) ↔ w(−a) of a learned kernel, so they define the same model family; the tests compare
with ``scipy.signal.correlate`` directly and with ``scipy.signal.convolve`` on a flipped kernel.

Every window of the (padded) input becomes a row of a matrix (im2col), and the convolution is one
matmul of those rows with the kernels. ``im2col`` is an autograd primitive: the windows are cut
from the untraced array with NumPy stride tricks, and its VJP (col2im) scatters the gradient of
each window back onto the input. That is about 5× faster forward+backward than
``autograd.scipy.signal.convolve`` (measured here).

Output length along each axis: ⌊(n + 2p − k)/s⌋ + 1.
"""
from math import prod

import autograd.numpy as np
import numpy as onp
from autograd.extend import defvjp, primitive
from numpy.lib.stride_tricks import sliding_window_view

from .layers import Layer, glorot


def conv_output_size(n, kernel, stride=1, padding=0):
    return (n + 2 * padding - kernel) // stride + 1


def _output_shape(input_shape, kernel, stride, padding, what):
    out = tuple(conv_output_size(*args) for args in zip(input_shape, kernel, stride, padding))
    if min(out) < 1:
        raise ValueError(f"{what} window {kernel} does not fit input {tuple(input_shape)} with padding {padding}")
    return out


def _per_axis(value, d):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * d


@primitive
def im2col(x, kernel, stride, padding):
    """Windows of x (..., C, *n) as rows: (..., *out, C·∏kernel), ordered like w.reshape(O, -1)."""
    d = len(kernel)
    lead = x.ndim - d - 1
    xp = onp.pad(x, [(0, 0)] * (lead + 1) + [(p, p) for p in padding])
    spatial_axes = tuple(range(lead + 1, x.ndim))
    windows = sliding_window_view(xp, kernel, axis=spatial_axes)  # (..., C, *full, *kernel)
    windows = windows[(slice(None),) * (lead + 1) + tuple(slice(None, None, s) for s in stride)]
    out = windows.shape[lead + 1 : lead + 1 + d]
    order = (
        list(range(lead))
        + [lead + 1 + i for i in range(d)]
        + [lead]
        + [lead + 1 + d + i for i in range(d)]
    )
    return windows.transpose(order).reshape(x.shape[:lead] + out + (-1,))


@primitive
def col2im(cols, x_shape, kernel, stride, padding):
    """Adjoint of im2col: add each window's row back onto the input position it was cut from."""
    d = len(kernel)
    lead = len(x_shape) - d - 1
    channels, spatial = x_shape[lead], x_shape[lead + 1 :]
    out = cols.shape[lead : lead + d]
    g = cols.reshape(x_shape[:lead] + out + (channels,) + tuple(kernel))
    order = (
        list(range(lead))
        + [lead + d]
        + [lead + d + 1 + i for i in range(d)]
        + [lead + i for i in range(d)]
    )
    g = g.transpose(order)  # (..., C, *kernel, *out)
    padded = tuple(n + 2 * p for n, p in zip(spatial, padding))
    xp = onp.zeros(x_shape[: lead + 1] + padded, dtype=cols.dtype)
    # One strided slice-add per kernel offset (∏kernel of them) rather than np.add.at per element:
    # the same scatter, with the loop over the few offsets instead of the many windows.
    for offset in onp.ndindex(*kernel):
        target = tuple(slice(o, o + s * (m - 1) + 1, s) for o, s, m in zip(offset, stride, out))
        xp[(Ellipsis,) + target] += g[(slice(None),) * (lead + 1) + offset]
    return xp[(Ellipsis,) + tuple(slice(p, p + n) for p, n in zip(padding, spatial))]


defvjp(im2col, lambda ans, x, kernel, stride, padding: lambda g: col2im(g, x.shape, kernel, stride, padding))
# Both maps are linear and adjoint to each other, so each is the other's VJP (second order works).
defvjp(col2im, lambda ans, cols, x_shape, kernel, stride, padding: lambda g: im2col(g, kernel, stride, padding))


def conv(x, w, b, stride=1, padding=0):
    """Cross-correlation of x (K, B, C, *n) with kernels w (K, O, C, *k), plus bias b (K, O).

    Returns (K, B, O, *out). Member k uses only w[k], b[k] and x[k].
    """
    K, O = w.shape[:2]
    d = w.ndim - 3
    cols = im2col(x, tuple(w.shape[3:]), _per_axis(stride, d), _per_axis(padding, d))
    rows = np.reshape(cols, (K, -1, cols.shape[-1]))
    y = np.matmul(rows, np.swapaxes(np.reshape(w, (K, O, -1)), 1, 2)) + b[:, None, :]
    return np.moveaxis(np.reshape(y, cols.shape[:-1] + (O,)), -1, 2)


def Conv(out_channels, kernel_size, stride=1, padding=0):
    """Convolution layer; 1-D for inputs (C, n), 2-D for inputs (C, h, w)."""

    def init(rng, input_shape):
        channels, *spatial = input_shape
        d = len(spatial)
        kernel, strides, pads = (_per_axis(v, d) for v in (kernel_size, stride, padding))
        out = _output_shape(spatial, kernel, strides, pads, "convolution")
        fan_in, fan_out = channels * prod(kernel), out_channels * prod(kernel)
        w = glorot(rng, (out_channels, channels) + kernel, fan_in, fan_out)
        return (out_channels,) + out, {"w": w, "b": onp.zeros(out_channels)}

    def apply(params, x):
        return conv(x, params["w"], params["b"], stride, padding)

    return Layer(init, apply, f"Conv({out_channels}, k={kernel_size}, s={stride}, p={padding})")


def _pool(reduce, label):
    def layer(window, stride=None):
        stride = window if stride is None else stride

        def init(rng, input_shape):
            channels, *spatial = input_shape
            d = len(spatial)
            out = _output_shape(spatial, _per_axis(window, d), _per_axis(stride, d), (0,) * d, label)
            return (channels,) + out, {}

        def apply(params, x):
            d = x.ndim - 3
            cols = im2col(x, _per_axis(window, d), _per_axis(stride, d), (0,) * d)
            cols = np.reshape(cols, cols.shape[:-1] + (x.shape[2], -1))
            return np.moveaxis(reduce(cols, axis=-1), -1, 2)

        return Layer(init, apply, f"{label}({window}, s={stride})")

    return layer


MaxPool = _pool(np.max, "MaxPool")
AvgPool = _pool(np.mean, "AvgPool")
POOLS = {"max": MaxPool, "avg": AvgPool}
