"""Procedures: what a study does with its runs when plain training of its model is not the
measurement a claim needs (the variance of minibatch gradients at fixed parameters, a check of
the convolution against SciPy, …).

A study names one with ``procedure: {kind: <name>, params: {…}}``.  Every module of this package
that defines ``PROCEDURE`` (a :class:`Procedure`) is registered under its name, so adding one is
adding its module.  A procedure has the trainers' contract: ``run(specs) -> outcomes``, one
outcome ``{status, history, final, …}`` per spec, in order, for a group of specs that differ only
in seed and numeric hyperparameters.  Each spec carries ``spec['procedure'] = {'kind', 'params'}``
with the defaults filled in.

``runner(spec)`` says which function trains a spec (its procedure's, or its model kind's trainer);
``code_roots(spec)`` which modules define what it computes (engine.codehash hashes their closure).
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

from engine.registry import keyword_defaults
from engine.training import MODEL_KINDS


@dataclass(frozen=True)
class Procedure:
    name: str
    run: Callable                  # list of specs -> list of outcomes (same order)
    signature: Callable            # a function whose keyword-only arguments are the parameters
    code: tuple[str, ...] = ()     # further modules it depends on beyond its own imports
    uses_optimizer: bool = True    # False: a study with this procedure declares no optimizers
    description: str = ""

    @property
    def params(self) -> dict:
        """Accepted parameters and their defaults."""
        return keyword_defaults(self.signature)

    def resolve(self, given: dict | None) -> dict:
        return {**self.params, **(given or {})}


def _discover() -> dict[str, Procedure]:
    found: dict[str, Procedure] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        proc = getattr(importlib.import_module(f"{__name__}.{info.name}"), "PROCEDURE", None)
        if isinstance(proc, Procedure):
            found[proc.name] = proc
    return found


PROCEDURES: dict[str, Procedure] = _discover()


def runner(spec: dict) -> Callable:
    proc = spec.get("procedure")
    return PROCEDURES[proc["kind"]].run if proc else MODEL_KINDS[spec["model"]["kind"]].train_group


def code_roots(spec: dict) -> tuple[str, ...]:
    """The modules that define what `spec` computes: trainer or procedure, model or objective,
    data set and optimizer rule."""
    from engine.data import DATASETS
    from engine.optim import OPTIMIZERS

    proc = spec.get("procedure")
    roots = [runner(spec).__module__, MODEL_KINDS[spec["model"]["kind"]].module]
    if proc:
        roots.extend(PROCEDURES[proc["kind"]].code)
    if spec.get("dataset"):
        roots.append(DATASETS[spec["dataset"]["kind"]].make.__module__)
    if spec.get("optimizer"):
        roots.append(OPTIMIZERS[spec["optimizer"]["kind"]].update.__module__)
    return tuple(sorted(set(roots)))


__all__ = ["PROCEDURES", "Procedure", "code_roots", "runner"]
