"""What a run is, typed: the frozen form of a run spec, its one canonical JSON, and the check that
a stored spec is one.

The planner builds every run as a :class:`RunSpec` (so a misspelt field fails where the spec is
made, not as a silent ``None`` in a trainer), and hands trainers and the store its canonical JSON
form, ``to_json()``: plain data that is hashed into the run's key and stored with its record.
Claims read it back typed, as ``record.spec`` (engine.record).  ``RunSpec.from_json`` reads such data back and refuses anything that is not a spec
(unknown or missing fields, wrong types): the store uses it to tell a whole record from a corrupt
one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields


class SpecError(ValueError):
    """Data that is not a run spec."""


def _mapping(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise SpecError(f"{what}: expected a mapping, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Named:
    """A model or data set: its name in experiments.yaml, its registry kind, resolved parameters."""

    name: str
    kind: str
    params: dict


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    kind: str
    hp: dict


@dataclass(frozen=True)
class ProcedureSpec:
    kind: str
    params: dict


@dataclass(frozen=True)
class RunSpec:
    study: str
    claim: str
    model: Named
    vary: dict
    dataset: Named | None
    optimizer: OptimizerSpec | None
    batch: int | str | None
    seed: int
    budget: dict
    clip_norm: float | None = None
    procedure: ProcedureSpec | None = None
    alone: bool = False

    def to_json(self) -> dict:
        """The canonical plain form; optional fields appear only when set."""
        out = {"study": self.study, "claim": self.claim, "model": vars(self.model), "vary": self.vary,
               "dataset": None if self.dataset is None else vars(self.dataset),
               "optimizer": None if self.optimizer is None else vars(self.optimizer),
               "batch": self.batch, "seed": self.seed, "budget": self.budget}
        if self.clip_norm:
            out["clip_norm"] = self.clip_norm
        if self.procedure is not None:
            out["procedure"] = vars(self.procedure)
        if self.alone:
            out["alone"] = True
        return _plain(out)

    @classmethod
    def from_json(cls, data) -> "RunSpec":
        data = dict(_mapping(data, "spec"))
        names = {f.name for f in fields(cls)}
        required = names - {"clip_norm", "procedure", "alone"}
        unknown, missing = set(data) - names, required - set(data)
        if unknown or missing:
            raise SpecError(f"spec: unknown fields {sorted(unknown)}, missing fields {sorted(missing)}")

        def part(value, kind, what):
            if value is None:
                return None
            value = _mapping(value, what)
            want = {f.name for f in fields(kind)}
            if set(value) != want:
                raise SpecError(f"{what}: expected the fields {sorted(want)}, got {sorted(value)}")
            return kind(**value)

        if not isinstance(data["seed"], int) or isinstance(data["seed"], bool):
            raise SpecError(f"spec.seed: expected an integer, got {data['seed']!r}")
        for name in ("study", "claim"):
            if not isinstance(data[name], str):
                raise SpecError(f"spec.{name}: expected a string, got {data[name]!r}")
        model = part(data["model"], Named, "spec.model")
        if model is None:
            raise SpecError("spec.model: expected a model, got null")
        return cls(study=data["study"], claim=data["claim"], model=model,
                   vary=_mapping(data["vary"], "spec.vary"),
                   dataset=part(data["dataset"], Named, "spec.dataset"),
                   optimizer=part(data["optimizer"], OptimizerSpec, "spec.optimizer"),
                   batch=data["batch"], seed=data["seed"], budget=_mapping(data["budget"], "spec.budget"),
                   clip_norm=data.get("clip_norm"),
                   procedure=part(data.get("procedure"), ProcedureSpec, "spec.procedure"),
                   alone=bool(data.get("alone", False)))


def _plain(obj):
    """A deep copy as JSON would give it back: tuples become lists, keys strings."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def canonical(obj) -> str:
    """The one JSON text of plain data: sorted keys, no spaces, ASCII; NaN is refused."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)

