"""Linear probes: how much of the class a feature carries, as the test accuracy of a logistic
regression fitted on the training split (the autoencoders' "useful features" measurement).

``probes`` compares three features of the same size for each of K members: the member's learned
code, PCA with as many components (fitted on train; the same for every member), and a Gaussian
random projection drawn from the member's generator.
"""
from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as onp


def _flat(x):
    return onp.reshape(x, (x.shape[0], -1))


def _members(x, k: int):
    """The same examples for k members: (k, N, ...), without copying."""
    return onp.broadcast_to(x, (k,) + x.shape)


def linear_probe(train_features, y_train, test_features, y_test) -> float:
    """Test accuracy of a multinomial logistic regression (L2, C = 1, L-BFGS: deterministic)
    fitted on standardised training features; NaN when the features are not finite."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not (onp.all(onp.isfinite(train_features)) and onp.all(onp.isfinite(test_features))):
        return float("nan")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a rare ConvergenceWarning changes no decision here
        probe.fit(train_features, y_train)
    return float(onp.mean(probe.predict(test_features) == y_test))


@lru_cache(maxsize=32)
def pca_probe(data, code: int) -> float:
    """The probe on PCA features with ``code`` components (fitted on train): the same for every
    member, computed once per data set and size (data sets are cached per process)."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=code).fit(_flat(data.x_train))
    return linear_probe(pca.transform(_flat(data.x_train)), data.y_train,
                        pca.transform(_flat(data.x_test)), data.y_test)


def probes(encode, params, data, rngs, code: int) -> dict:
    """{'probe_code', 'probe_pca', 'probe_random'}: (K,) linear-probe test accuracies."""
    k = len(rngs)
    train = onp.asarray(encode(params, _members(data.x_train, k)))
    test = onp.asarray(encode(params, _members(data.x_test, k)))
    x_train, x_test = _flat(data.x_train), _flat(data.x_test)
    learned, random = [], []
    for i, rng in enumerate(rngs):
        learned.append(linear_probe(train[i], data.y_train, test[i], data.y_test))
        projection = rng.standard_normal((x_train.shape[1], code)) / onp.sqrt(x_train.shape[1])
        random.append(linear_probe(x_train @ projection, data.y_train, x_test @ projection, data.y_test))
    return {"probe_code": onp.asarray(learned), "probe_pca": onp.full(k, pca_probe(data, code)),
            "probe_random": onp.asarray(random)}
