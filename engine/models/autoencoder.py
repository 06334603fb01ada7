"""Autoencoders: an encoder h = f(x) into a code smaller than x and a decoder r = g(h), trained so
that g(f(x)) ≈ x.

* ``autoencoder``: undercomplete MLP, e.g. 64-32-8-32-64, squared-error loss.
* ``linear_autoencoder``: f and g affine, no nonlinearity anywhere; at its optimum it spans the
  same subspace as PCA with as many components, so their reconstruction errors should match.
* ``vae``: the stochastic version the lecture mentions, p_encoder(h | x) = N(μ(x), diag σ²(x)) and a
  Bernoulli p_decoder(x | h). Loss = −ELBO per example in nats,
      −E_q[log p_decoder(x | h)] + KL(N(μ, σ²) ‖ N(0, I)),
  with h = μ + σ ⊙ ε (reparameterisation); ε comes in the batch as ``batch['noise']`` (K, B, code).

``extras['encode'](params, x)`` gives the code (the VAE's mean μ); ``extras['decode'](params, h)``
gives reconstructions in the data's shape (the VAE's Bernoulli means).

After training (``Model.artifacts``) every model stores the reconstructions of the first
``N_SHOWN`` test examples.  The deterministic autoencoders also store, when the code is 2-D, the
codes of the whole test split (for a scatter coloured by class), and the test accuracy of a
linear probe (logistic regression fitted on the training split) on three features of the same
size: the learned code, PCA and a Gaussian random projection drawn from the member's generator
(engine/analysis/probes.py).
The VAE stores ``N_SAMPLES`` samples decoded from the prior, h ~ N(0, I).
"""
from dataclasses import dataclass
from math import prod

import autograd.numpy as np
import numpy as onp

from engine.analysis.probes import probes

from .base import Model, ModelFactory, in_unit_interval
from .layers import Dense, Flatten, Reshape, Sigmoid, dense_stack, layer_table, namespace, serial, stack_members, subtree
from .losses import bernoulli_nll, gaussian_kl, mean_squared_error
from .ops import add, mean, reparameterise, reshape, sigmoid

INPUTS = frozenset({"image", "signal"})


def _encoder_decoder(info, enc_layers, dec_layers, code):
    """Parameters under 'enc.' and 'dec.', a per-member init and the joint layer table."""
    shape = tuple(info["shape"])
    enc, dec = serial(*enc_layers), serial(*dec_layers)

    def init_one(rng):
        return {**namespace(enc.init(rng, shape)[1], "enc."), **namespace(dec.init(rng, (code,))[1], "dec.")}

    table = layer_table(enc_layers, shape, "encoder: ") + layer_table(dec_layers, (code,), "decoder: ")[1:]
    return enc, dec, init_one, table


N_SHOWN = 8      # test examples whose reconstructions are stored
N_SAMPLES = 16   # VAE samples decoded from the prior


def _members(x, k: int):
    """The same examples for k members: (k, N, ...), without copying."""
    return onp.broadcast_to(x, (k,) + x.shape)


def _autoencoder(kind, info, hidden, code, activation, output):
    shape = tuple(info["shape"])
    if output == "auto":
        output = "sigmoid" if in_unit_interval(info) else "linear"
    enc_layers = [Flatten, *dense_stack(hidden, activation), Dense(code)]
    squash = [Sigmoid] if output == "sigmoid" else []
    dec_layers = [*dense_stack(hidden[::-1], activation), Dense(prod(shape)), *squash, Reshape(shape)]
    enc, dec, init_one, table = _encoder_decoder(info, enc_layers, dec_layers, code)

    def encode(params, x):
        return enc.apply(subtree(params, "enc."), x)

    def decode(params, h):
        return dec.apply(subtree(params, "dec."), h)

    def loss(params, batch):
        return mean_squared_error(decode(params, encode(params, batch["x"])), batch["x"])

    def metrics(params, batch):
        mse = loss(params, batch)
        return {"loss": mse, "mse": mse}

    def artifacts(params, data, rngs):
        k = len(rngs)
        out = {"reconstructions": decode(params, encode(params, _members(data.x_test[:N_SHOWN], k)))}
        if code == 2:
            out["codes"] = encode(params, _members(data.x_test, k))
        if data.y_train is not None:
            out.update(probes(encode, params, data, rngs, code))
        return out

    return Model(
        kind=kind,
        init=lambda rngs: stack_members([init_one(rng) for rng in rngs]),
        loss=loss,
        tape=True,
        metrics=metrics,
        layers=table,
        n_params=sum(row["n_params"] for row in table),
        extras={"encode": encode, "decode": decode},
        artifacts=artifacts,
    )


