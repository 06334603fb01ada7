"""Expand the studies of an experiments file into runs, each keyed by what determines its result.

A run spec is plain data: study, claim, model (kind + resolved parameters), optimizer (kind +
every hyperparameter), batch regime, seed and budget.  Its key hashes the canonical JSON of the
spec together with the source of the code it depends on, so editing a model or an optimizer
retrains exactly the runs that use it, and nothing else.
"""
from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import itertools
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engine.config.validate import Experiments, expand_values
from engine.optim import OPTIMIZERS
from engine.training import MODEL_KINDS


@dataclass(frozen=True)
class Run:
    key: str
    label: str
    spec: dict

    @property
    def group(self) -> str:
        """Runs with equal group keys differ only in seed and numeric hyperparameters, so they
        can train together as members of one computation."""
        spec = {k: v for k, v in self.spec.items() if k != "seed"}
        hp = spec["optimizer"]["hp"]
        spec["optimizer"] = {**spec["optimizer"], "hp": {k: v for k, v in hp.items() if isinstance(v, str)}}
        return canonical(spec)


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _module_files(module: str) -> list[Path]:
    spec = importlib.util.find_spec(module)
    if spec.submodule_search_locations:
        return sorted(p for d in spec.submodule_search_locations for p in Path(d).rglob("*.py"))
    return [Path(spec.origin)]


@lru_cache(maxsize=None)
def code_fingerprint(modules: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for module in modules:
        for path in _module_files(module):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def run_key(spec: dict) -> str:
    code = code_fingerprint(MODEL_KINDS[spec["model"]["kind"]].code)
    return hashlib.sha256((canonical(spec) + code).encode()).hexdigest()[:20]


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def run_label(spec: dict) -> str:
    vary = ",".join(f"{k}={_fmt(v)}" for k, v in spec.get("vary", {}).items())
    hp = ",".join(f"{k}={_fmt(v)}" for k, v in spec["optimizer"]["hp"].items() if not isinstance(v, str))
    model = spec["model"]["name"] + (f"[{vary}]" if vary else "")
    return f"{spec['study']}/{model}/{spec['optimizer']['name']}[{hp}]/seed={spec['seed']}"


def expand(exp: Experiments) -> list[Run]:
    """Every run of every study, in a stable order."""
    data = exp.data
    runs = []
    for sname, study in data["studies"].items():
        vary = study.get("vary") or {}
        vary_axes = [[(k, v) for v in expand_values(spec)] for k, spec in vary.items()]
        for mname in study["models"]:
            model = data["models"][mname]
            kind = MODEL_KINDS[model["kind"]]
            for vary_point in itertools.product(*vary_axes):
                params = {**kind.params, **model.get("params", {}), **dict(vary_point)}
                for oname in study["optimizers"]:
                    opt = data["optimizers"][oname]
                    rule = OPTIMIZERS[opt["kind"]]
                    fixed = {k: v for k, v in opt.items() if k not in ("kind", "batch")}
                    grid = (study.get("grid") or {}).get(oname, {})
                    axes = [[(k, v) for v in expand_values(spec)] for k, spec in grid.items()]
                    for grid_point in itertools.product(*axes):
                        hp = rule.resolve({**fixed, **dict(grid_point)})
                        for seed in study["seeds"]:
                            spec = {
                                "study": sname, "claim": study["claim"],
                                "model": {"name": mname, "kind": model["kind"], "params": params},
                                "vary": dict(vary_point),
                                "dataset": study.get("dataset"),
                                "optimizer": {"name": oname, "kind": opt["kind"], "hp": hp},
                                "batch": opt.get("batch", study.get("batch_size")),
                                "seed": seed,
                                "budget": study["budget"],
                            }
                            runs.append(Run(run_key(spec), run_label(spec), spec))
    return runs


def parse_filter(text: str | None) -> list[tuple[str | None, str]]:
    """'study=momentum*,optimizer=gd' → [('study', 'momentum*'), ('optimizer', 'gd')]."""
    if not text:
        return []
    terms = []
    for term in text.split(","):
        key, sep, pattern = term.strip().partition("=")
        terms.append((key.strip(), pattern.strip()) if sep else (None, key.strip()))
    return terms


FILTER_FIELDS = {
    "study": lambda s: s["study"], "claim": lambda s: s["claim"], "model": lambda s: s["model"]["name"],
    "optimizer": lambda s: s["optimizer"]["name"], "seed": lambda s: str(s["seed"]),
    "dataset": lambda s: str(s["dataset"]),
}


def select(runs: list[Run], terms) -> list[Run]:
    """Runs matching every term; a bare pattern matches study, claim, model or optimizer."""
    def matches(run: Run, key, pattern) -> bool:
        fields = [key] if key else ["study", "claim", "model", "optimizer"]
        return any(fnmatch.fnmatchcase(FILTER_FIELDS[f](run.spec), pattern) for f in fields)

    return [r for r in runs if all(matches(r, k, p) for k, p in terms)]


def group_runs(runs: list[Run], max_members: int = 4096) -> list[list[Run]]:
    """Runs that can train together, in plan order, split so no group exceeds max_members."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    return [g[i:i + max_members] for g in groups.values() for i in range(0, len(g), max_members)]
