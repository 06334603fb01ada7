"""Data sets as plain arrays, made deterministically from a seed and cached per process.

A ``DatasetFactory`` wraps ``make(seed, **params) -> Dataset``; its keyword-only parameters and
their defaults are the parameters a data set accepts. ``factory.load(seed, **params)`` goes
through one per-process ``functools.lru_cache`` keyed on (factory, seed, params with defaults
filled in), so every run in a worker shares one copy. Cached arrays are read-only: a caller that
wants to change one must copy it, and cannot corrupt the cache for the next run.
"""
import inspect
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np

from engine.precision import FLOAT
from engine.registry import keyword_defaults

KINDS = frozenset({"image", "signal", "sequence", "points", "memory"})


@dataclass(frozen=True, eq=False)
class Dataset:
    """x arrays are FLOAT (engine/precision.py) with the example axis first; y are int64 labels,
    or None when the data set has no labels. ``info`` holds 'name', 'kind', 'shape' (one
    example), 'n_classes', 'x_range' (bounds of x, or None), 'seed', 'params' and what is specific
    to the set."""

    name: str
    kind: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    info: dict
    # Further test sets, name → (x, y): the same task under another condition (longer sequences,
    # shuffled positions).  The trainer reports each as final metrics named test_<name>_<metric>.
    extra: dict = field(default_factory=dict)

    def split(self, name):
        """(x, y) of 'train', 'val' or 'test'."""
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")


@dataclass(frozen=True)
class DatasetFactory:
    name: str
    kind: str
    make: Callable  # make(seed, **params) -> Dataset
    default_seed: int
    description: str

    @property
    def params(self) -> dict:
        """Accepted parameters and their defaults."""
        return keyword_defaults(self.make)

    def load(self, rng_seed=None, **params) -> Dataset:
        """The data set for this seed (``default_seed`` when None) and parameters."""
        seed = self.default_seed if rng_seed is None else int(rng_seed)
        bound = inspect.signature(self.make).bind(seed, **params)
        bound.apply_defaults()
        frozen = tuple(sorted((k, _freeze(v)) for k, v in bound.kwargs.items()))
        return _load(self, seed, frozen)


def _freeze(value):
    """Lists (as YAML gives them) become tuples, so that parameters can key the cache."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


@lru_cache(maxsize=None)
def _load(factory, seed, frozen_params):
    params = dict(frozen_params)
    data = factory.make(seed, **params)
    extra = [a for pair in data.extra.values() for a in pair]
    for array in (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test, *extra):
        if array is not None:
            array.setflags(write=False)
    data.info.update(seed=seed, params=params)
    return data


def make_dataset(name, kind, splits, info):
    """A Dataset from ``splits = {'train': (x, y), 'val': ..., 'test': ...}``; the common info
    entries (name, kind, shape, split sizes) are computed here and override those in ``info``."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    arrays, extra = {}, {}
    for split, (x, y) in splits.items():
        x = np.asarray(x, dtype=FLOAT)
        y = None if y is None else np.asarray(y, dtype=np.int64)
        if split in ("train", "val", "test"):
            arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
        else:
            extra[split] = (x, y)
    info = {
        **info,
        "name": name,
        "kind": kind,
        "shape": arrays["x_train"].shape[1:],
        **{f"n_{split}": len(x) for split, (x, _) in splits.items()},
    }
    return Dataset(name=name, kind=kind, info=info, extra=extra, **arrays)


def view(base, name, kind, transform, description):
    """A factory for another layout of ``base``'s data (same seed and parameters, shared cache).

    ``transform`` maps one x array (examples first) to the new layout; labels are shared.
    """

    def make(seed, **params):
        data = base.load(seed, **params)
        splits = {s: (transform(data.split(s)[0]), data.split(s)[1]) for s in ("train", "val", "test")}
        splits.update({s: (transform(x), y) for s, (x, y) in data.extra.items()})
        return make_dataset(name, kind, splits, data.info)

    make.__signature__ = inspect.signature(base.make)
    make.__module__ = transform.__module__  # the module that declares the view (engine.codehash)
    return DatasetFactory(name, kind, make, base.default_seed, description)
