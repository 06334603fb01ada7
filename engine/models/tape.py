"""One definition per differentiable operation, and the two ways a model's gradient is taken.

An operation (``Op``) is a forward ``f(*args) -> y`` written with plain NumPy and a backward
``backward(g, y, args, argnums) -> (∂L/∂args[i] for i in argnums)`` for g = ∂L/∂y, written once.
``Op`` turns the pair into

* an autograd primitive (``autograd.extend.primitive`` and ``defvjp_argnums``, its public API),
  which every model's ``loss`` runs through: ``autograd.grad`` of any model gives its gradient;
* the step of a trace-free path, ``value_and_gradient``: the model's own ``loss`` runs on
  parameters wrapped in ``Tracked``, each op appends (op, output, arguments) to a linear tape
  (a Wengert list), and the backward pass replays the tape in reverse, adding the gradients of a
  value used twice (a discriminator's parameters meet real and generated samples).

Why a tape of operations rather than hand-written pullbacks per layer: the model code (layers'
``apply``, each model's loss, a GAN's two losses) is then written once, and the trace-free path
runs that very code; nothing restates a forward or copies autograd's internals.  The tape costs
about a microsecond per operation, against about nine for autograd's trace (its boxes, nodes and
topological sort), which is what made single-example steps of small networks expensive.

A ``Tracked`` value refuses NumPy (any ufunc, ``np.asarray``, arithmetic, indexing raise
TypeError): code that is not written with ops fails loudly instead of giving a silently wrong
gradient.  Models whose loss is written with ops only say so (``Model.tape``; every registered
model is); any other is differentiated by autograd alone.  Backward passes are NumPy, so an op is
differentiable once (no Hessians through it).
"""
import threading
from contextlib import contextmanager
from typing import Callable

import numpy as onp
from autograd.extend import Box, defvjp_argnums, primitive


class _Kept(threading.local):
    """While ``reusing_forwards`` is active in this thread: (op, ids of its arguments) →
    (arguments, value); else None.  Per thread: a worker may train groups in threads."""
    values: dict | None = None


_kept = _Kept()


@contextmanager
def reusing_forwards():
    """Within the block, an op called on plain arrays keeps its value, and a later call on the
    very same argument objects, plain or as the values of tracked ones, returns that value
    rather than computing it again.  A GAN's step runs its generator twice on one z and one
    θ⁽ᵍ⁾: on plain parameters in the discriminator's step, on the tape in the generator's.

    Sound while nothing writes into those arguments inside the block: optimizers replace
    parameters rather than writing into them, and ops return fresh arrays or views.  Each entry
    holds its arguments, so no id is reused by another object while the block lasts."""
    _kept.values = {}
    try:
        yield
    finally:
        _kept.values = None


def _forward(op, args: tuple, keep: bool):
    """op's value on ``args``: the kept one if this op already ran on these very objects."""
    kept, key = _kept.values, (op, *map(id, args))
    entry = kept.get(key)
    if entry is not None:
        return entry[1]
    value = op.forward(*args)
    if keep:
        kept[key] = (args, value)
    return value


class Tracked:
    """A value recorded on a tape: it offers its shape, size, dtype and ndim and nothing else.
    Its array is ``_value``, where autograd's boxes keep theirs (code that inspects a traced
    value, such as a test recording what a loss saw, reads both alike)."""

    __slots__ = ("_value", "tape")
    __array_ufunc__ = None   # ufuncs (np.exp, ndarray + Tracked, ...) raise TypeError

    def __init__(self, value, tape):
        self._value, self.tape = value, tape

    def __array__(self, *args, **kwargs):
        raise TypeError("a tracked value enters only ops (engine/models/tape.py), not NumPy")

    shape = property(lambda self: self._value.shape)
    size = property(lambda self: self._value.size)
    dtype = property(lambda self: self._value.dtype)
    ndim = property(lambda self: self._value.ndim)