def autoencoder(info, *, hidden=(32,), code=8, activation="relu", output="auto"):
    """``hidden``: encoder sizes (the decoder mirrors them); ``output``: 'sigmoid', 'linear' or
    'auto' (sigmoid when the data lie in [0, 1])."""
    return _autoencoder("autoencoder", info, tuple(hidden), code, activation, output)


def linear_autoencoder(info, *, code=8):
    return _autoencoder("linear_autoencoder", info, (), code, None, "linear")


@dataclass(frozen=True)
class _Vae:
    """The encoder and decoder (``serial`` networks) and what the VAE's functions share."""
    enc: object
    dec: object
    code: int
    shape: tuple

    def posterior(self, params, x):
        stats = self.enc.apply(subtree(params, "enc."), x)
        return stats[..., :self.code], stats[..., self.code:]

    def decoder_logits(self, params, h):
        return self.dec.apply(subtree(params, "dec."), h)

    def terms(self, params, batch):
        """(−E_q log p(x | h), KL) per example, (K, B) each, from one draw h = μ + σ ⊙ ε."""
        stats = self.enc.apply(subtree(params, "enc."), batch["x"])   # [μ, log σ²]
        x = onp.reshape(batch["x"], stats.shape[:2] + (-1,))
        return bernoulli_nll(self.decoder_logits(params, reparameterise(stats, batch["noise"])), x), gaussian_kl(stats)

    def loss(self, params, batch):
        reconstruction, kl = self.terms(params, batch)
        return mean(add(reconstruction, kl), 1)

    def encode(self, params, x):
        return self.posterior(params, x)[0]

    def decode(self, params, h):
        probabilities = sigmoid(self.decoder_logits(params, h))
        return reshape(probabilities, self.shape)

    def metrics(self, params, batch):
        reconstruction, kl = self.terms(params, batch)
        return {
            "loss": np.mean(reconstruction + kl, axis=1),
            "reconstruction": np.mean(reconstruction, axis=1),
            "kl": np.mean(kl, axis=1),
            # From the mean code, so that the number is deterministic and comparable with the AE's.
            "mse": mean_squared_error(self.decode(params, self.encode(params, batch["x"])), batch["x"]),
        }

    def artifacts(self, params, data, rngs):
        """Reconstructions (Bernoulli means from the mean code) of the first test examples, and
        samples decoded from the prior h ~ N(0, I), drawn from each member's generator."""
        k = len(rngs)
        prior = onp.stack([rng.standard_normal((N_SAMPLES, self.code)) for rng in rngs])
        return {"reconstructions": self.decode(params, self.encode(params, _members(data.x_test[:N_SHOWN], k))),
                "samples": self.decode(params, prior)}


def vae(info, *, hidden=(32,), code=8, activation="relu"):
    if not in_unit_interval(info):
        raise ValueError("the Bernoulli decoder needs data in [0, 1]")
    shape, hidden = tuple(info["shape"]), tuple(hidden)
    enc_layers = [Flatten, *dense_stack(hidden, activation), Dense(2 * code)]  # [μ, log σ²]
    dec_layers = [*dense_stack(hidden[::-1], activation), Dense(prod(shape))]  # Bernoulli logits
    enc, dec, init_one, table = _encoder_decoder(info, enc_layers, dec_layers, code)
    model = _Vae(enc, dec, code, shape)
    return Model(
        kind="vae",
        init=lambda rngs: stack_members([init_one(rng) for rng in rngs]),
        loss=model.loss,
        tape=True,
        metrics=model.metrics,
        layers=table,
        n_params=sum(row["n_params"] for row in table),
        latents={"noise": (code,)},
        extras={"encode": model.encode, "decode": model.decode},
        artifacts=model.artifacts,
    )


AUTOENCODER = ModelFactory("autoencoder", autoencoder, INPUTS, "undercomplete MLP autoencoder, squared error")
LINEAR_AUTOENCODER = ModelFactory(
    "linear_autoencoder", linear_autoencoder, INPUTS, "affine encoder and decoder, no nonlinearity (compare with PCA)"
)
VAE = ModelFactory("vae", vae, frozenset({"image"}), "variational autoencoder, Gaussian encoder, Bernoulli decoder")
