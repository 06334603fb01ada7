"""Model registry: ``MODELS[name].build(dataset_info, **params) -> Model``.

| name               | accepts (data kinds)       | what                                          |
|--------------------|----------------------------|-----------------------------------------------|
| logistic           | image, signal, sequence    | softmax regression on the flattened input     |
| mlp                | image, signal, sequence    | multilayer perceptron                         |
| cnn                | image, signal              | convolutions (2-D / 1-D) → dense              |
| rnn_hh             | memory                     | RNN pattern 1: per-step output, h→h           |
| rnn_oh             | memory                     | RNN pattern 2: per-step output, o→h, teacher forcing |
| rnn_last           | sequence                   | RNN pattern 3: h→h, one output at the end     |
| autoencoder        | image, signal              | undercomplete MLP autoencoder                 |
| linear_autoencoder | image, signal              | affine autoencoder (PCA comparison)           |
| vae                | image                      | variational autoencoder, Bernoulli decoder    |
| gan                | points, image              | GAN of two MLPs                               |

``MODELS[name].params`` lists each model's parameters with their defaults.
"""
from .autoencoder import AUTOENCODER, LINEAR_AUTOENCODER, VAE
from .base import Model, ModelFactory, Player
from .classifiers import CNN, LOGISTIC, MLP
from .gan import GAN
from .rnn import RNN_HH, RNN_LAST, RNN_OH

MODELS: dict[str, ModelFactory] = {
    f.name: f for f in (LOGISTIC, MLP, CNN, RNN_HH, RNN_OH, RNN_LAST, AUTOENCODER, LINEAR_AUTOENCODER, VAE, GAN)
}


def build_model(name, dataset_info, **params) -> Model:
    """``MODELS[name].build(dataset_info, **params)``."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODELS)}") from None
    return factory.build(dataset_info, **params)


__all__ = ["MODELS", "Model", "ModelFactory", "Player", "build_model"]
