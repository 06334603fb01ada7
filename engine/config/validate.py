"""Check an experiments file completely before anything trains.

Two layers: the JSON Schema (structure, types) and the semantic checks a schema cannot express
(defined names, hyperparameters that belong to their optimizer's kind, value ranges, criteria
that name quantities the claim computes).  Every defect becomes a ConfigProblem that names the
key path and what was expected; `load_experiments` raises them all at once as a ConfigError.

The checks read the registries (claims, models, data sets, optimizers, procedures) through their
light views (engine/config/registries.py), when a file is checked: neither importing this module
(the CLI does, for every command) nor checking a file loads a model, a claim, autograd or
matplotlib.
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path

from engine.config import matrix, registries
from engine.config.errors import ConfigError, ConfigProblem, did_you_mean, expected_one_of
from engine.config.load import Positions, format_path, load_yaml
from engine.config.schema import build_schema

DEFAULT_FILE = Path("experiments.yaml")
DEFAULT_PROFILE = "full"
MAX_AXIS_POINTS = 10_000   # values of one grid or sweep axis: more is a typo, not a study


@dataclass(frozen=True)
class Experiments:
    """A validated experiments file with one profile applied."""

    file: Path
    profile: str
    data: dict            # the whole file, studies already patched by the profile
    sha256: str           # of the file's bytes, for the report's appendix


def _validator():
    import jsonschema  # here, not at the top: loading it costs more than the rest of this module

    def is_int(_checker, value):
        return isinstance(value, int) and not isinstance(value, bool)

    cls = jsonschema.validators.extend(
        jsonschema.Draft202012Validator,
        type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", is_int))
    return cls(build_schema())


_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string",
               "integer": "an integer", "number": "a number", "boolean": "true or false"}


def _describe(value) -> str:
    kind = {dict: "a mapping", list: "a list", str: "the string", bool: "the boolean"}.get(type(value))
    if kind in ("a mapping", "a list"):
        return kind
    return f"{kind} {value!r}" if kind else f"{value!r}"


def _schema_problem(err) -> list[ConfigProblem]:
    path = tuple(err.absolute_path)
    v, expected = err.validator, err.validator_value
    if v == "additionalProperties":
        allowed = list(err.schema.get("properties", {}))
        extras = [k for k in err.instance if k not in allowed]
        return [ConfigProblem(format_path(path + (k,)),
                              f"unknown key '{k}'; expected one of: {', '.join(allowed)}.{did_you_mean(k, allowed)}",
                              ) for k in extras]
    if "propertyNames" in err.schema_path:
        return [ConfigProblem(format_path(path + (err.instance,)),
                              expected_one_of("claim id", err.instance, err.schema.get("enum", [])))]
    if v == "required":
        missing = [k for k in expected if k not in err.instance]
        return [ConfigProblem(format_path(path), f"missing required key '{k}'.") for k in missing]
    if v == "type":
        names = [expected] if isinstance(expected, str) else expected
        want = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        return [ConfigProblem(format_path(path), f"expected {want}, got {_describe(err.instance)}.")]
    if v == "enum":
        return [ConfigProblem(format_path(path), expected_one_of("name", err.instance, expected))]
    if v == "minItems" and expected == 1:
        return [ConfigProblem(format_path(path), "expected a non-empty list, got an empty one.")]
    if v == "minProperties":
        return [ConfigProblem(format_path(path), "expected at least one entry, got none.")]
    if v in ("minimum", "exclusiveMinimum"):
        op = "≥" if v == "minimum" else ">"
        return [ConfigProblem(format_path(path), f"expected a number {op} {expected}, got {err.instance!r}.")]
    if v == "anyOf":
        doc = err.schema.get("description", "")
        if "geomspace" in str(err.schema):
            want = "a non-empty list of values or {geomspace: [start, stop, num]}"
        elif err.schema.get("anyOf", [{}])[0].get("const") == "full":
            want = "'full' or a positive integer batch size"
        else:
            want = doc or "a value of another form"
        return [ConfigProblem(format_path(path), f"expected {want}, got {_describe(err.instance)}.")]
    if v == "const":
        return [ConfigProblem(format_path(path), f"expected {expected!r}, got {err.instance!r}.")]
    if v == "pattern":
        return [ConfigProblem(format_path(path), f"'{err.instance}' is not a valid name: use letters, "
                                                 "digits, '_', '-' and '.', starting with a letter or digit.")]
    return [ConfigProblem(format_path(path), err.message)]


def expand_values(spec) -> list:
    """A grid entry as a list: explicit values, or {geomspace: [start, stop, num]} (log-spaced)."""
    if isinstance(spec, dict):
        start, stop, num = spec["geomspace"]
        if num == 1:
            return [float(start)]
        ratio = (stop / start) ** (1.0 / (num - 1))
        return [float(start * ratio ** i) for i in range(int(num))]
    return list(spec)


def _check_values(spec, path: tuple, problems: list, check=None) -> None:
    if isinstance(spec, dict):
        start, stop, num = spec["geomspace"]
        if not (start > 0 and stop > 0):
            problems.append(ConfigProblem(format_path(path + ("geomspace",)),
                                          f"expected start and stop > 0, got [{start}, {stop}, {num}]."))
            return
        if not (isinstance(num, int) and not isinstance(num, bool) and 1 <= num <= MAX_AXIS_POINTS):
            problems.append(ConfigProblem(format_path(path + ("geomspace", 2)), (
                f"expected the number of points as an integer from 1 to {MAX_AXIS_POINTS:,}, got {num!r}.")))
            return
    if check is None:
        return
    for i, value in enumerate(expand_values(spec)):
        why = check(value)
        if why:
            problems.append(ConfigProblem(format_path(path + (i,)), f"expected {why}, got {value!r}."))


def _not_one_of(path: tuple, name: str, what: str, known) -> ConfigProblem:
    return ConfigProblem(format_path(path), (f"'{name}' is not {what}; expected one of: "
                                             f"{', '.join(known) or '(none)'}.{did_you_mean(name, known)}"))


def _hyperparameter(kind: str, name: str, path: tuple, problems: list):
    """The optimizer kind's declared hyperparameter `name`, or None (and a problem)."""
    hps = {h.name: h for h in registries.optimizers()[kind].hyperparameters}
    if name not in hps:
        problems.append(_not_one_of(path, name, f"a hyperparameter of {kind}", hps))
    return hps.get(name)


