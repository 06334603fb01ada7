"""Expand the studies of an experiments file into runs, each keyed by what determines its result.

A run spec is plain data: study, claim, model (kind + resolved parameters), optimizer (kind +
every hyperparameter), batch regime, seed and budget.  Its key hashes the canonical JSON of the
spec together with the source of the modules its computation imports (engine.codehash): editing
an optimizer rule retrains the runs that use that rule, editing a claim or the report retrains
nothing.
"""
from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from functools import lru_cache

from engine.config.errors import ConfigError, ConfigProblem
from engine.config.validate import Experiments, expand_values
from engine.data import DATASETS
from engine.models import MODELS
from engine.optim import OPTIMIZERS
from engine.codehash import fingerprint
from engine.procedures import PROCEDURES, code_roots
from engine.record import NoSuchField
from engine.spec import Named, OptimizerSpec, ProcedureSpec, RunSpec, canonical
from engine.tuning import final_seeds, tune_cell, tuning_seeds
from engine.training import MODEL_KINDS
from engine.training.network import examples_per_step


@dataclass(frozen=True)
class Run:
    key: str
    label: str
    spec: dict

    @property
    def group(self) -> str:
        """Runs with equal group keys differ only in seed, optimizer (rule and hyperparameters)
        and batch 'full' against no batch (one regime), so they train together as members of one
        computation: one forward and backward pass for all, each rule updating its own rows.  A
        study marked `alone` (its claim times single runs) gives every run a group of its own."""
        return group_key(self.spec)


def group_key(spec: dict) -> str:
    """What runs must share to train as one group (see ``Run.group``).  Batch 'full' and no batch
    are one regime for every trainer (each step sees the whole training set; an analytic
    objective without terms has no examples at all), so gradient descent joins the other
    optimizers of an analytic objective."""
    if spec.get("alone"):
        return canonical(spec)
    shared = {k: v for k, v in spec.items() if k not in ("seed", "optimizer")}
    if shared.get("batch") == "full":
        shared["batch"] = None
    return canonical(shared)


def run_key(spec: dict) -> str:
    code = fingerprint(code_roots(spec))
    return hashlib.sha256((canonical(spec) + code).encode()).hexdigest()[:20]


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def run_label(spec: dict) -> str:
    vary = ",".join(f"{k}={_fmt(v)}" for k, v in spec.get("vary", {}).items())
    model = spec["model"]["name"] + (f"[{vary}]" if vary else "")
    opt = spec["optimizer"]
    if opt is None:
        return f"{spec['study']}/{model}/seed={spec['seed']}"
    hp = ",".join(f"{k}={_fmt(v)}" for k, v in opt["hp"].items() if not isinstance(v, str))
    return f"{spec['study']}/{model}/{opt['name']}[{hp}]/seed={spec['seed']}"


@dataclass(frozen=True)
class Cell:
    """One (study, model, sweep point, optimizer): the runs whose learning rate is tuned together."""

    study: str
    model: str
    vary: tuple
    optimizer: str | None

    def text(self) -> str:
        vary = ",".join(f"{k}={_fmt(v)}" for k, v in self.vary)
        return f"{self.study}/{self.model}{f'[{vary}]' if vary else ''}/{self.optimizer or '-'}"


def cell_of(spec: dict) -> Cell:
    """The cell a run belongs to."""
    return Cell(spec["study"], spec["model"]["name"], tuple(spec.get("vary", {}).items()),
                (spec["optimizer"] or {}).get("name"))


def batch_of(opt: dict | None, study: dict):
    """A run's batch regime: its optimizer's own (single-example SGD's 1), else the study's."""
    return (opt or {}).get("batch", study.get("batch_size"))


