"""conv-operation: the im2col convolution against SciPy, its output size and its gradients.

The lecture writes s(t) = (x ∗ w)(t) = ∫ x(a) w(t − a) da, a true convolution; CNN layers compute
the cross-correlation Σ_a x(t + a) w(a). They differ by flipping the kernel, which the tests check
against both ``scipy.signal.correlate`` and ``scipy.signal.convolve``.
"""
from itertools import product

import autograd.numpy as anp
import numpy as np
import pytest
from autograd.test_util import check_grads
from scipy.signal import convolve, correlate

from engine.models.conv import AvgPool, ChannelsLast, Conv, MaxPool, col2im, conv, conv_output_size, im2col
from engine.models.layers import Dense, Flatten, init_members, serial


def check(f, x, order=1):
    # check_grads draws its random directions from the global NumPy generator: fix it so that a
    # failure reproduces.
    np.random.seed(0)
    check_grads(f, modes=["rev"], order=order)(x)


def reference(x, w, b, stride, padding, flip=False):
    """Loop over members, examples, output channels, summing SciPy over input channels."""
    d = w.ndim - 3
    xp = np.pad(x, [(0, 0)] * 3 + [(padding, padding)] * d)
    K, B = x.shape[:2]
    O, C = w.shape[1:3]
    out = []
    for k in range(K):
        for n in range(B):
            for o in range(O):
                if flip:
                    # convolve flips the kernel; flipping it first gives the correlation back.
                    maps = [convolve(xp[k, n, c], np.flip(w[k, o, c]), mode="valid") for c in range(C)]
                else:
                    maps = [correlate(xp[k, n, c], w[k, o, c], mode="valid") for c in range(C)]
                out.append(sum(maps)[(slice(None, None, stride),) * d] + b[k, o])
    return np.reshape(out, (K, B, O) + out[-1].shape)


CASES = [(d, s, p) for d in (1, 2) for s in (1, 2) for p in (0, 1, 2)]


@pytest.mark.parametrize("d,stride,padding", CASES)
def test_conv_matches_scipy(d, stride, padding):
    rng = np.random.default_rng(100 * d + 10 * stride + padding)
    K, B, C, O, n, k = 2, 2, 3, 4, 7, 3
    x = rng.normal(size=(K, B, C) + (n,) * d)
    w = rng.normal(size=(K, O, C) + (k,) * d)
    b = rng.normal(size=(K, O))
    y = conv(x, w, b, stride, padding)
    np.testing.assert_allclose(y, reference(x, w, b, stride, padding), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, reference(x, w, b, stride, padding, flip=True), rtol=1e-12, atol=1e-12)
    assert y.shape == (K, B, O) + (conv_output_size(n, k, stride, padding),) * d
    assert y.dtype == np.float64


def test_rectangular_kernel_and_input():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 2, 2, 6, 9))
    w = rng.normal(size=(1, 3, 2, 2, 4))
    b = np.zeros((1, 3))
    np.testing.assert_allclose(conv(x, w, b, 2, 1), reference(x, w, b, 2, 1), atol=1e-12)


@pytest.mark.parametrize(
    "n,k,s,p,expected",
    [(8, 3, 1, 1, 8), (8, 3, 1, 0, 6), (40, 5, 2, 1, 19), (19, 3, 2, 1, 10), (10, 3, 2, 1, 5), (7, 3, 2, 2, 5)],
)
def test_output_size_formula(n, k, s, p, expected):
    """⌊(n + 2p − k)/s⌋ + 1, and the layer's shape inference agrees with the computed output."""
    assert conv_output_size(n, k, s, p) == expected == (n + 2 * p - k) // s + 1
    out_shape, params = Conv(4, k, s, p).init(np.random.default_rng(0), (n, 1))   # channels last
    assert out_shape == (expected, 4)
    x = np.zeros((1, 1, n, 1))
    assert Conv(4, k, s, p).apply({k_: v[None] for k_, v in params.items()}, x).shape[2:] == out_shape


def test_im2col_col2im_are_adjoint():
    """⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩: col2im is the exact VJP of im2col."""
    rng = np.random.default_rng(2)
    for kernel, stride, padding, shape in [((3,), (2,), (1,), (2, 3, 2, 9)), ((2, 3), (1, 2), (2, 0), (2, 1, 3, 5, 6))]:
        x = rng.normal(size=shape)
        cols = im2col(x, kernel, stride, padding)
        c = rng.normal(size=cols.shape)
        assert np.isclose(np.sum(cols * c), np.sum(x * col2im(c, x.shape, kernel, stride, padding)))


def windows_by_loop(x, kernel, stride, padding):
    """im2col written plainly: np.pad, then every window's entries offset by offset."""
    d = len(kernel)
    xp = np.pad(x, [(0, 0)] * (x.ndim - d - 1) + [(p, p) for p in padding] + [(0, 0)])
    out = [conv_output_size(n, k, s, p) for n, k, s, p in zip(x.shape[-d - 1:-1], kernel, stride, padding)]
    cols = np.empty(x.shape[:-d - 1] + tuple(out) + tuple(kernel) + x.shape[-1:], x.dtype)
    for offset in product(*map(range, kernel)):
        cols[(Ellipsis,) + offset + (slice(None),)] = xp[(Ellipsis,) + tuple(
            slice(o, o + s * (m - 1) + 1, s) for o, s, m in zip(offset, stride, out)) + (slice(None),)]
    return cols.reshape(cols.shape[:-d - 1 - d] + tuple(out) + (-1,))