def _semantic_problems(data: dict) -> list[ConfigProblem]:
    problems = _model_problems(data["models"]) + _dataset_problems(data.get("datasets") or {})
    problems += _optimizer_problems(data["optimizers"])
    for sname, study in data["studies"].items():
        problems += _study_problems(("studies", sname), study, data)
    problems += _claim_problems(data["claims"], data["studies"])
    problems += _profile_problems(data["profiles"], data["studies"])
    return problems


def _model_problems(models: dict) -> list[ConfigProblem]:
    return _parameter_problems("models", models, registries.model_kinds(), "a parameter of model kind")


def _dataset_problems(datasets: dict) -> list[ConfigProblem]:
    return _parameter_problems("datasets", datasets, registries.datasets(), "a parameter of data set")


def _parameter_problems(section: str, entries: dict, registry: dict, what: str) -> list[ConfigProblem]:
    """A problem for every parameter of an entry (a model, a data set) that its kind does not take."""
    return [_not_one_of((section, name, "params", param), param, f"{what} {entry['kind']}",
                        registry[entry["kind"]].params)
            for name, entry in entries.items() for param in entry.get("params", {})
            if param not in registry[entry["kind"]].params]


def _optimizer_problems(optimizers: dict) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for name, opt in optimizers.items():
        for key, value in opt.items():
            if key in ("kind", "batch"):
                continue
            path = ("optimizers", name, key)
            hp = _hyperparameter(opt["kind"], key, path, problems)
            why = hp.check(value) if hp else None
            if why:
                problems.append(ConfigProblem(format_path(path), f"expected {why}, got {value!r}."))
    return problems


def _study_problems(base: tuple, study: dict, data: dict) -> list[ConfigProblem]:
    problems = _study_name_problems(base, study, data)
    problems += _study_data_problems(base, study, data["models"], data.get("datasets") or {})
    problems += _study_procedure_problems(base, study)
    problems += _study_tuning_problems(base, study)
    problems += _study_optimizer_problems(base, study, data["optimizers"])
    problems += _study_vary_problems(base, study, data["models"])
    return problems


def _study_name_problems(base: tuple, study: dict, data: dict) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    models, datasets = data["models"], data.get("datasets") or {}
    if study["claim"] not in data["claims"]:
        problems.append(ConfigProblem(format_path(base + ("claim",)), (
            f"claim '{study['claim']}' has no entry in the claims section; add its criterion there.")))
    for i, m in enumerate(study["models"]):
        if m not in models:
            problems.append(ConfigProblem(format_path(base + ("models", i)), expected_one_of("model", m, models)))
    if "dataset" in study and study["dataset"] not in datasets:
        problems.append(ConfigProblem(format_path(base + ("dataset",)),
                                      expected_one_of("data set", study["dataset"], datasets)))
    return problems


