"""A record is typed: one stored JSON form that round-trips, a check at the boundary that refuses
each kind of malformed data with a message saying what is wrong, and attributes that fail loudly
when misspelt.  Also ``make_record``, the hand-made records the analyses' tests use."""
from __future__ import annotations

import copy
import hashlib
import json
import math
import pickle

import pytest

from engine.plan import run_label
from engine.record import Record, RecordError
from engine.spec import RunSpec, canonical

SPEC_DEFAULTS = {"study": "s", "claim": "c", "model": {"name": "m", "kind": "mlp", "params": {}}, "vary": {},
                 "dataset": None, "optimizer": None, "batch": None, "seed": 0, "budget": {}}
PART_DEFAULTS = {"model": {"kind": "mlp", "params": {}}, "dataset": {"params": {}}, "optimizer": {"hp": {}},
                 "procedure": {"params": {}}}


def make_record(spec: dict | None = None, status: str = "ok", final: dict | None = None,
                history: dict | None = None, **fields) -> Record:
    """A Record made by hand for tests of the analyses: `spec` names the spec fields a test cares
    about (the others take defaults; a model, data set or optimizer may omit its kind, which
    defaults to its name, and its parameters); `fields` sets any other field of the record."""
    full = copy.deepcopy(SPEC_DEFAULTS)
    for name, value in (spec or {}).items():
        if name in PART_DEFAULTS and value is not None:
            value = {**PART_DEFAULTS[name], "kind": value.get("name"), **value}
            if name == "procedure":
                value.pop("name", None)
        full[name] = value
    data = {"key": hashlib.sha256(canonical(full).encode()).hexdigest()[:20], "label": run_label(full),
            "spec": full, "status": status, "history": history or {}, "final": final or {},
            "wall_time_s": 1.0, "group_wall_time_s": 1.0, "group_size": 1, "environment": {},
            **({"error": "RuntimeError: boom", "traceback": ""} if status == "failed" else {}), **fields}
    return Record.from_json(data)


def stored(**changes) -> dict:
    """The stored form of a real-looking record, with `changes` (None removes a field)."""
    data = make_record({"study": "matrix", "optimizer": {"name": "adam", "hp": {"lr": 0.01}}, "seed": 3,
                        "dataset": {"name": "digits"}, "batch": 64, "budget": {"epochs": 2}},
                       final={"val_accuracy": 0.9, "test_accuracy": 0.88, "steps": 10},
                       history={"step": [0, 5, 10], "val_loss": [2.3, 0.5, 0.3]},
                       diverged_at_step=None, artifacts={"samples": [[0.1, 0.2]]}).to_json()
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def test_to_json_and_from_json_round_trip_to_the_letter():
    data = stored()
    record = Record.from_json(data, data["key"])
    assert record.to_json() == data
    assert json.loads(json.dumps(record.to_json())) == data
    again = Record.from_json(json.loads(json.dumps(record.to_json())))
    assert again == record
    assert pickle.loads(pickle.dumps(record)) == record      # the store's index pickles records
    assert isinstance(record.spec, RunSpec) and record.spec.optimizer.hp == {"lr": 0.01}


def test_the_stored_form_has_the_fields_of_every_earlier_store():
    data = stored()
    assert list(data) == ["key", "label", "spec", "status", "diverged_at_step", "history", "final", "artifacts",
                          "wall_time_s", "group_wall_time_s", "group_size", "environment"]
    assert canonical(data["spec"]) == canonical(RunSpec.from_json(data["spec"]).to_json())
    failed = make_record(status="failed", error="ValueError: kappa", traceback="Traceback …").to_json()
    assert failed["error"] == "ValueError: kappa" and failed["traceback"] == "Traceback …"
    assert "artifacts" not in failed      # only when there are some
    # A failed record written before diverged_at_step was always there still reads.
    del failed["diverged_at_step"]
    assert Record.from_json(failed).diverged_at_step is None


def test_non_finite_numbers_are_stored_as_null():
    record = make_record(final={"val_loss": math.nan, "x": [1.0, math.inf]}, history={"loss": (1.0, -math.inf)})
    read = Record.from_json(json.loads(json.dumps(record.to_json(), allow_nan=False)))
    assert read.final == {"val_loss": None, "x": [1.0, None]} and read.history == {"loss": [1.0, None]}