def _spec(sname, study, mname, model, params, vary_point, oname, opt, hp, seed, data) -> dict:
    """The canonical JSON of one run, built through RunSpec so that every field is checked."""
    dataset = study.get("dataset")
    procedure = study.get("procedure")
    return RunSpec(
        study=sname, claim=study["claim"],
        model=Named(mname, model["kind"], params),
        vary=dict(vary_point),
        dataset=None if dataset is None else Named(
            dataset, data["datasets"][dataset]["kind"],
            {**DATASETS[data["datasets"][dataset]["kind"]].params, **data["datasets"][dataset].get("params", {})}),
        optimizer=None if opt is None else OptimizerSpec(oname, opt["kind"], hp),
        batch=batch_of(opt, study),
        seed=seed,
        budget=study.get("budget", {}),
        clip_norm=study.get("clip_norm"),
        procedure=None if not procedure else ProcedureSpec(
            procedure["kind"], PROCEDURES[procedure["kind"]].resolve(procedure.get("params"))),
        alone=bool(study.get("alone")),
    ).to_json()


def _cells(exp: Experiments, studies=None):
    """Every cell of every study (or of the named ones) with the specs of its grid, for each seed."""
    data = exp.data
    for sname, study in data["studies"].items():
        if studies is not None and sname not in studies:
            continue
        vary_axes = [[(k, v) for v in expand_values(spec)] for k, spec in (study.get("vary") or {}).items()]
        for mname in study["models"]:
            model = data["models"][mname]
            for vary_point in itertools.product(*vary_axes):
                params = {**MODEL_KINDS[model["kind"]].params, **model.get("params", {}), **dict(vary_point)}
                for oname in study.get("optimizers") or [None]:
                    opt = None if oname is None else data["optimizers"][oname]
                    grid = (study.get("grid") or {}).get(oname, {})
                    axes = [[(k, v) for v in expand_values(spec)] for k, spec in grid.items()]
                    if opt is None:  # a procedure that uses no optimizer
                        hps = [None]
                    else:
                        fixed = {k: v for k, v in opt.items() if k not in ("kind", "batch")}
                        hps = [OPTIMIZERS[opt["kind"]].resolve({**fixed, **dict(point)})
                               for point in itertools.product(*axes)]
                    make = lambda hp, seed, sname=sname, study=study, mname=mname, model=model, \
                        params=params, vary_point=vary_point, oname=oname, opt=opt: _spec(
                            sname, study, mname, model, params, vary_point, oname, opt, hp, seed, data)
                    yield Cell(sname, mname, vary_point, oname), study, hps, make


def _axis_size(spec) -> int:
    return int(spec["geomspace"][2]) if isinstance(spec, dict) else len(spec)


def count_runs(exp: Experiments) -> dict[str, int]:
    """Study → how many runs it plans at most (a tuned study: its grid and every extension the
    study allows, each with the tuning seeds, plus the other seeds of the chosen point, or of every
    point for a single-example cell: ``finals_with_grid``), counted from the sizes of its axes
    without expanding them."""
    counts = {}
    for sname, study in exp.data["studies"].items():
        sweep = math.prod(_axis_size(v) for v in (study.get("vary") or {}).values())
        tune, seeds = study.get("tune"), len(study["seeds"])
        per_model = 0
        for oname in study.get("optimizers") or [None]:
            axes = (study.get("grid") or {}).get(oname) or {}
            grid = math.prod(_axis_size(v) for v in axes.values())
            if tune:
                k = len(tuning_seeds(study))
                # an extension adds one rate for every combination of the other hyperparameters
                per_rate = grid // _axis_size(axes["lr"]) if "lr" in axes else 0
                points = grid + tune.get("extend", 0) * per_rate
                single = batch_of(exp.data["optimizers"][oname], study) == 1
                per_model += points * seeds if single else points * k + seeds - k
            else:
                per_model += grid * seeds
        counts[sname] = len(study["models"]) * sweep * per_model
    return counts


def _run(spec: dict) -> Run:
    return Run(run_key(spec), run_label(spec), spec)