class Op:
    """A differentiable operation: ``forward(*args)`` and ``backward(g, ans, args, argnums)``.

    Called with autograd's boxes (inside ``autograd.grad``) it is an autograd primitive; with a
    ``Tracked`` argument it is recorded on that value's tape; with plain arrays it is ``forward``.
    Arguments that are not arrays (shapes, axes, names) are passed positionally and never
    differentiated.  ``into``: ``backward`` also takes ``into``, one array or None per argnum,
    and may write that gradient into the array given (and return it): the tape then finds a
    parameter's gradient already in its place in the optimizer's (K, P) matrix, not copied."""

    def __init__(self, forward: Callable, backward: Callable, into: bool = False):
        self.forward, self.backward, self.into = forward, backward, into
        self.primitive = primitive(forward)
        defvjp_argnums(self.primitive, lambda argnums, ans, args, kwargs: lambda g: backward(g, ans, args, argnums))
        self.__name__, self.__doc__ = forward.__name__, forward.__doc__

    def __call__(self, *args):
        traced = False
        for arg in args:
            if type(arg) is Tracked:
                return arg.tape.record(self, args)
            traced = traced or isinstance(arg, Box)
        # plain arrays skip the primitive's own search for boxes (a single-example step calls
        # ops on data, and evaluations call them on parameters, many times)
        if traced:
            return self.primitive(*args)
        return self.forward(*args) if _kept.values is None else _forward(self, args, keep=True)


class Tape:
    """The operations run on tracked values, in order."""

    __slots__ = ("entries",)

    def __init__(self):
        self.entries = []

    def record(self, op: Op, args: tuple) -> Tracked:
        values, argnums = list(args), []
        for i, arg in enumerate(args):
            if type(arg) is Tracked:
                values[i] = arg._value
                argnums.append(i)
        out = Tracked(op.forward(*values) if _kept.values is None else _forward(op, tuple(values), keep=False), self)
        self.entries.append((op, out, args, values, argnums))
        return out

    def backward(self, end: Tracked, g, into: dict | None = None) -> dict:
        """∂(g · end)/∂v for every tracked v that ``end`` depends on: {Tracked: gradient}.
        ``into`` {Tracked: array}: where an op that can (``Op.into``) writes the first gradient
        it gives that value (``into`` is emptied of those it hands out)."""
        grads = {end: g}
        for op, out, args, values, argnums in reversed(self.entries):
            g = grads.pop(out, None)
            if g is None:   # the output does not reach the end
                continue
            if op.into and into:   # a value's first gradient only: later ones are added to it
                dests = tuple(into.pop(args[i], None) if args[i] not in grads else None for i in argnums)
                parts = op.backward(g, out._value, values, argnums, into=dests)
            else:
                parts = op.backward(g, out._value, values, argnums)
            for i, gi in zip(argnums, parts):
                arg = args[i]
                # a value used twice receives the sum of its gradients
                grads[arg] = gi if arg not in grads else grads[arg] + gi
        return grads


def value_and_gradient(loss: Callable, arrays: dict, into: dict | None = None) -> tuple:
    """``loss(arrays) -> (K,)`` and {name: ∂(Σ_k loss_k)/∂array} by the tape: every member's
    gradient of its own loss (members never meet).  An array the loss does not read gets zeros.
    ``into`` {name: array}: the gradients are written there (the columns of a (K, P) matrix),
    and those arrays are returned."""
    tape = Tape()
    leaves = {name: Tracked(value, tape) for name, value in arrays.items()}
    end = loss(leaves)
    if type(end) is not Tracked:
        grads = {}
    else:
        dests = None if into is None else {leaf: into[name] for name, leaf in leaves.items()}
        grads = tape.backward(end, onp.ones(end.shape, end.dtype), dests)
        # The tape and its values refer to each other: emptied, they (and every intermediate
        # array) are freed now rather than at the next collection of cycles, and memory is reused warm.
        tape.entries.clear()
        end = end._value
    if into is None:
        return end, {name: grads[leaf] if leaf in grads else onp.zeros_like(leaf._value)
                     for name, leaf in leaves.items()}
    for name, leaf in leaves.items():
        gradient, dest = grads.get(leaf), into[name]
        if gradient is None:
            dest[...] = 0
        elif gradient is not dest:   # an op that could not write it there, or a sum of several
            dest[...] = gradient
    return end, into
