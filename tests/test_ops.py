"""Every op's backward pass (engine/models/ops.py, conv.py, losses.py) against two independent
references: autograd differentiating the op's formula written with plain autograd.numpy
operations, and finite differences in float64.  Then the tape (engine/models/tape.py) against
autograd on the same ops, and its refusal of NumPy."""
import threading
from itertools import product

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.test_util import check_grads

from engine.models.conv import col2im, im2col, kernel_matrix, kernels, window_max
from engine.models.losses import (bernoulli_nll, gaussian_kl, mean_squared_error, one_hot, softmax, softmax_cross_entropy,
                                  softplus_mean)
from engine.models.ops import (add, concatenate, dense, expand_dims, mean, moveaxis, negative, recur, reparameterise,
                               reshape, sigmoid, stack, take)
from engine.models.tape import Op, Tape, Tracked, reusing_forwards, value_and_gradient

rng = np.random.default_rng(7)
REFERENCE_ACTIVATIONS = {None: lambda z: z, "relu": lambda z: z * (z > 0), "tanh": anp.tanh}


def reference_dense(x, W, b, activation):
    K = W.shape[0]
    z = anp.matmul(x, anp.reshape(W, (K,) + (1,) * (x.ndim - 3) + W.shape[1:]))
    if b is not None:
        z = z + anp.reshape(b, (K,) + (1,) * (x.ndim - 2) + b.shape[1:])
    return REFERENCE_ACTIVATIONS[activation](z)