def _study_data_problems(base: tuple, study: dict, models: dict, datasets: dict) -> list[ConfigProblem]:
    """Each model of the study against its data set: networks need one of a kind they accept,
    analytic objectives take none."""
    kinds, data_kinds = registries.model_kinds(), registries.datasets()
    problems: list[ConfigProblem] = []
    for i, m in enumerate(study["models"]):
        if m not in models:
            continue
        accepts = kinds[models[m]["kind"]].accepts
        ds = datasets.get(study.get("dataset"))
        if accepts and "dataset" not in study:
            problems.append(ConfigProblem(format_path(base), (
                f"model '{m}' trains on data: add 'dataset:' with a data set of kind "
                f"{' or '.join(sorted(accepts))}.")))
        elif not accepts and "dataset" in study:
            problems.append(ConfigProblem(format_path(base + ("dataset",)), (
                f"model '{m}' (kind {models[m]['kind']}) is an analytic objective and takes no data set.")))
        elif ds is not None and data_kinds[ds["kind"]].kind not in accepts:
            problems.append(ConfigProblem(format_path(base + ("models", i)), (
                f"model '{m}' (kind {models[m]['kind']}) accepts {' or '.join(sorted(accepts))} data, "
                f"but data set '{study['dataset']}' is {data_kinds[ds['kind']].kind} data.")))
    problems += _until_problems(base, study, models)
    return problems


def _until_problems(base: tuple, study: dict, models: dict) -> list[ConfigProblem]:
    kinds = registries.model_kinds()
    problems: list[ConfigProblem] = []
    budget = study.get("budget")
    for rule, needs_data in (("grad_norm", False), ("train_loss_change", True)):
        wrong = [m for m in study.get("models", []) if m in models and rule in (budget or {}).get("until", {})
                 and bool(kinds[models[m]["kind"]].accepts) != needs_data]
        if wrong:
            problems.append(ConfigProblem(format_path(base + ("budget", "until", rule)), (
                f"until.{rule} applies to {'networks' if needs_data else 'analytic objectives'} only, "
                f"not to model '{wrong[0]}'.")))
    return problems


def _study_procedure_problems(base: tuple, study: dict) -> list[ConfigProblem]:
    """The procedure's parameters, and the optimizers and budget it does or does not need."""
    problems: list[ConfigProblem] = []
    procedure = registries.procedures().get((study.get("procedure") or {}).get("kind"))
    if procedure is not None:
        for param in study["procedure"].get("params") or {}:
            if param not in procedure.params:
                problems.append(_not_one_of(base + ("procedure", "params", param), param,
                                            f"a parameter of procedure {procedure.name}", procedure.params))
    if "optimizers" not in study and (procedure is None or procedure.uses_optimizer):
        problems.append(ConfigProblem(format_path(base), "missing required key 'optimizers'."))
    if "optimizers" in study and procedure is not None and not procedure.uses_optimizer:
        problems.append(ConfigProblem(format_path(base + ("optimizers",)), (
            f"procedure {procedure.name} uses no optimizer; remove 'optimizers'.")))
    budget = study.get("budget")
    if budget is None and procedure is None:
        problems.append(ConfigProblem(format_path(base), "missing required key 'budget'."))
    elif budget is not None and ("epochs" in budget) == ("max_steps" in budget):
        problems.append(ConfigProblem(format_path(base + ("budget",)),
                                      "expected exactly one of epochs or max_steps."))
    return problems


def _study_tuning_problems(base: tuple, study: dict) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    tune = study.get("tune")
    for path, entry in ((("tune",), tune), (("tune", "tie_break"), (tune or {}).get("tie_break"))):
        if entry and not entry["metric"].startswith("val_"):
            problems.append(ConfigProblem(format_path(base + path + ("metric",)), (
                f"tuning may only use the validation split: expected a metric named val_<name> "
                f"(e.g. val_loss, val_accuracy), got '{entry['metric']}'.")))
    if tune and "optimizers" not in study:
        problems.append(ConfigProblem(format_path(base + ("tune",)), "tuning needs 'optimizers'."))
    if tune and tune.get("seeds", 1) > len(study.get("seeds") or []):
        problems.append(ConfigProblem(format_path(base + ("tune", "seeds")), (
            f"tuning on {tune['seeds']} seeds needs at least as many in the study's seeds "
            f"(it has {len(study.get('seeds') or [])}).")))
    if tune and tune.get("extend"):
        for oname in study.get("optimizers") or []:
            if "lr" not in ((study.get("grid") or {}).get(oname) or {}):
                problems.append(ConfigProblem(format_path(base + ("tune", "extend")), (
                    f"a grid is extended along its learning rates, but the grid of '{oname}' "
                    "declares no lr.")))
    return problems