def expand(exp: Experiments, store=None, studies=None) -> list[Run]:
    """Every run of every study, in a stable order.

    A study without `tune` runs its whole grid with every seed.  A study with
    `tune: {metric, mode, seeds, extend}` follows the tuning protocol (engine/tuning.py): the grid
    runs with the first `seeds` seeds and is scored on the validation split, a choice at an edge
    of the grid adds a rate beyond it (at most `extend` times), and the chosen point then runs
    with the other seeds.  Extensions and final runs are known only once what precedes them is in
    `store`; until then `expand_with_waiting` names their cells, except those of single-example
    cells, which train every seed at every point while they tune (``finals_with_grid``).
    `studies` restricts the expansion to those study names.
    """
    return _expand(exp, store, studies)[0]


def expand_with_waiting(exp: Experiments, store=None, studies=None) -> tuple[list[Run], list[Cell]]:
    """`expand`, and the cells whose final runs wait for their tuning grid to be trained (one pass
    over the plan, or over `studies`)."""
    return _expand(exp, store, studies)


def _expand(exp: Experiments, store, studies=None) -> tuple[list[Run], list[Cell]]:
    runs, waiting = [], []
    for cell, study, hps, make in _cells(exp, studies):
        tune = study.get("tune")
        if not tune:
            runs.extend(_run(make(hp, seed)) for hp in hps for seed in study["seeds"])
            continue
        tuning = tuning_seeds(study)
        records_at = lambda hp, make=make, tuning=tuning: [
            None if store is None else store.get(_run(make(hp, seed)).key) for seed in tuning]
        try:
            outcome = tune_cell(hps, records_at, tune)
        except NoSuchField as exc:   # a tuning metric the study's runs do not measure
            raise ConfigError(str(exp.file), [ConfigProblem(f"studies.{cell.study}.tune", (
                f"its runs cannot be tuned on what they do not measure: {exc}"))]) from None
        runs.extend(_run(make(hp, seed)) for hp, _ in outcome.points for seed in tuning)
        if outcome.pending and hps and finals_with_grid(make(hps[0], tuning[0])):
            runs.extend(_run(make(hp, seed)) for hp, _ in outcome.points for seed in final_seeds(study))
        elif outcome.pending:
            waiting.append(cell)
        elif outcome.hp is not None:
            runs.extend(_run(make(outcome.hp, seed)) for seed in final_seeds(study))
    return runs, waiting


def finals_with_grid(spec: dict) -> bool:
    """Whether a tuned cell of runs like `spec` trains its final seeds at every grid point
    together with the tuning seeds, instead of at the chosen point once the choice is known.

    Single-example steps cost their NumPy calls, not their arithmetic, so a group's time hardly
    grows with its members: in the full build the two final seeds of a single-example cell took
    0.5-1.0× the time of its nine tuning runs (the 1-D CNN 46 s against 47 s), while fifteen
    members cost about 1.2-1.3× nine.  Training them with the grid saves the second group and takes
    it off the critical path.  Only the runs at the chosen point are ever read: the plan of a tuned
    cell is the same as without this, and a run's numbers do not depend on its group (tested), so
    no reported number changes; the other points' final seeds stay in the store unread."""
    return spec["batch"] == 1 and not spec.get("alone")


def expected_finals(waiting, grid_runs, seeds_of, selected=lambda spec: True) -> dict[Cell, tuple[dict, int]]:
    """Each waiting cell's final seeds as (a spec of its grid, how many runs): ``seeds_of(study)``
    is the study's final seeds (``engine.tuning.final_seeds``); ``selected(spec)`` whether the
    run's selection (``--only``) keeps a run like `spec`.  A cell with no final run to expect (no
    final seed, or none selected) is left out.  A grid extension still to come is not counted:
    whether there will be one is known only once the grid is scored."""
    waiting, out = set(waiting), {}
    for run in grid_runs:
        cell = cell_of(run.spec)
        if cell in waiting and cell not in out:
            finals = sum(selected({**run.spec, "seed": seed}) for seed in seeds_of(cell.study))
            if finals:
                out[cell] = (run.spec, finals)
    return out


