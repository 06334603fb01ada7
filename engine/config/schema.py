"""The JSON Schema of experiments.yaml, built from the registries (their light views,
engine/config/registries.py) so that it cannot drift.

`python -m engine schema` prints it; the shipped copy (engine/config/experiments.schema.json,
referenced from the first line of experiments.yaml) lets editors complete and check the file.
The schema covers structure and types; engine/config/validate.py adds what a schema cannot say
(names that must be defined, hyperparameters that belong to an optimizer kind, value ranges).
"""
from __future__ import annotations

from engine.config import registries

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
    for rule in registries.optimizers().values():
        for hp in rule.hyperparameters:
            props[hp.name] = ({"type": "string", "enum": list(hp.choices)} if hp.kind == "choice"
                              else {**NUMBER, "description": hp.doc})
    return props


COVER = {k: {"type": "string"} for k in ("title", "subtitle", "course", "institution", "lecture", "date")}

BOUND = {"type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
         "properties": {"at_least": NUMBER, "at_most": NUMBER}}
METRIC_BOUNDS = {"type": "object", "minProperties": 1, "additionalProperties": BOUND,
                 "description": "Final metric (e.g. test_accuracy) → {at_least: x} or {at_most: x}."}

BUDGET = {
    "type": "object", "additionalProperties": False,
    "description": "How long each run trains. Profiles override these.",
    "properties": {
        "max_steps": {**POS_INT, "description": "Optimizer steps at most."},
        "epochs": {**POS_INT, "description": "Passes over the training split."},
        "target": {"type": "number", "exclusiveMinimum": 0,
                   "description": "Analytic objectives: stop a run once (f − f*)/(f₀ − f*) ≤ target."},
        "target_loss": {"type": "number", "exclusiveMinimum": 0, "description": (
            "Networks: stop a run at the first evaluation whose training loss is ≤ target_loss, "
            "and record the steps, examples and seconds it took.")},
        "evals": {**POS_INT, "description": "Evaluation points along training (default 24)."},
        "until": {"type": "object", "additionalProperties": False, "minProperties": 1,
                  "description": (
                      "Stop a run once it has converged; max_steps or epochs is then the cap. "
                      "grad_norm (analytic objectives): ‖∇f(x)‖ of the full objective ≤ the value. "
                      "train_loss_change (networks): the training loss on the whole training split "
                      "changes by at most the value over each of `window` consecutive epochs (default 1)."),
                  "oneOf": [{"required": ["grad_norm"], "not": {"anyOf": [{"required": ["train_loss_change"]},
                                                                          {"required": ["window"]}]}},
                            {"required": ["train_loss_change"], "not": {"required": ["grad_norm"]}}],
                  "properties": {"grad_norm": {"type": "number", "exclusiveMinimum": 0},
                                 "train_loss_change": {"type": "number", "exclusiveMinimum": 0},
                                 "window": POS_INT}},
    },
}

# One optimizer's grid: hyperparameter → values.
GRID = {"type": "object", "additionalProperties": _value_list(
    {"anyOf": [NUMBER, {"type": "string"}]}, "Values of this hyperparameter.")}

# The optimizer × model matrix (engine/config/matrix.py): its optimizers and their grids, which
# the studies and profile entries that name a grid take.
MATRIX = {"type": "object", "minProperties": 1, "description": (
    "Optimizer name (section optimizers) → grid name → hyperparameter → values. A study with "
    "`matrix: <grid>` trains these optimizers, in this order, each on its grid of that name; a "
    "profile's entry for that study names the grid it trains instead."),
          "additionalProperties": {"type": "object", "minProperties": 1, "additionalProperties": GRID}}
MATRIX_GRID = {**NAME, "description": (
    "A grid of the matrix section: the study trains every optimizer of the matrix on its grid of "
    "this name (in place of `optimizers` and `grid`); in a profile's entry, the grid trained instead.")}

def _study_properties() -> dict:
    """The keys of a study."""
    procedure = {"type": "object", "additionalProperties": False, "required": ["kind"],
                 "description": "Measure with this procedure instead of training the model plainly.",
                 "properties": {"kind": {"type": "string", "enum": sorted(registries.procedures())},
                                "params": {"type": "object"}}}
    keys = list(_STUDY_KEYS.items())
    at = [k for k, _ in keys].index("alone")   # the schema's order: procedure follows tune
    return {"claim": {"type": "string", "enum": sorted(registries.claims()), "description": "The claim this study serves."},
            **dict(keys[:at]), "procedure": procedure, **dict(keys[at:])}


_STUDY_KEYS = {
    "description": {"type": "string"},
    "models": _names("Model names (section models)."),
    "dataset": NAME,
    "optimizers": _names("Optimizer names (section optimizers)."),
    "seeds": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
    "batch_size": POS_INT,
    "vary": {"type": "object", "description": "Model parameter → values; one run per value.",
             "additionalProperties": _value_list({"anyOf": [NUMBER, {"type": "string"}]},
                                                 "Values of this model parameter.")},
    "grid": {"type": "object",
             "description": "Optimizer name → hyperparameter → values (the tuning grid).",
             "additionalProperties": GRID},
    "matrix": MATRIX_GRID,
    "budget": BUDGET,
    "tune": {"type": "object", "additionalProperties": False, "required": ["metric", "mode"],
             "description": ("Tuning protocol: the grid runs with the first `seeds` seeds, scored by the mean "
                             "of this final validation metric; a choice at an edge of the grid adds a "
                             "rate beyond it (at most `extend` times); the chosen point then runs with "
                             "every other seed."),
             "properties": {"metric": {"type": "string"}, "mode": {"enum": ["min", "max"]},
                            "seeds": {"type": "integer", "minimum": 1, "description": (
                                "How many of the study's first seeds every grid point runs with (default 1).")},
                            "extend": {"type": "integer", "minimum": 0, "description": (
                                "How many times a choice at an edge of the learning-rate grid may extend "
                                "it by one rate at the grid's own ratio (default 0).")},
                            "tie_break": {"type": "object", "additionalProperties": False,
                                          "required": ["metric", "mode"],
                                          "description": "A second validation metric for ties.",
                                          "properties": {"metric": {"type": "string"},
                                                         "mode": {"enum": ["min", "max"]}}}}},
    "alone": {"type": "boolean", "description": (
        "Train every run in a group of its own (for claims that time single runs).")},
    "clip_norm": {"type": "number", "exclusiveMinimum": 0,
                  "description": "Clip each run's gradient to this Euclidean norm."},
    "thresholds": {"type": "object", "additionalProperties": METRIC_BOUNDS, "description": (
        "Optimizer name → final metric bounds every seed must reach; pinned by the convergence tests.")},
}