def _study_optimizer_problems(base: tuple, study: dict, optimizers: dict) -> list[ConfigProblem]:
    """The study's optimizers are defined; its thresholds and grids name only them; each has a
    learning rate."""
    problems: list[ConfigProblem] = []
    mine = study.get("optimizers") or []
    for oname in (study.get("thresholds") or {}):
        if oname not in mine:
            problems.append(ConfigProblem(format_path(base + ("thresholds", oname)),
                                          expected_one_of("optimizer of this study", oname, mine)))
    for i, o in enumerate(mine):
        if o not in optimizers:
            problems.append(ConfigProblem(format_path(base + ("optimizers", i)),
                                          expected_one_of("optimizer", o, optimizers)))
    problems += _study_grid_problems(base, study, optimizers)
    for oname in mine:
        if oname in optimizers and "lr" not in optimizers[oname] and "lr" not in (study.get("grid") or {}).get(oname, {}):
            problems.append(ConfigProblem(format_path(base + ("grid",)), (
                f"no learning rate for optimizer '{oname}': give 'lr' in optimizers.{oname} "
                f"or a grid {oname}: {{lr: [...]}} here.")))
    return problems


def _study_grid_problems(base: tuple, study: dict, optimizers: dict) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    mine = study.get("optimizers") or []
    for oname, hps in (study.get("grid") or {}).items():
        if oname not in mine:
            problems.append(ConfigProblem(format_path(base + ("grid", oname)), (
                f"grid for '{oname}', which this study does not train; expected one of its optimizers: "
                f"{', '.join(mine) or '(none)'}.{did_you_mean(oname, mine)}")))
            continue
        kind = optimizers[oname]["kind"]
        for hname, spec in hps.items():
            path = base + ("grid", oname, hname)
            hp = _hyperparameter(kind, hname, path, problems)
            if hp:
                _check_values(spec, path, problems, hp.check)
    return problems


def _study_vary_problems(base: tuple, study: dict, models: dict) -> list[ConfigProblem]:
    kinds = registries.model_kinds()
    problems: list[ConfigProblem] = []
    for param, spec in (study.get("vary") or {}).items():
        _check_values(spec, base + ("vary", param), problems)
        for m in study["models"]:
            if m in models and param not in kinds[models[m]["kind"]].params:
                problems.append(ConfigProblem(format_path(base + ("vary", param)), (
                    f"'{param}' is not a parameter of model '{m}' (kind {models[m]['kind']}); expected one of: "
                    f"{', '.join(kinds[models[m]['kind']].params)}.")))
    return problems


def _claim_problems(claims: dict, studies: dict) -> list[ConfigProblem]:
    """Each criterion names a quantity its claim computes, one test, and a premise among the
    claim's other criteria."""
    problems: list[ConfigProblem] = []
    for cname, claim in claims.items():
        declared = registries.claims()[cname]
        own = declared.studies(studies)
        known = declared.quantities
        for i, crit in enumerate(claim["criterion"]):
            path = ("claims", cname, "criterion", i)
            if not declared.knows(crit["quantity"], own):
                hint = (expected_one_of(f"quantity of {cname}", crit["quantity"], known) if known else
                        f"unknown quantity '{crit['quantity']}' of {cname}; expected '<study>.<final metric>' "
                        f"with a study that serves this claim: {', '.join(own) or '(none)'}.")
                problems.append(ConfigProblem(format_path(path + ("quantity",)), hint))
            problems += _criterion_problems(cname, claim, crit, path)
    return problems


