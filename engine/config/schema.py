"""The JSON Schema of experiments.yaml, built from the registries so that it cannot drift.

`python -m engine schema` prints it; the shipped copy (engine/config/experiments.schema.json,
referenced from the first line of experiments.yaml) lets editors complete and check the file.
The schema covers structure and types; engine/config/validate.py adds what a schema cannot say
(names that must be defined, hyperparameters that belong to an optimizer kind, value ranges).
"""
from __future__ import annotations

from engine.claims import CLAIMS
from engine.optim import OPTIMIZERS
from engine.training import MODEL_KINDS

NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"}
NUMBER = {"type": "number"}
POS_INT = {"type": "integer", "minimum": 1}


def _names(ref_doc: str) -> dict:
    return {"type": "array", "minItems": 1, "items": NAME, "description": ref_doc}


def _value_list(item: dict, doc: str) -> dict:
    """A non-empty list of values, or {geomspace: [start, stop, num]} for log-spaced grids."""
    return {
        "description": doc,
        "anyOf": [
            {"type": "array", "minItems": 1, "items": item},
            {"type": "object", "additionalProperties": False, "required": ["geomspace"],
             "properties": {"geomspace": {"type": "array", "minItems": 3, "maxItems": 3,
                                          "items": NUMBER}}},
        ],
    }


def _hyperparameter_properties() -> dict:
    props: dict = {}
    for rule in OPTIMIZERS.values():
        for hp in rule.hyperparameters:
            props[hp.name] = ({"type": "string", "enum": list(hp.choices)} if hp.kind == "choice"
                              else {**NUMBER, "description": hp.doc})
    return props


BUDGET = {
    "type": "object", "additionalProperties": False,
    "description": "How long each run trains. Profiles override these.",
    "properties": {
        "max_steps": {**POS_INT, "description": "Optimizer steps at most."},
        "epochs": {**POS_INT, "description": "Passes over the training split."},
        "target": {"type": "number", "exclusiveMinimum": 0,
                   "description": "Stop a run once (f − f*)/(f₀ − f*) ≤ target."},
    },
}

STUDY_PROPERTIES = {
    "claim": {"type": "string", "enum": sorted(CLAIMS), "description": "The claim this study serves."},
    "description": {"type": "string"},
    "models": _names("Model names (section models)."),
    "dataset": NAME,
    "optimizers": _names("Optimizer names (section optimizers)."),
    "seeds": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
    "batch_size": POS_INT,
    "vary": {"type": "object", "description": "Model parameter → values; one run per value.",
             "additionalProperties": _value_list(NUMBER, "Values of this model parameter.")},
    "grid": {"type": "object",
             "description": "Optimizer name → hyperparameter → values (the tuning grid).",
             "additionalProperties": {"type": "object", "additionalProperties": _value_list(
                 {"anyOf": [NUMBER, {"type": "string"}]}, "Values of this hyperparameter.")}},
    "budget": BUDGET,
}


def build_schema() -> dict:
    study = {"type": "object", "additionalProperties": False, "properties": STUDY_PROPERTIES,
             "required": ["claim", "models", "optimizers", "seeds", "budget"]}
    study_patch = {"type": "object", "additionalProperties": False,
                   "properties": {k: STUDY_PROPERTIES[k] for k in ("seeds", "vary", "grid", "budget")}}
    criterion = {
        "type": "object", "additionalProperties": False, "required": ["quantity"],
        "properties": {
            "quantity": {"type": "string", "description": "A quantity the claim's analysis computes."},
            "between": {"type": "array", "minItems": 2, "maxItems": 2, "items": NUMBER},
            "at_least": NUMBER, "at_most": NUMBER,
            "description": {"type": "string"},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "descenso experiments file",
        "type": "object",
        "additionalProperties": False,
        "required": ["models", "optimizers", "studies", "claims", "profiles"],
        "properties": {
            "version": {"const": 1},
            "report": {"type": "object", "additionalProperties": False, "properties": {
                "title": {"type": "string"}, "subtitle": {"type": "string"},
                "course": {"type": "string"}, "institution": {"type": "string"},
                "lecture": {"type": "string"}, "date": {"type": "string"},
                "language": {"enum": ["es", "en"]}}},
            "datasets": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["kind"],
                "properties": {"kind": {"type": "string"}, "params": {"type": "object"}}}},
            "models": {"type": "object", "minProperties": 1, "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["kind"],
                "properties": {"kind": {"type": "string", "enum": sorted(MODEL_KINDS)},
                               "params": {"type": "object"}}}},
            "optimizers": {"type": "object", "minProperties": 1, "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["kind"],
                "properties": {
                    "kind": {"type": "string", "enum": sorted(OPTIMIZERS)},
                    "batch": {"anyOf": [{"const": "full"}, POS_INT],
                              "description": "Batch regime: 'full' (gradient descent), 1 (single example) or B."},
                    **_hyperparameter_properties()}}},
            "studies": {"type": "object", "minProperties": 1, "additionalProperties": study},
            "claims": {"type": "object", "propertyNames": {"enum": sorted(CLAIMS)},
                       "additionalProperties": {
                           "type": "object", "additionalProperties": False, "required": ["criterion"],
                           "properties": {"criterion": {"type": "array", "minItems": 1, "items": criterion}}}},
            "profiles": {"type": "object", "required": ["full", "quick"], "additionalProperties": {
                "type": "object", "additionalProperties": False, "properties": {
                    "description": {"type": "string"},
                    "studies": {"type": "object", "additionalProperties": study_patch}}}},
        },
    }
