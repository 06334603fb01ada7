"""The registries as the validator and the schema need them, without importing a model, a claim,
autograd or matplotlib.

* Optimizer rules and data sets: their packages import only numpy, so they are the registries
  themselves (``engine.optim.OPTIMIZERS`` discovers every rule module, a new one included).
* Model kinds (analytic objectives and networks), procedures and claims: read from their
  declarations in the source (engine/config/source.py) by the rules their packages register them
  by: the names, each builder's keyword-only parameters with their defaults, the data kinds a
  network accepts, whether a procedure uses an optimizer, and a claim's id, section, order, the
  claims it reads and its quantities.

tests/test_light_registry.py holds these views equal to the imported registries.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache

from engine.config import source
from engine.registry import ClaimScope


@dataclass(frozen=True)
class ModelKindView:
    """engine.training.ModelKind without its trainer."""

    name: str
    params: dict          # parameter name → default
    accepts: frozenset    # data-set kinds it trains on; empty = an analytic objective, no data


@dataclass(frozen=True)
class ProcedureView:
    """engine.procedures.Procedure without its code."""

    name: str
    params: dict          # parameter name → default
    uses_optimizer: bool


@dataclass(frozen=True)
class ClaimView(ClaimScope):
    """engine.claims.Claim without its analysis."""

    id: str
    section: str
    order: int
    quantities: dict      # name → what it measures
    reads: tuple
    study_metrics: bool


def optimizers() -> dict:
    from engine.optim import OPTIMIZERS

    return OPTIMIZERS


def datasets() -> dict:
    from engine.data import DATASETS

    return DATASETS


def _field(fields: dict, name: str):
    return source.value(*fields[name])


def _params(fields: dict, name: str) -> dict:
    """The keyword-only parameters and defaults of the function in field `name`."""
    return source.keyword_defaults(*source.function(*fields[name]))


def _registered(package: str, registry: str, cls: str) -> dict[str, dict]:
    """The entries of ``REGISTRY = {x.<key>: x for x in (A, B, …)}`` in a package's __init__:
    key → the fields of the `cls` call that defines the entry (source.construction)."""
    init = source.module(package)
    table = (source.binding(init, registry) or (init, None))[1]
    if not (isinstance(table, ast.DictComp) and isinstance(table.key, ast.Attribute)
            and isinstance(table.generators[0].iter, ast.Tuple)):
        raise source.SourceError(f"{init.path}: expected {registry} = {{x.name: x for x in (A, B, …)}}")
    entries = {}
    for name in table.generators[0].iter.elts:
        where, node = source.resolve(init, name)
        fields = source.construction(where, node, cls)
        if fields is None:
            raise source.SourceError(f"{where.where(node)}: expected a call of {cls}")
        entries[_field(fields, table.key.attr)] = fields
    return entries


def _discovered(package: str, variable: str, cls: str, private: bool) -> list[dict]:
    """The fields of the `cls` call bound to `variable` in each module of `package` that has one
    (how claims and procedures are discovered); modules named _* too if `private`."""
    found = []
    for name in source.package_modules(package):
        if private or not name.rpartition(".")[2].startswith("_"):
            bound = source.binding(source.module(name), variable)
            fields = bound and source.construction(*bound, cls)
            found += [fields] if fields is not None else []
    return found


@lru_cache(maxsize=None)
def model_kinds() -> dict[str, ModelKindView]:
    """engine.training.MODEL_KINDS: the analytic objectives, then the networks."""
    kinds = {kind: ModelKindView(kind, dict(_field(f, "params")), frozenset())
             for kind, f in _registered("engine.objectives", "OBJECTIVES", "Objective").items()}
    kinds.update({name: ModelKindView(name, _params(f, "make"), frozenset(_field(f, "accepts")))
                  for name, f in _registered("engine.models", "MODELS", "ModelFactory").items()})
    return kinds


@lru_cache(maxsize=None)
def procedures() -> dict[str, ProcedureView]:
    """engine.procedures.PROCEDURES: each module's ``PROCEDURE``."""
    found = [ProcedureView(_field(f, "name"), _params(f, "signature"), _field(f, "uses_optimizer"))
             for f in _discovered("engine.procedures", "PROCEDURE", "Procedure", private=True)]
    return {p.name: p for p in found}


@lru_cache(maxsize=None)
def claims() -> dict[str, ClaimView]:
    """engine.claims.CLAIMS: each claim module's ``CLAIM``, in the lecture's order."""
    found: dict[str, ClaimView] = {}
    for f in _discovered("engine.claims", "CLAIM", "Claim", private=False):
        claim = ClaimView(*(_field(f, k) for k in ("id", "section", "order", "quantities", "reads", "study_metrics")))
        if claim.id in found:
            raise RuntimeError(f"two claim modules declare the id {claim.id!r}")
        found[claim.id] = claim
    return dict(sorted(found.items(), key=lambda kv: (kv[1].section, kv[1].order, kv[0])))
