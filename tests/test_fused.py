"""The fused primitives (a layer's matmul, bias and activation, or softmax cross-entropy, as one
autograd primitive with a hand-written backward pass) against autograd differentiating their
formulas written out with autograd.numpy, and against finite differences."""
import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.test_util import check_grads

from itertools import product

from engine.models.conv import kernel_matrix, kernels
from engine.models.layers import dense
from engine.models.losses import one_hot, softmax_cross_entropy

REFERENCE_ACTIVATIONS = {None: lambda z: z, "relu": lambda z: z * (z > 0), "tanh": anp.tanh}
rng = np.random.default_rng(7)


def reference_dense(x, W, b, activation):
    K = W.shape[0]
    W = anp.reshape(W, (K,) + (1,) * (x.ndim - 3) + W.shape[1:])
    z = anp.matmul(x, W)
    if b is not None:
        z = z + anp.reshape(b, (K,) + (1,) * (x.ndim - 2) + b.shape[1:])
    return REFERENCE_ACTIVATIONS[activation](z)


def reference_cross_entropy(logits, y):
    weights = (y >= 0).astype(float)
    shift = np.max(logits._value if hasattr(logits, "_value") else logits, axis=-1, keepdims=True)
    log_z = anp.log(anp.sum(anp.exp(logits - shift), axis=-1)) + shift[..., 0]
    picked = anp.sum(logits * one_hot(y, logits.shape[-1], logits.dtype), axis=-1)
    axes = tuple(range(1, y.ndim))
    return anp.sum((log_z - picked) * weights, axis=axes) / anp.sum(weights, axis=axes)


def _compare(fused, reference, args, argnums):
    """Same values; same gradient of a random projection of the output for every argument."""
    out = reference(*args)
    np.testing.assert_allclose(fused(*args), out, rtol=1e-12, atol=1e-12)
    probe = rng.normal(size=np.shape(out))
    for argnum in argnums:
        def projected(f, argnum=argnum):
            return lambda a: anp.sum(f(*args[:argnum], a, *args[argnum + 1:]) * probe)
        np.testing.assert_allclose(grad(projected(fused))(args[argnum]), grad(projected(reference))(args[argnum]),
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
# (K, B, n_in), one extra axis, and one example (B = 1: the weights' gradient is an outer product)
@pytest.mark.parametrize("x_shape", [(3, 5, 4), (3, 5, 6, 4), (3, 1, 4)])
def test_dense_matches_its_formula(activation, x_shape):
    x, W, b = rng.normal(size=x_shape), rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 2))
    _compare(lambda x, W, b: dense(x, W, b, activation), lambda x, W, b: reference_dense(x, W, b, activation),
             (x, W, b), argnums=(0, 1, 2))
    check_grads(lambda x, W, b: dense(x, W, b, activation), modes=["rev"], order=1)(x, W, b)


def test_dense_without_bias():
    x, W = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 4, 5))
    _compare(lambda x, W: dense(x, W), lambda x, W: reference_dense(x, W, None, None), (x, W), argnums=(0, 1))


@pytest.mark.parametrize("d", [1, 2])
def test_kernel_matrix_rows_follow_im2col_and_kernels_inverts_it(d):
    """A convolution is im2col's rows times the kernel matrix (a dense layer): row r of member k
    holds w[k, o, c, *offset] for the r-th (offset, channel) pair, offsets in im2col's order."""
    K, O, C, k = 2, 5, 4, (3,) * d
    w = rng.normal(size=(K, O, C) + k)
    W = kernel_matrix(w, d)
    by_hand = np.array([[[w[m, o, c][offset] for o in range(O)]
                         for offset in product(*map(range, k)) for c in range(C)] for m in range(K)])
    np.testing.assert_array_equal(W, by_hand)
    np.testing.assert_array_equal(kernel_matrix(w[1], d), W[1])   # one member, as Conv initialises
    np.testing.assert_array_equal(kernels(W, k), w)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5)])   # (K, B) and (K, B, T) labels
def test_softmax_cross_entropy_matches_its_formula(shape):
    logits = rng.normal(size=shape + (6,)) * 3
    y = rng.integers(-1, 6, size=shape)
    y[..., 0] = 2  # at least one target per member
    _compare(softmax_cross_entropy, reference_cross_entropy, (logits, y), argnums=(0,))
    check_grads(lambda z: softmax_cross_entropy(z, y), modes=["rev"], order=1)(logits)
