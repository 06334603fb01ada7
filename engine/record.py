"""What a finished run is, typed: a :class:`Record`, its one stored JSON form, and the check that
stored data is one.

A record is what `execute_group` returns for each run of a group and what the result store keeps
(one JSON file per run): the run's key, label and :class:`~engine.spec.RunSpec`, how it ended
(``status``: ``ok``, ``diverged`` — NaN or inf at ``diverged_at_step``, a legitimate result — or
``failed``: it raised, with ``error`` and ``traceback``), its ``history`` (metric name → values
over training) and ``final`` metrics (metric name → value), optional ``artifacts`` (samples,
kernels, codes, …), its wall time (the group's share, the group's and the group's size) and the
software environment it ran in.

``Record.to_json()`` is the stored form (the format of every store written so far, so old stores
stay readable): plain data where a non-finite float becomes null (JSON has no NaN; the status says
why).  ``Record.from_json(data, key)`` is the one check, at the boundary where data come back
(the store's read path, and a worker's outcome): anything that is not a record — a missing or
unknown field, an unknown status, a spec that is not a run spec, a value of the wrong type —
raises :class:`RecordError` with what is wrong.  Past that boundary, code reads attributes
(``record.spec.seed``, ``record.spec.optimizer.name``, ``record.status``), so a misspelt field
fails where it is read, never as a silent ``None``.

``final`` and ``history`` stay mappings from metric names (an open set: each trainer and
procedure measures its own) to values.  ``record.metric(name)`` reads a final metric the run is
expected to have: ``None`` when the run diverged or failed before measuring it (or the value was
not finite), an error naming the run when a run that finished ``ok`` lacks it (a misspelt or
unknown metric).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields

from engine.spec import RunSpec, SpecError

STATUSES = ("ok", "diverged", "failed")


class RecordError(ValueError):
    """Data that is not a record."""


class NoSuchField(KeyError):
    """A field or final metric that a record does not have (a KeyError whose text is readable)."""

    def __str__(self) -> str:
        return str(self.args[0])


def finite(obj):
    """A copy of plain data with every non-finite float as None (JSON has no NaN or inf) and
    tuples as lists (as JSON gives them back)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


@dataclass(frozen=True)
class Record:
    key: str
    label: str
    spec: RunSpec
    status: str
    history: dict
    final: dict
    wall_time_s: float
    group_wall_time_s: float
    group_size: int
    environment: dict
    diverged_at_step: int | None = None
    artifacts: dict = field(default_factory=dict)
    error: str | None = None        # failed runs only: "ExceptionType: message"
    traceback: str | None = None    # failed runs only

    def to_json(self) -> dict:
        """The stored form; artifacts appear when there are some, error and traceback for failed runs."""
        return finite(self._fields())

    def to_text(self) -> str:
        """``to_json()`` as compact JSON text, what the store writes.

        A record from a worker already holds finite plain data (``execute_group`` made it so), and
        ``finite`` changes nothing JSON's text shows but a non-finite float: the text is written
        without that walk over every number unless JSON refuses a NaN or an infinity (the text
        of a stored record 0.30 → 0.22 ms of CPU, of about 0.9 ms to store it)."""
        out = self._fields()
        try:
            return json.dumps(out, allow_nan=False, separators=(",", ":"))
        except ValueError:
            return json.dumps(finite(out), allow_nan=False, separators=(",", ":"))

    def _fields(self) -> dict:
        out = {"key": self.key, "label": self.label, "spec": self.spec.to_json(), "status": self.status,
               "diverged_at_step": self.diverged_at_step, "history": self.history, "final": self.final}
        if self.artifacts:
            out["artifacts"] = self.artifacts
        if self.status == "failed":
            out.update(error=self.error, traceback=self.traceback)
        out.update(wall_time_s=self.wall_time_s, group_wall_time_s=self.group_wall_time_s,
                   group_size=self.group_size, environment=self.environment)
        return out

    @classmethod
    def from_json(cls, data, key: str | None = None) -> "Record":
        """The record stored as `data` (of run `key`, when given); RecordError if it is not one."""
        if not isinstance(data, dict):
            raise RecordError(f"not a JSON object but a {type(data).__name__}")
        if key is not None and data.get("key") != key:
            raise RecordError(f"its key is {data.get('key')!r}, not {key!r}")
        unknown, missing = set(data) - _FIELDS, _REQUIRED - set(data)
        if unknown or missing:
            raise RecordError(", ".join(
                ([f"missing fields {sorted(missing)}"] if missing else [])
                + ([f"unknown fields {sorted(unknown)}"] if unknown else [])))
        status = data["status"]
        if status not in STATUSES:
            raise RecordError(f"unknown status {status!r}; a record's status is one of {', '.join(STATUSES)}")
        try:
            spec = RunSpec.from_json(data["spec"])
        except SpecError as exc:
            raise RecordError(f"its spec is not a run spec ({exc})") from None
        failed = status == "failed"
        for name, kind, required in (
                ("key", str, True), ("label", str, True), ("history", dict, True), ("final", dict, True),
                ("environment", dict, True), ("artifacts", dict, False),
                ("wall_time_s", (int, float), True), ("group_wall_time_s", (int, float), True),
                ("group_size", int, True), ("diverged_at_step", int, False),
                ("error", str, failed), ("traceback", str, False)):
            value = data.get(name)
            if value is None and not required:
                continue
            if not isinstance(value, kind) or isinstance(value, bool):
                raise RecordError(f"{name}: expected {_KIND_NAMES[kind]}, got {value!r:.60}")
        if not failed and (data.get("error") is not None or data.get("traceback") is not None):
            raise RecordError(f"a record with status {status!r} has an error (only failed runs do)")
        if data["group_size"] < 1:
            raise RecordError(f"group_size: expected an integer ≥ 1, got {data['group_size']}")
        return cls(key=data["key"], label=data["label"], spec=spec, status=status, history=data["history"],
                   final=data["final"], wall_time_s=data["wall_time_s"], group_wall_time_s=data["group_wall_time_s"],
                   group_size=data["group_size"], environment=data["environment"],
                   diverged_at_step=data.get("diverged_at_step"), artifacts=data.get("artifacts") or {},
                   error=data.get("error"), traceback=data.get("traceback"))

    def metric(self, name: str):
        """The final value of metric `name`.  None when the run diverged or failed (it measured
        only what it reached) or the value was not finite; KeyError, naming the run and the metrics
        it has, when a run that ended ok lacks it."""
        try:
            return self.final[name]
        except KeyError:
            if self.status == "ok":
                raise NoSuchField(f"{self.label}: no final metric {name!r}; it has "
                               f"{', '.join(sorted(self.final)) or 'none'}") from None
            return None

_FIELDS = frozenset(f.name for f in fields(Record))
_REQUIRED = _FIELDS - {"diverged_at_step", "artifacts", "error", "traceback"}
_KIND_NAMES = {str: "a string", dict: "a mapping", (int, float): "a number", int: "an integer"}
# What a pickled Record holds: a record index written under another layout is not read (engine.store).
LAYOUT = (tuple(f.name for f in fields(Record)), tuple(f.name for f in fields(RunSpec)))