def test_the_stored_text_is_the_stored_form_as_compact_json():
    """``to_text`` skips the walk over every number when JSON accepts the data as they are: its
    text is json.dumps of ``to_json()`` all the same, finite numbers or not (tuples too)."""
    finite_record = Record.from_json(stored())
    non_finite = make_record(final={"val_loss": math.nan, "x": [1.0, math.inf]}, history={"loss": (1.0, -math.inf)})
    tupled = make_record(final={"x": (0.1, 2)}, artifacts={"samples": ((0.5, 1e-300), (3.0, -0.0))})
    for record in (finite_record, non_finite, tupled):
        assert record.to_text() == json.dumps(record.to_json(), allow_nan=False, separators=(",", ":"))
    assert json.loads(non_finite.to_text())["final"] == {"val_loss": None, "x": [1.0, None]}


MALFORMED = {
    "not an object": ([1, 2], "not a JSON object but a list"),
    "missing field": (stored(final=None), "missing fields ['final']"),
    "missing fields": (stored(environment=None, wall_time_s=None), "missing fields ['environment', 'wall_time_s']"),
    "unknown field": (stored(finale={}), "unknown fields ['finale']"),
    "unknown status": (stored(status="done"), "unknown status 'done'"),
    "bad spec": (stored(spec={"seed": 0}), "its spec is not a run spec"),
    "misspelt spec field": ({**stored(), "spec": {**{k: v for k, v in stored()["spec"].items() if k != "seed"},
                                                  "sede": 0}}, "unknown fields ['sede']"),
    "wrong type of final": (stored(final=[0.9]), "final: expected a mapping, got [0.9]"),
    "wrong type of history": (stored(history="none"), "history: expected a mapping"),
    "wrong type of wall time": (stored(wall_time_s="1 s"), "wall_time_s: expected a number"),
    "boolean group size": (stored(group_size=True), "group_size: expected an integer"),
    "empty group": (stored(group_size=0), "group_size: expected an integer ≥ 1"),
    "fractional divergence step": (stored(diverged_at_step=2.5), "diverged_at_step: expected an integer"),
    "failed without error": (stored(status="failed"), "error: expected a string"),
    "error on a finished run": (stored(error="boom"), "has an error (only failed runs do)"),
    "artifacts not a mapping": (stored(artifacts=[1]), "artifacts: expected a mapping"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_from_json_refuses_each_malformed_class_with_a_clear_message(case):
    data, message = MALFORMED[case]
    with pytest.raises(RecordError) as error:
        Record.from_json(data)
    assert message in str(error.value)


def test_from_json_checks_the_key_it_was_read_for():
    data = stored()
    with pytest.raises(RecordError, match="its key is .*, not 'other'"):
        Record.from_json(data, "other")


def test_a_misspelt_field_or_metric_fails_loudly():
    record = Record.from_json(stored())
    with pytest.raises(AttributeError):
        record.sede                                    # noqa: B018
    with pytest.raises(AttributeError):
        record.spec.optimiser                          # noqa: B018
    with pytest.raises(KeyError, match="no final metric 'test_acuracy'; it has .*test_accuracy"):
        record.metric("test_acuracy")
    with pytest.raises(AttributeError):
        record.status = "failed"                       # frozen
    assert record.metric("test_accuracy") == 0.88
    with pytest.raises(TypeError):
        record["final"]                                # not a mapping: fields are attributes


def test_a_run_that_did_not_finish_lacks_its_metrics_without_error():
    diverged = make_record(status="diverged", final={"steps": 3}, diverged_at_step=3)
    assert diverged.metric("val_accuracy") is None and diverged.metric("steps") == 3
    assert make_record(status="failed").metric("val_accuracy") is None
    assert make_record(final={"val_loss": None}).metric("val_loss") is None   # not finite (stored as null)


def test_make_record_fills_what_a_test_leaves_out():
    record = make_record({"optimizer": {"name": "adam", "hp": {"lr": 0.1}}, "seed": 2,
                          "dataset": {"name": "digits"}}, final={"a": 1.0})
    assert record.spec.optimizer.kind == "adam" and record.spec.dataset.kind == "digits"
    assert record.spec.seed == 2 and record.label.endswith("seed=2")
    assert make_record({"seed": 1}).key != make_record({"seed": 2}).key