DATE = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        "description": "A date as YYYY-MM-DD, quoted (unquoted, YAML reads it as a date, not text)."}

CRITERION = {
    "type": "object", "additionalProperties": False, "required": ["quantity"],
    "properties": {
        "quantity": {"type": "string", "description": "A quantity the claim's analysis computes."},
        "between": {"type": "array", "minItems": 2, "maxItems": 2, "items": NUMBER},
        "at_least": NUMBER, "at_most": NUMBER,
        "description": {"type": "string", "description": "What the criterion means, in Spanish."},
        "description_en": {"type": "string", "description": "The same in English (reports/en/)."},
        "given": {"type": "string", "description": (
            "The quantity of another criterion of this claim that is this one's premise: when "
            "the premise does not pass, this row does not count and the claim is at best inconclusive.")},
    },
}

REVISION = {
    "type": "object", "additionalProperties": False,
    "required": ["date", "from", "to", "why", "from_en", "to_en", "why_en"],
    "properties": {
        "date": DATE,
        "from": {"type": "string", "description": "What the criterion (or its experiment) said before."},
        "to": {"type": "string", "description": "What it says after."},
        "from_en": {"type": "string", "description": "`from` in English (reports/en/); `from` is in Spanish."},
        "to_en": {"type": "string", "description": "`to` in English (reports/en/); `to` is in Spanish."},
        "why": {"type": "string", "description": "Why it changed, and whether its numbers had been seen."},
        "why_en": {"type": "string", "description": "The same reason in English (reports/en/)."},
    },
}


def _claims_section() -> dict:
    return {"type": "object", "propertyNames": {"enum": sorted(registries.claims())},
            "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["criterion"],
                "properties": {
                    "criterion": {"type": "array", "minItems": 1, "items": CRITERION},
                    "declared": {**DATE, "description": (
                        "The date the criterion was written down, before its numbers were seen.")},
                    "revisions": {"type": "array", "items": REVISION, "description": (
                        "Every change to the criterion after it was declared, oldest first.")},
                    "quick_verdict": {"enum": ["supported", "not supported", "inconclusive"],
                                      "description": (
                        "The verdict the quick profile gives; pinned by the regression tests.")}}}}


def _named_kinds(enum: list, extra: dict | None = None, min_properties: int = 0) -> dict:
    """A section of named entries, each {kind: one of `enum`, params: {...}} (or `extra` keys)."""
    entry = {"type": "object", "additionalProperties": False, "required": ["kind"],
             "properties": {"kind": {"type": "string", "enum": enum}, **(extra or {"params": {"type": "object"}})}}
    size = {"minProperties": min_properties} if min_properties else {}
    return {"type": "object", **size, "additionalProperties": entry}


def _registry_sections() -> dict:
    """datasets, models and optimizers: entries whose kind is a registry's name."""
    batch = {"anyOf": [{"const": "full"}, POS_INT],
             "description": "Batch regime: 'full' (gradient descent), 1 (single example) or B."}
    return {"datasets": _named_kinds(sorted(registries.datasets())),
            "models": _named_kinds(sorted(registries.model_kinds()), min_properties=1),
            "optimizers": _named_kinds(sorted(registries.optimizers()), {"batch": batch, **_hyperparameter_properties()},
                                       min_properties=1)}


def build_schema() -> dict:
    properties = _study_properties()
    study = {"type": "object", "additionalProperties": False, "properties": properties,
             "required": ["claim", "models", "seeds"]}
    study_patch = {"type": "object", "additionalProperties": False,
                   "properties": {k: properties[k] for k in
                                  ("seeds", "vary", "grid", "matrix", "budget", "thresholds", "procedure")}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "descenso experiments file",
        "type": "object",
        "additionalProperties": False,
        "required": ["models", "optimizers", "studies", "claims", "profiles"],
        "properties": {
            "version": {"const": 1},
            "report": {"type": "object", "additionalProperties": False, "properties": {
                **COVER, "language": {"enum": ["es", "en"]},
                "en": {"type": "object", "additionalProperties": False, "properties": COVER,
                       "description": "Title page of reports/en/; missing keys fall back to the ones above."}}},
            **_registry_sections(),
            "matrix": MATRIX,
            "studies": {"type": "object", "minProperties": 1, "additionalProperties": study},
            "claims": _claims_section(),
            "profiles": {"type": "object", "required": ["full", "quick"], "additionalProperties": {
                "type": "object", "additionalProperties": False, "properties": {
                    "description": {"type": "string"},
                    "studies": {"type": "object", "additionalProperties": study_patch}}}},
        },
    }