def parse_filter(text: str | None) -> list[tuple[str | None, str]]:
    """'study=momentum*,optimizer=gd' → [('study', 'momentum*'), ('optimizer', 'gd')]."""
    if not text:
        return []
    terms = []
    for term in text.split(","):
        key, sep, pattern = term.strip().partition("=")
        terms.append((key.strip(), pattern.strip()) if sep else (None, key.strip()))
    return terms


@lru_cache(maxsize=None)
def claims_served(claim_id: str) -> tuple[str, ...]:
    """The claim a run's study serves and every claim that reads that claim's studies
    (``Claim.reads``): ``--only claim=X`` selects everything X's analysis needs."""
    from engine.claims import CLAIMS

    return (claim_id, *sorted(c.id for c in CLAIMS.values() if claim_id in c.reads))


FILTER_FIELDS = {
    "study": lambda s: s["study"], "claim": lambda s: claims_served(s["claim"]), "model": lambda s: s["model"]["name"],
    "optimizer": lambda s: s["optimizer"]["name"] if s["optimizer"] else "", "seed": lambda s: str(s["seed"]),
    "dataset": lambda s: s["dataset"]["name"] if s["dataset"] else "",
}


def select(runs: list[Run], terms) -> list[Run]:
    """Runs matching every term; a bare pattern matches study, claim, model or optimizer.  A run's
    claims are its study's claim and those that read it (``claims_served``)."""
    def matches(run: Run, key, pattern) -> bool:
        fields = [key] if key else ["study", "claim", "model", "optimizer"]
        values = [v for f in fields for v in _values(FILTER_FIELDS[f](run.spec))]
        return any(fnmatch.fnmatchcase(v, pattern) for v in values)

    return [r for r in runs if all(matches(r, k, p) for k, p in terms)]


def _values(field) -> tuple[str, ...]:
    return (field,) if isinstance(field, str) else tuple(field)


# A group's arrays grow with members × examples per step × the values a model computes per
# example.  Past a few megabytes they fall out of the cache and a member costs more in a big group
# than in a small one: the 1-D CNN at B = 100 costs 1.5× per run in a group of 25 what it costs in
# a group of 5, the digits CNN 1.3× (measured here).  Groups are cut to at most this many values
# per step; groups whose members each see a few examples per step (single examples, small models)
# are never cut.
VALUES_PER_STEP = 1_000_000