def _criterion_problems(cname: str, claim: dict, crit: dict, path: tuple) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    tests = [k for k in ("between", "at_least", "at_most") if k in crit]
    if len(tests) != 1:
        problems.append(ConfigProblem(format_path(path), (
            "expected exactly one of between: [low, high], at_least: x or at_most: x.")))
    elif tests == ["between"] and not crit["between"][0] <= crit["between"][1]:
        problems.append(ConfigProblem(format_path(path + ("between",)),
                                      f"expected low ≤ high, got {crit['between']}."))
    others = [c["quantity"] for c in claim["criterion"] if c is not crit]
    if "given" in crit and crit["given"] not in others:
        problems.append(ConfigProblem(format_path(path + ("given",)), (
            f"a premise must be the quantity of another criterion of {cname}; expected one of: "
            f"{', '.join(others) or '(none)'}.")))
    return problems


def _profile_problems(profiles: dict, studies: dict) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for pname, profile in profiles.items():
        for sname, patch in (profile.get("studies") or {}).items():
            if sname not in studies:
                problems.append(ConfigProblem(format_path(("profiles", pname, "studies", sname)),
                                              expected_one_of("study", sname, studies)))
            else:
                problems += _grid_left_out(pname, sname, studies[sname], patch or {})
    return problems


def _grid_left_out(pname: str, sname: str, study: dict, patch: dict) -> list[ConfigProblem]:
    """A profile's grid for a study must name every optimizer the study has a grid for: one left
    out would silently keep the study's own (full) grid in that profile."""
    if not isinstance(patch.get("grid"), dict):
        return []
    own = study.get("grid") or {}
    return [ConfigProblem(format_path(("profiles", pname, "studies", sname, "grid")), (
        f"the grid of profile '{pname}' for study '{sname}' leaves out optimizer '{o}', which the study "
        f"trains on a grid of its own; expected an entry {o}: {{lr: [...]}} here (without it the study's "
        f"own grid would be used in profile '{pname}')."))
        for o in patch.get("optimizers", study.get("optimizers") or []) if o in own and o not in patch["grid"]]


def _merge(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else copy.deepcopy(value)
    return out


def apply_profile(data: dict, profile: str) -> dict:
    """The file with the profile's study patches merged in (mappings merge, lists replace)."""
    patched = copy.deepcopy(data)
    for sname, patch in (data["profiles"][profile].get("studies") or {}).items():
        patched["studies"][sname] = _merge(data["studies"][sname], patch)
    return patched


def _locate(problems: list[ConfigProblem], positions: Positions, raw_paths: dict) -> None:
    for p in problems:
        if p.line is not None:
            continue
        path = raw_paths.get(p.path)
        while path is not None:
            pos = positions.get(("key",) + path) or positions.get(path)
            if pos:
                p.line, p.column = pos
                break
            if not path:
                break
            path = path[:-1]


def _all_paths(node, path=()) -> dict:
    out = {format_path(path): path}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(_all_paths(v, path + (k,)))
            out[format_path(path + (k,))] = path + (k,)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.update(_all_paths(v, path + (i,)))
    return out


def _fail(file: str, problems: list[ConfigProblem], data: dict, positions: Positions):
    paths = _all_paths(data)
    for p in problems:  # paths to keys that are absent in the data (e.g. a missing key) still locate their parent
        if p.path not in paths:
            parts = p.path.replace("[", ".[").split(".")
            paths[p.path] = tuple(int(s[1:-1]) if s.startswith("[") else s for s in parts if s)
    _locate(problems, positions, paths)
    raise ConfigError(file, sorted(problems, key=lambda p: (p.line or 0, p.column or 0)))


def load_experiments(file: Path = DEFAULT_FILE, profile: str = DEFAULT_PROFILE) -> Experiments:
    """Read, check and profile-patch an experiments file; raise ConfigError on any defect."""
    raw, positions = load_yaml(file)
    problems = [p for err in _validator().iter_errors(raw) for p in _schema_problem(err)] or matrix.problems(raw)
    if problems:
        _fail(str(file), problems, raw, positions)
    data = matrix.expand(raw)   # the matrix section written out into the studies that name its grids
    problems = matrix.at_source(_semantic_problems(data), raw)
    if profile not in data["profiles"]:
        problems.append(ConfigProblem("profiles", expected_one_of("profile", profile, data["profiles"])
                                      + " (chosen with --profile)"))
    if problems:
        _fail(str(file), problems, raw, positions)
    patched = apply_profile(data, profile)
    problems = matrix.at_source(_semantic_problems(patched), raw, profile)
    if problems:
        for p in problems:
            p.message += f" (after applying profile '{profile}')"
        _fail(str(file), problems, raw, positions)
    return Experiments(Path(file), profile, patched, hashlib.sha256(Path(file).read_bytes()).hexdigest())