def reference_im2col(x, kernel, stride, padding):
    """Windows cut one by one from the padded input, each row its offsets' channels in turn."""
    d = len(kernel)
    lead = x.ndim - d - 1
    xp = anp.pad(x, [(0, 0)] * lead + [(p, p) for p in padding] + [(0, 0)], mode="constant")
    out = [(xp.shape[lead + i] - kernel[i]) // stride[i] + 1 for i in range(d)]
    rows = [anp.concatenate([xp[(Ellipsis,) + tuple(p * s + o for p, s, o in zip(position, stride, offset))
                                + (slice(None),)] for offset in product(*map(range, kernel))], axis=-1)
            for position in product(*map(range, out))]
    return anp.reshape(anp.stack(rows, axis=-2), x.shape[:lead] + tuple(out) + (-1,))


def reference_cross_entropy(logits, y):
    log_p = logits - anp.log(anp.sum(anp.exp(logits), axis=-1, keepdims=True))
    weights = (y >= 0).astype(float)
    axes = tuple(range(1, y.ndim))
    return -anp.sum(anp.sum(log_p * one_hot(y, logits.shape[-1], float), axis=-1) * weights, axis=axes) \
        / np.sum(weights, axis=axes)


def labels(shape, n):
    y = rng.integers(-1, n, size=shape)
    y[..., 0] = 1   # at least one target per member
    return y


def normal(*shape):
    return rng.normal(size=shape)


# (id, the op, its formula with autograd.numpy, arguments, the arguments to differentiate)
CASES = [
    *[(f"dense-{act}-{'x'.join(map(str, shape))}", lambda x, W, b, act=act: dense(x, W, b, act),
       lambda x, W, b, act=act: reference_dense(x, W, b, act),
       (normal(*shape), normal(3, 4, 2), normal(3, 2)), (0, 1, 2))
      # (K, B, n_in), one extra axis, and one example (B = 1: the weights' gradient is an outer product)
      for act in (None, "relu", "tanh") for shape in ((3, 5, 4), (3, 5, 6, 4), (3, 1, 4))],
    ("dense-no-bias", lambda x, W: dense(x, W, None, None), lambda x, W: reference_dense(x, W, None, None),
     (normal(2, 3, 4), normal(2, 4, 5)), (0, 1)),
    # one output (a discriminator's logit): ∂x is a column times a row
    ("dense-one-output", lambda x, W, b: dense(x, W, b, None), lambda x, W, b: reference_dense(x, W, b, None),
     (normal(3, 5, 4), normal(3, 4, 1), normal(3, 1)), (0, 1, 2)),
    # one step of a recurrence: tanh([r, x] θ), r fed back (K, B, 3), x with its 1 (K, B, 2)
    ("recur", recur, lambda r, x, th: reference_dense(anp.concatenate([r, x], axis=-1), th, None, "tanh"),
     (normal(2, 4, 3), normal(2, 4, 2), normal(2, 5, 3)), (0, 1, 2)),
    ("reshape", lambda x: reshape(x, (-1,)), lambda x: anp.reshape(x, (2, 3, -1)), (normal(2, 3, 4, 5),), (0,)),
    ("moveaxis", lambda x: moveaxis(x, 2, -1), lambda x: anp.moveaxis(x, 2, -1), (normal(2, 3, 4, 5),), (0,)),
    ("moveaxis-back", lambda x: moveaxis(x, -1, 2), lambda x: anp.moveaxis(x, -1, 2), (normal(2, 3, 4, 5, 6),), (0,)),
    ("sigmoid", sigmoid, lambda x: 1.0 / (1.0 + anp.exp(-x)), (3 * normal(2, 3, 4),), (0,)),
    ("mean-1", lambda x: mean(x, 1), lambda x: anp.mean(x, axis=1), (normal(2, 3, 4),), (0,)),
    ("mean-axes", lambda x: mean(x, (1, 2)), lambda x: anp.mean(x, axis=(1, 2)), (normal(2, 3, 4),), (0,)),
    ("mean-last", lambda x: mean(x, -2), lambda x: anp.mean(x, axis=-2), (normal(2, 3, 4, 5),), (0,)),
    ("add", add, lambda a, b: a + b, (normal(2, 3), normal(2, 3)), (0, 1)),
    ("negative", negative, lambda a: -a, (normal(2, 3),), (0,)),
    ("concatenate", lambda a, b, c: concatenate(-1, a, b, c), lambda a, b, c: anp.concatenate([a, b, c], axis=-1),
     (normal(2, 3, 4), normal(2, 3, 1), normal(2, 3, 2)), (0, 1, 2)),
    ("stack", lambda a, b: stack(2, a, b), lambda a, b: anp.stack([a, b], axis=2), (normal(2, 3, 4), normal(2, 3, 4)),
     (0, 1)),
    ("take", lambda x: take(x, 2, 1), lambda x: x[:, 2], (normal(2, 4, 3, 5),), (0,)),
    ("expand-dims", lambda x: expand_dims(x, 1), lambda x: anp.reshape(x, (2, 1, 5)), (normal(2, 5),), (0,)),
    ("im2col-1d", lambda x: im2col(x, (3,), (2,), (1,)), lambda x: reference_im2col(x, (3,), (2,), (1,)),
     (normal(2, 3, 9, 2),), (0,)),
    ("im2col-2d", lambda x: im2col(x, (2, 3), (1, 2), (2, 0)),
     lambda x: reference_im2col(x, (2, 3), (1, 2), (2, 0)), (normal(2, 1, 3, 5, 6),), (0,)),
    ("col2im", lambda c: col2im(c, (2, 3, 9, 2), (3,), (2,), (1,)),
     lambda c: grad(lambda x: anp.sum(reference_im2col(x, (3,), (2,), (1,)) * c))(np.zeros((2, 3, 9, 2))),
     (normal(2, 3, 5, 6),), (0,)),
    ("window-max", lambda x: window_max(x, -2), lambda x: anp.max(x, axis=-2), (normal(2, 3, 4, 4, 2),), (0,)),
    ("cross-entropy", lambda z: softmax_cross_entropy(z, Y), lambda z: reference_cross_entropy(z, Y),
     (3 * normal(3, 4, 6),), (0,)),
    ("cross-entropy-sequence", lambda z: softmax_cross_entropy(z, Y3), lambda z: reference_cross_entropy(z, Y3),
     (3 * normal(2, 3, 5, 6),), (0,)),
    ("softmax", softmax, lambda z: anp.exp(z) / anp.sum(anp.exp(z), axis=-1, keepdims=True),
     (2 * normal(2, 3, 5),), (0,)),
    ("bernoulli-nll", bernoulli_nll, lambda o, x: anp.sum(anp.reshape(anp.log(1.0 + anp.exp(o)) - x * o, (2, 3, -1)), axis=-1),
     (3 * normal(2, 3, 2, 4), rng.uniform(size=(2, 3, 2, 4))), (0, 1)),
    ("gaussian-kl", gaussian_kl,
     lambda s: 0.5 * anp.sum(s[..., :3] ** 2 + anp.exp(s[..., 3:]) - 1.0 - s[..., 3:], axis=-1), (normal(2, 4, 6),), (0,)),
    ("reparameterise", reparameterise, lambda s, e: s[..., :3] + anp.sqrt(anp.exp(s[..., 3:])) * e,
     (normal(2, 4, 6), normal(2, 4, 3)), (0, 1)),
    ("mse", mean_squared_error, lambda r, x: anp.mean((r - x) ** 2, axis=(1, 2, 3)),
     (normal(2, 3, 4, 2), normal(2, 3, 4, 2)), (0, 1)),
    *[(f"softplus-mean{sign:+d}", lambda z, sign=sign: softplus_mean(z, sign),
       lambda z, sign=sign: anp.mean(anp.log(1.0 + anp.exp(sign * z)), axis=1), (3 * normal(2, 5),), (0,))
      for sign in (-1, 1)],
]
Y, Y3 = labels((3, 4), 6), labels((2, 3, 5), 6)
IDS = [case[0] for case in CASES]


def projected(f, args, argnum, probe):
    """a ↦ Σ probe · f(args with a in place argnum): a scalar whose gradient is f's VJP of probe."""
    return lambda a: anp.sum(f(*args[:argnum], a, *args[argnum + 1:]) * probe)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_and_backward_against_the_formula(case):
    """The same values, and the same VJP of a random probe for every argument, as autograd
    differentiating the formula (so the op's backward pass is checked, not restated)."""
    _, op, formula, args, argnums = case
    out = formula(*args)
    np.testing.assert_allclose(op(*args), out, rtol=1e-12, atol=1e-12)
    probe = rng.normal(size=np.shape(out))
    for argnum in argnums:
        np.testing.assert_allclose(grad(projected(op, args, argnum, probe))(args[argnum]),
                                   grad(projected(formula, args, argnum, probe))(args[argnum]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_against_finite_differences(case):
    _, op, _, args, argnums = case
    for argnum in argnums:
        np.random.seed(argnum)   # check_grads draws its direction from the global generator
        check_grads(lambda a: op(*args[:argnum], a, *args[argnum + 1:]), modes=["rev"], order=1)(args[argnum])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_tape_gives_autograds_gradient(case):
    """Each op recorded on the tape and replayed: the gradient autograd takes through the op."""
    _, op, _, args, argnums = case
    probe = rng.normal(size=np.shape(op(*args)))
    for argnum in argnums:
        _, grads = value_and_gradient(lambda arrays: probed(probe)(op(*args[:argnum], arrays["a"], *args[argnum + 1:])),
                                      {"a": args[argnum]})
        expected = grad(projected(op, args, argnum, probe))(args[argnum])
        np.testing.assert_allclose(grads["a"], expected, rtol=1e-10, atol=1e-12)


def probed(probe):
    """An op y ↦ Σ probe · y per member, written here so that the tape's test ends on its own op."""
    axes = tuple(range(1, probe.ndim))
    return Op(lambda y: (y * probe).sum(axis=axes),
              lambda g, ans, args, argnums: (np.reshape(g, (-1,) + (1,) * len(axes)) * probe,))


def test_the_tape_adds_the_gradients_of_a_value_used_twice():
    """f(W) = mean(x W) + mean(x' W): ∂f/∂W is the sum of the two paths' gradients."""
    x, x2, W = normal(2, 3, 4), normal(2, 5, 4), normal(2, 4, 1)

    def loss(p):
        return add(mean(dense(x, p["W"], None, None), (1, 2)), mean(dense(x2, p["W"], None, None), (1, 2)))

    value, grads = value_and_gradient(loss, {"W": W, "unused": normal(2, 3)})
    np.testing.assert_allclose(value, np.einsum("kbi,kio->k", x, W) / 3 + np.einsum("kbi,kio->k", x2, W) / 5,
                               rtol=1e-12)
    np.testing.assert_allclose(grads["W"][..., 0], x.mean(axis=1) + x2.mean(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(grads["unused"], 0.0)


def test_a_one_output_layers_input_gradient_has_matmuls_bits():
    """∂x of a layer with one output, taken by einsum: matmul's numbers bit for bit, zeros' signs
    included (each is one product added to +0 either way)."""
    g, W = normal(4, 6, 1).astype(np.float32), normal(4, 3, 1).astype(np.float32)
    g[:, ::2] = -0.0
    W[0] = 0.0
    dx = dense.backward(g, None, (normal(4, 6, 3).astype(np.float32), W, None, None), (0,))[0]
    expected = np.matmul(g, np.swapaxes(W, 1, 2))
    np.testing.assert_array_equal(dx, expected)
    np.testing.assert_array_equal(np.signbit(dx), np.signbit(expected))


@pytest.mark.parametrize("batch", [1, 5])
def test_gradients_written_into_a_flat_matrix_have_the_bits_of_fresh_ones(batch):
    """``value_and_gradient(into=)``: each array's gradient lands in its columns of one (K, P)
    matrix, with the bits of the gradients returned fresh: a dense layer's ∂W and ∂b written
    there by the op (an outer product at B = 1, products at B > 1, zeros' signs included), a
    value used twice (its sum), an array the loss does not read (zeros)."""
    f32 = np.float32
    x, W1, b1 = normal(3, batch, 4).astype(f32), normal(3, 4, 5).astype(f32), normal(3, 5).astype(f32)
    W2, b2 = normal(3, 5, 5).astype(f32), normal(3, 5).astype(f32)
    x[:, :, 0] = -0.0

    def loss(p):
        h = dense(x, p["W1"], p["b1"], "relu")
        return add(mean(dense(dense(h, p["W2"], p["b2"], "tanh"), p["W2"], None, None), (1, 2)),
                   mean(h, (1, 2)))

    arrays = {"W1": W1, "b1": b1, "W2": W2, "b2": b2, "unused": normal(3, 2).astype(f32)}
    value, fresh = value_and_gradient(loss, arrays)
    flat = np.full((3, sum(a[0].size for a in arrays.values())), np.nan, f32)
    into, start = {}, 0
    for name, a in arrays.items():
        into[name] = flat[:, start:start + a[0].size].reshape(a.shape)
        start += a[0].size
    value_into, grads = value_and_gradient(loss, arrays, into)
    assert all(grads[name] is into[name] for name in arrays)
    np.testing.assert_array_equal(value_into, value)
    for name in arrays:
        np.testing.assert_array_equal(grads[name], fresh[name])
        np.testing.assert_array_equal(np.signbit(grads[name]), np.signbit(fresh[name]))


def test_an_op_run_again_on_the_same_arguments_reuses_its_value_within_the_block():
    """Inside ``reusing_forwards`` an op called on plain arrays keeps its value; called again on
    the very same objects (plain, or tracked on a tape) it returns that value without computing
    it, and the tape's gradient is the one taken without reuse.  Other arguments, the same call
    in another thread, or outside the block, compute afresh."""
    calls = []
    twice = Op(lambda x: calls.append(x) or 2.0 * x, lambda g, ans, args, argnums: (2.0 * g,))
    x, other = normal(2, 3), normal(2, 3)
    loss = lambda arrays: mean(twice(arrays["x"]), 1)
    expected = value_and_gradient(loss, {"x": x})
    calls.clear()
    with reusing_forwards():
        kept = twice(x)
        assert twice(x) is kept and len(calls) == 1
        value, grads = value_and_gradient(loss, {"x": x})
        assert len(calls) == 1
        twice(other)
        assert len(calls) == 2
        # another thread (a worker may train groups in threads) keeps nothing of this block's
        thread = threading.Thread(target=lambda: twice(x))
        thread.start()
        thread.join()
        assert len(calls) == 3
    twice(x)
    assert len(calls) == 4
    np.testing.assert_array_equal(value, expected[0])
    np.testing.assert_array_equal(grads["x"], expected[1]["x"])


def test_a_tracked_value_refuses_numpy():
    """Code not written with ops fails loudly on the tape rather than giving a wrong gradient."""
    t = Tracked(normal(2, 3), Tape())
    for attempt in (lambda: np.exp(t), lambda: t + 1.0, lambda: normal(2, 3) * t, lambda: np.asarray(t),
                    lambda: anp.sum(t), lambda: np.reshape(t, (6,)), lambda: t[0], lambda: -t):
        with pytest.raises(TypeError):
            attempt()
    assert t.shape == (2, 3) and t.ndim == 2


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