def group_runs(runs: list[Run], max_members: int = 4096) -> list[list[Run]]:
    """Runs that can train together, split into groups of at most `max_members` and at most
    ``VALUES_PER_STEP`` values per step (``member_limit``), as even as possible, longest first
    (so that two workers do not end with one long group running alone)."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    chunks = []
    for g in groups.values():
        pieces = -(-len(g) // min(max_members, member_limit(g[0].spec)))
        bounds = [round(i * len(g) / pieces) for i in range(pieces + 1)]
        chunks += [g[a:b] for a, b in zip(bounds, bounds[1:])]
    return sorted(chunks, key=lambda g: -estimated_cost(g[0].spec, len(g)))


def member_limit(spec: dict) -> int:
    """How many members a group of runs like `spec` may have: ``VALUES_PER_STEP`` over the values
    one member computes per step (examples per step × the model's layer outputs per example)."""
    if spec["dataset"] is None or spec.get("procedure") is not None:
        return 4096
    size = _model_size(canonical(spec["model"]), canonical(spec["dataset"]))
    return max(1, VALUES_PER_STEP // (examples_per_step(spec, size.n_train) * size.outputs))


@dataclass(frozen=True)
class _Size:
    n_train: int   # training examples of the data set
    outputs: int   # values the model's layers output per example
    macs: int      # multiply-adds of one forward pass per example


# (model JSON, data set JSON) → its _Size, for this process; `prefetch_sizes` fills it from the workers.
_SIZES: dict[tuple[str, str], _Size] = {}


def _model_size(model_json: str, dataset_json: str) -> _Size:
    pair = (model_json, dataset_json)
    if pair not in _SIZES:
        _SIZES[pair] = _measure_size(model_json, dataset_json)
    return _SIZES[pair]


def measure_sizes(pairs: list[tuple[str, str]]) -> list[_Size]:
    """The sizes of (model JSON, data set JSON) pairs, computed in this process (a worker's, when
    `prefetch_sizes` submits it): it loads their data sets, which its later groups then reuse."""
    return [_measure_size(*pair) for pair in pairs]


def prefetch_sizes(submit, runs: list[Run]) -> None:
    """Compute in the workers the sizes that grouping and cost estimates need, one task per data
    set: `submit(fn, arg)` is an executor's.  Measuring a size loads its data set (generating
    MNIST-1D takes seconds); done in the client, it would run before any worker starts and again
    in each worker that trains on the set, while a worker's load is one its groups reuse."""
    needed = {(canonical(r.spec["model"]), canonical(r.spec["dataset"])) for r in runs
              if r.spec["dataset"] is not None and r.spec.get("procedure") is None}
    by_dataset: dict[str, list[tuple[str, str]]] = {}
    for pair in sorted(needed - _SIZES.keys()):
        by_dataset.setdefault(pair[1], []).append(pair)
    tasks = [(pairs, submit(measure_sizes, pairs)) for pairs in by_dataset.values()]
    for pairs, task in tasks:
        _SIZES.update(zip(pairs, task.result()))


def _measure_size(model_json: str, dataset_json: str) -> _Size:
    """A layer's multiply-adds are its parameters times the positions it applies them at (all but
    the last axis of its output: 1 for a dense layer, the output length for a convolution, the
    steps for a recurrence)."""
    model, dataset = json.loads(model_json), json.loads(dataset_json)
    data = DATASETS[dataset["kind"]].load(None, **dataset["params"])
    built = MODELS[model["kind"]].build(data.info, **model["params"])
    rows = built.layers or ()
    macs = sum(row["n_params"] * math.prod(row["output_shape"][:-1]) for row in rows)
    return _Size(data.x_train.shape[0], max(1, sum(math.prod(row["output_shape"]) for row in rows)),
                 max(macs, built.n_params))


# The prior of `estimated_cost`, in seconds, fitted (non-negative least squares) on the groups of
# a cold full build on 2 cores here (most families within 0.6-1.4× of what they took); the
# progress bar calibrates it as groups finish (engine/progress.py), so only its proportions
# between families need to be about right.
GROUP_START_S = 0.2                       # a worker loads the data and builds the model
NETWORK_STEP_S = (2.8e-5, 8.5e-5, 5.0e-10)  # per step: fixed, per member, per member × example × multiply-add
OBJECTIVE_STEP_S = (8.3e-5, 0.0)          # per step of an analytic objective: fixed, per member
PROCEDURE_RUN_S = 1.0                     # per run of a procedure


def estimated_cost(spec: dict, members: int) -> float:
    """Seconds a group of `members` runs like `spec` should take: optimizer steps × (a fixed cost
    + a cost per member + one per member, example and multiply-add of the model), plus the
    group's start."""
    budget = spec["budget"]
    if spec.get("procedure") is not None or not budget:
        return GROUP_START_S + PROCEDURE_RUN_S * members
    if spec["dataset"] is None:
        fixed, per_member = OBJECTIVE_STEP_S
        return GROUP_START_S + budget.get("max_steps", budget.get("epochs", 1)) * (fixed + per_member * members)
    size = _model_size(canonical(spec["model"]), canonical(spec["dataset"]))
    batch = examples_per_step(spec, size.n_train)
    steps = budget["max_steps"] if "max_steps" in budget else budget["epochs"] * -(-size.n_train // batch)
    fixed, per_member, per_value = NETWORK_STEP_S
    return GROUP_START_S + steps * (fixed + members * (per_member + per_value * batch * size.macs))
