"""Feed-forward classifiers: logistic regression, MLP and CNN, with softmax cross-entropy.

The CNN follows the lecture: kernels w slide over the input with a stride, s = x ∗ w extracts
feature maps, which are flattened and fed to a feed-forward network that gives the output.
Settings calibrated on this kind of machine: digits ``conv=((16, 3, 1, 1),)``; MNIST-1D
``conv=((25, 5, 2, 1), (25, 3, 2, 1), (25, 3, 2, 1))`` (the MNIST-1D paper's ConvBase).
"""
from functools import partial

import numpy as np

from .base import Model, ModelFactory
from .conv import CHANNEL_MOVES, POOLS, ChannelsFirst, ChannelsLast, Conv, conv_kernels
from .layers import Dense, Flatten, activations, dense_stack, init_members, layer_table, serial
from .losses import accuracy, softmax_cross_entropy

FLAT_INPUTS = frozenset({"image", "signal", "sequence"})


def classifier(kind, layers, info, artifacts=None):
    """A Model from a layer stack whose output is one logit per class; ``artifacts(net, params,
    data, rngs)``, when given, becomes the Model's ``artifacts`` (engine/models/base.py)."""
    net = serial(*layers)
    shape = tuple(info["shape"])
    table = layer_table(layers, shape, channel_moves=CHANNEL_MOVES)

    def init(rngs):
        return init_members(net.init, rngs, shape)[1]

    def loss(params, batch):
        return softmax_cross_entropy(net.apply(params, batch["x"]), batch["y"])

    def metrics(params, batch):
        logits = net.apply(params, batch["x"])
        return {"loss": softmax_cross_entropy(logits, batch["y"]), "accuracy": accuracy(logits, batch["y"])}

    return Model(
        kind=kind,
        init=init,
        loss=loss,
        tape=True,
        metrics=metrics,
        layers=table,
        n_params=sum(row["n_params"] for row in table),
        extras={"logits": net.apply, "activations": partial(activations, layers)},
        artifacts=None if artifacts is None else partial(artifacts, layers),
    )


def logistic(info):
    """p(y | x) = softmax(W x + b)."""
    return classifier("logistic", [Flatten, Dense(info["n_classes"])], info)


def mlp(info, *, hidden=(128,), activation="relu"):
    layers = [Flatten, *dense_stack(hidden, activation), Dense(info["n_classes"])]
    return classifier("mlp", layers, info)


def cnn(info, *, conv=((16, 3, 1, 1),), pool=None, pool_size=2, hidden=(), activation="relu"):
    """``conv``: one (channels, kernel, stride, padding) per convolution layer; ``pool``: None,
    'max' or 'avg' after every convolution; then flatten, ``hidden`` dense layers and the output."""
    layers, kernel_sizes = [ChannelsLast], {}
    for channels, kernel, stride, padding in conv:
        kernel_sizes[len(layers)] = kernel
        layers.append(Conv(channels, kernel, stride, padding, activation))
        if pool is not None:
            if pool not in POOLS:
                raise ValueError(f"pool must be None or one of {sorted(POOLS)}, not {pool!r}")
            layers.append(POOLS[pool](pool_size))
    layers += [ChannelsFirst, Flatten, *dense_stack(hidden, activation), Dense(info["n_classes"])]
    return classifier("cnn", layers, info, artifacts=partial(cnn_artifacts, kernel_sizes))


EXAMPLE = 0  # the test example whose feature maps the CNN stores


def cnn_artifacts(kernel_sizes, layers, params, data, _rngs):
    """For the report (conv-features): the first layer's kernels (K, O, C, *k), one test example
    (K, C, *n) and, for every convolution, its feature maps on that example after the layer's
    nonlinearity (before pooling, if any): ``maps_<i>`` of shape (K, O_i, *out_i), channels first.
    ``kernel_sizes``: the convolutions' positions in ``layers`` → their kernel sizes."""
    conv_at = sorted(kernel_sizes)
    kernels = conv_kernels(params[f"{conv_at[0]}.w"], kernel_sizes[conv_at[0]], data.x_test.ndim - 2)
    k = kernels.shape[0]
    x = np.broadcast_to(data.x_test[EXAMPLE], (k, 1) + data.x_test.shape[1:])
    out = {"kernels": kernels, "example": x[:, 0],
           "example_label": np.full(k, -1 if data.y_test is None else int(data.y_test[EXAMPLE]))}
    outputs = activations(layers, params, x)
    for n, i in enumerate(conv_at):
        out[f"maps_{n}"] = np.moveaxis(outputs[i][1][:, 0], -1, 1)   # a Conv layer includes its nonlinearity
    return out


LOGISTIC = ModelFactory("logistic", logistic, FLAT_INPUTS, "logistic regression on the flattened input")
MLP = ModelFactory("mlp", mlp, FLAT_INPUTS, "multilayer perceptron on the flattened input")
CNN = ModelFactory("cnn", cnn, frozenset({"image", "signal"}), "convolutional network, 2-D on images, 1-D on signals")