def scatter_by_loop(cols, x_shape, kernel, stride, padding):
    """col2im written plainly: one strided slice-add per kernel offset, offsets in order, onto zeros."""
    d = len(kernel)
    lead, spatial = len(x_shape) - d - 1, x_shape[-d - 1:-1]
    out = cols.shape[lead:lead + d]
    g = cols.reshape(x_shape[:lead] + out + tuple(kernel) + x_shape[-1:])
    xp = np.zeros(x_shape[:lead] + tuple(n + 2 * p for n, p in zip(spatial, padding)) + x_shape[-1:], cols.dtype)
    for offset in product(*map(range, kernel)):
        target = tuple(slice(o, o + s * (m - 1) + 1, s) for o, s, m in zip(offset, stride, out))
        xp[(Ellipsis,) + target + (slice(None),)] += g[(Ellipsis,) + offset + (slice(None),)]
    return xp[(Ellipsis,) + tuple(slice(p, p + n) for p, n in zip(padding, spatial)) + (slice(None),)]


@pytest.mark.parametrize("kernel,stride,padding,shape", [
    ((5,), (2,), (1,), (3, 2, 40, 1)), ((3,), (2,), (1,), (3, 2, 19, 25)), ((3,), (2,), (1,), (3, 1, 10, 4)),
    ((3, 3), (1, 1), (1, 1), (2, 3, 8, 8, 1)), ((2, 2), (2, 2), (0, 0), (2, 3, 8, 8, 5)),
    ((3, 2), (2, 3), (2, 0), (2, 1, 9, 7, 3)), ((4,), (3,), (2,), (1, 2, 11, 2)), ((2,), (3,), (0,), (1, 2, 10, 2))])
def test_im2col_col2im_bits(kernel, stride, padding, shape):
    """Both maps give, bit for bit, what their plain loops give: im2col copies, and col2im adds
    each position's values in the order of its kernel offsets onto a zero (float32, with −0.0
    entries, whose sign a sum in another order or from another start would change)."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=shape).astype(np.float32)
    cols = im2col(x, kernel, stride, padding)
    assert cols.tobytes() == windows_by_loop(x, kernel, stride, padding).tobytes()
    g = rng.normal(size=cols.shape).astype(np.float32)
    g[g < -0.7] = -0.0
    back, loop = col2im(g, shape, kernel, stride, padding), scatter_by_loop(g, shape, kernel, stride, padding)
    assert back.shape == loop.shape and back.dtype == loop.dtype and back.tobytes() == loop.tobytes()


@pytest.mark.parametrize("d,stride,padding", [(1, 2, 1), (2, 1, 2), (2, 2, 0)])
def test_conv_gradients(d, stride, padding):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 2, 2) + (5,) * d)
    w = rng.normal(size=(2, 3, 2) + (3,) * d)
    b = rng.normal(size=(2, 3))
    check(lambda x: conv(x, w, b, stride, padding), x)
    check(lambda w: conv(x, w, b, stride, padding), w)
    check(lambda b: conv(x, w, b, stride, padding), b)


def test_im2col_second_order():
    x = np.random.default_rng(4).normal(size=(1, 2, 2, 4, 4))
    check(lambda x: anp.sum(im2col(x, (2, 2), (2, 1), (1, 1)) ** 2), x, order=2)


@pytest.mark.parametrize("pool", [MaxPool, AvgPool])
def test_pooling(pool):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 6, 6, 2))   # channels last
    out_shape, _ = pool(2).init(None, (6, 6, 2))
    y = pool(2).apply({}, x)
    assert y.shape == (2, 3) + out_shape == (2, 3, 3, 3, 2)
    reduce = np.max if pool is MaxPool else np.mean
    np.testing.assert_allclose(y, reduce(x.reshape(2, 3, 3, 2, 3, 2, 2), axis=(3, 5)))
    check(lambda x: pool(2).apply({}, x), x)
    signal = rng.normal(size=(1, 2, 10, 3))
    assert pool(3, 2).apply({}, signal).shape == (1, 2, conv_output_size(10, 3, 2), 3)


def test_tiny_cnn_gradients():
    """A whole CNN (2-D conv, pooling, dense) differentiates correctly with two members."""
    net = serial(ChannelsLast, Conv(3, 3, 1, 1, "relu"), MaxPool(2), Flatten, Dense(4))
    rngs = [np.random.default_rng(s) for s in (6, 7)]
    _, params = init_members(net.init, rngs, (2, 4, 4))
    params = {name: value.astype(np.float64) for name, value in params.items()}   # differences are precise in float64
    x = np.random.default_rng(8).normal(size=(2, 3, 2, 4, 4))
    check(lambda p: net.apply(p, x), params)
    check(lambda x: net.apply(params, x), x)
