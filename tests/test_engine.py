"""The engine's promises: stable keys, atomic resumable store, grouping and --jobs that do not
change results, divergence recorded rather than raised, a killed run that loses nothing."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from engine.config.validate import load_experiments
from engine.executor import execute_group
from engine.plan import expand, group_runs, parse_filter, select
from engine.record import Record
from engine.store import ResultStore, StoreUnwritable

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "tiny.yaml"

RESULT_FIELDS = ("status", "diverged_at_step", "history", "final")


def _runs(profile="full"):
    return expand(load_experiments(TINY, profile))


def _items(runs):
    return [(r.key, r.label, r.spec) for r in runs]


def test_keys_are_stable_and_distinct():
    a, b = _runs(), _runs()
    assert [r.key for r in a] == [r.key for r in b]
    assert len({r.key for r in a}) == len(a)


def test_profile_overrides_only_what_it_names():
    full, quick = _runs("full"), _runs("quick")
    assert {r.spec["seed"] for r in quick if r.spec["study"] == "scaling"} == {0}
    paths_full = {r.key for r in full if r.spec["study"] == "paths"}
    paths_quick = {r.key for r in quick if r.spec["study"] == "paths"}
    assert paths_full == paths_quick


def test_only_filter():
    runs = _runs()
    gd = select(runs, parse_filter("study=scaling,optimizer=gd"))
    assert gd and all(r.spec["optimizer"]["name"] == "gd" and r.spec["study"] == "scaling" for r in gd)
    assert select(runs, parse_filter("paths")) == [r for r in runs if r.spec["study"] == "paths"]


def test_grouped_equals_alone_bit_for_bit():
    runs = [r for r in _runs() if r.spec["study"] == "scaling" and r.spec["vary"]["kappa"] == 100]
    groups = group_runs(runs)
    # GD (batch 'full') and momentum (no batch) are one regime on an analytic objective: one group
    # with two optimizer rules, each stepping its own rows.
    assert len(groups) == 1 and {r.spec["optimizer"]["name"] for r in groups[0]} == {"gd", "momentum"}
    for group in groups:
        together = execute_group(_items(group))
        for run, rec in list(zip(group, together))[:: max(1, len(group) // 6)]:
            alone = execute_group(_items([run]))[0]
            for field in RESULT_FIELDS:
                assert getattr(rec, field) == getattr(alone, field), (run.label, field)


def test_members_that_stop_leave_the_group_and_the_others_keep_their_bits(monkeypatch):
    """On a fixed loss, members that reached their target or diverged are dropped from the
    computation once they are half of it; every member still gives the same bits as alone.  The
    group mixes GD and momentum, so the drop also re-cuts each rule's rows and states."""
    import copy

    from engine.training import loop

    subsets = []
    subset = loop.Members.subset
    monkeypatch.setattr(loop.Members, "subset", lambda self, rows: subsets.append(len(rows)) or subset(self, rows))
    exp = load_experiments(ROOT / "experiments.yaml", "full")
    runs = [r for r in expand(exp) if r.spec["study"] == "momentum-scaling" and r.spec["vary"]["kappa"] == 10.0]
    group = group_runs(runs)[0][::9]
    items = []
    for run in group:
        spec = copy.deepcopy(run.spec)
        spec["budget"]["max_steps"] = 4000
        items.append((run.key, run.label, spec))
    together = execute_group(items)
    assert len(subsets) >= 2 and len(subsets) == len(set(subsets))   # dropped at least twice, shrinking
    statuses = Counter(rec.status for rec in together)
    reached = [rec.final["reached_target"] for rec in together]
    assert statuses["diverged"] and any(reached) and not all(reached)
    for item, rec in list(zip(items, together))[::7]:
        alone = execute_group([item])[0]
        for field in RESULT_FIELDS:
            assert getattr(rec, field) == getattr(alone, field), (item[1], field)


def test_divergence_is_recorded_not_raised():
    run = next(r for r in _runs() if r.spec["study"] == "scaling" and r.spec["optimizer"]["name"] == "gd")
    spec = json.loads(json.dumps(run.spec))
    spec["optimizer"]["hp"]["lr"] = 10.0  # > 2/L: GD diverges on any quadratic with L = 1
    rec = execute_group([("k", "diverging", spec)])[0]
    assert rec.status == "diverged"
    assert isinstance(rec.diverged_at_step, int) and rec.diverged_at_step > 0
    json.dumps(rec.to_json(), allow_nan=False)


def test_failure_is_recorded_for_the_group():
    run = next(r for r in _runs() if r.spec["study"] == "scaling")
    spec = json.loads(json.dumps(run.spec))
    spec["model"]["params"]["kappa"] = 0.5  # the quadratic refuses κ < 1
    rec = execute_group([("k", "failing", spec)])[0]
    assert rec.status == "failed" and "kappa" in rec.error and "Traceback" in rec.traceback


def test_an_outcome_that_is_not_a_records_becomes_a_failed_run(monkeypatch):
    import engine.executor

    run = next(r for r in _runs() if r.spec["study"] == "paths")
    monkeypatch.setattr(engine.executor, "runner", lambda spec: lambda specs: [
        {"status": "done", "history": {}, "final": {}} for _ in specs])
    rec = execute_group([("k", "odd", run.spec)])[0]
    assert rec.status == "failed" and "unknown status 'done'" in rec.error


def record(key="abc123", status="ok"):
    spec = {"study": "s", "claim": "c", "model": {"name": "q", "kind": "quadratic", "params": {}}, "vary": {},
            "dataset": None, "optimizer": {"name": "gd", "kind": "sgd", "hp": {"lr": 0.1}}, "batch": "full",
            "seed": 0, "budget": {"max_steps": 1}}
    return Record.from_json({"key": key, "label": "s/q/gd/seed=0", "status": status, "spec": spec,
                             "history": {}, "final": {}, "wall_time_s": 0.5, "group_wall_time_s": 0.5,
                             "group_size": 1, "environment": {"python": "3"},
                             **({"error": "RuntimeError: boom", "traceback": ""} if status == "failed" else {})})


def test_store_writes_atomically(tmp_path):
    store = ResultStore(tmp_path)
    store.put(record())
    assert store.get("abc123") == record()
    assert not list(tmp_path.rglob(".tmp-*"))
    assert store.get("missing") is None


def _engine(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "engine", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _snapshot(store: Path) -> dict:
    """Finished records only: a temporary file torn by the kill is never read as a record."""
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in store.rglob("*.json")
            if not p.name.startswith(".tmp-")}


def test_killed_run_loses_nothing_and_redoes_nothing(tmp_path):
    store = tmp_path / "store"
    total = len(_runs())
    proc = _engine("run", TINY, "--store", store, "--jobs", "1")
    deadline = time.time() + 120
    while time.time() < deadline and not (store.exists() and _snapshot(store)):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _snapshot(store)
    assert 0 < len(before) < total, "the kill should land mid-way"
    for rec_path, (_, data) in before.items():
        json.loads(data)  # every stored record is whole

    again = _engine("run", TINY, "--store", store, "--jobs", "2")
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert f"{len(before)} already in" in err and f"{total - len(before)} to train" in err
    after = _snapshot(store)
    assert len(after) == total
    assert all(after[p] == before[p] for p in before), "finished records were rewritten"

    third = _engine("run", TINY, "--store", store)
    _, err = third.communicate(timeout=120)
    assert third.returncode == 0 and "0 to train" in err


def test_jobs_do_not_change_results(tmp_path):
    only = "study=scaling,seed=0"
    for jobs, name in ((1, "a"), (2, "b")):
        proc = _engine("run", TINY, "--store", tmp_path / name, "--jobs", jobs, "--only", only)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    a, b = ResultStore(tmp_path / "a"), ResultStore(tmp_path / "b")
    runs = select(_runs(), parse_filter(only))
    for run in runs:
        ra, rb = a.get(run.key), b.get(run.key)
        assert all(getattr(ra, f) == getattr(rb, f) for f in RESULT_FIELDS), run.label


def test_quadratic_start_spreads_energy_over_eigendirections():
    from engine.objectives import OBJECTIVES

    problem = OBJECTIVES["quadratic"].build(dim=6, kappa=1e4)
    rng = np.random.default_rng(0)
    x0 = np.stack([problem.initial_point(rng) for _ in range(4000)])
    eig = 1e4 ** (-np.arange(6) / 5)
    share = (eig * x0 ** 2).mean(0)
    np.testing.assert_allclose(share, 1.0, rtol=0.1)


@pytest.mark.parametrize("dim,angle", [(10, 0.0), (2, 0.0), (2, 30.0)])
def test_quadratic_closed_form_gradient_is_autograds(dim, angle):
    """The trainer steps a quadratic with its closed-form ∇f: the same bits as autograd's for a
    diagonal A, and the same up to rounding for the rotated valley; f is the same bits."""
    from autograd import grad
    from autograd import numpy as anp

    from engine.objectives import OBJECTIVES

    problem = OBJECTIVES["quadratic"].build(dim=dim, kappa=300.0, angle_deg=angle)
    x = np.random.default_rng(1).standard_normal((5, dim)) * 3
    value, gradient = problem.value_and_gradient(x)
    reference = grad(lambda v: anp.sum(problem.value(v)))(x)
    np.testing.assert_array_equal(value, problem.value(x))
    if angle == 0.0:
        np.testing.assert_array_equal(gradient, reference)
    else:
        np.testing.assert_allclose(gradient, reference, rtol=1e-14, atol=1e-14)


def test_a_failed_write_leaves_the_old_record_and_no_temporary_file(tmp_path, monkeypatch):
    import engine.atomic

    store = ResultStore(tmp_path)
    store.put(record())

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine.atomic.os, "replace", broken_replace)
    with pytest.raises(StoreUnwritable, match="No space left on device"):
        store.put(record(status="failed"))
    monkeypatch.undo()
    assert store.get("abc123") == record()
    assert [p.name for p in (tmp_path / "ab").iterdir()] == ["abc123.json"]


def test_every_planned_spec_is_a_run_spec_and_round_trips():
    from engine.spec import RunSpec, SpecError, canonical

    for run in _runs():
        assert canonical(RunSpec.from_json(run.spec).to_json()) == canonical(run.spec)
    spec = dict(_runs()[0].spec)
    spec["sede"] = spec.pop("seed")   # a misspelt field is refused, not read as None
    with pytest.raises(SpecError, match="sede"):
        RunSpec.from_json(spec)


def test_compute_bound_groups_are_cut_evenly_and_overhead_bound_ones_are_not():
    """The 1-D CNN at B = 100 computes ≈ 119,000 values per member and step, so its matrix group
    (every minibatch optimizer × its rates × the tuning seeds: 45 with the lecture's 5) is cut into
    as few groups of at most 8 as fit, even to one member; single-example SGD keeps its grid of
    rates × tuning seeds in one group."""
    from engine.plan import VALUES_PER_STEP, member_limit

    runs = [r for r in expand(load_experiments(ROOT / "experiments.yaml", "full"))
            if r.spec["study"] == "matrix-cnn-mnist1d" and r.spec["batch"] in (1, 100)]
    groups = group_runs(runs)
    minibatch = [g for g in groups if g[0].spec["batch"] == 100]
    limit = member_limit(minibatch[0][0].spec)
    assert limit * 100 * 1190 <= VALUES_PER_STEP < (limit + 1) * 100 * 1190 and limit == 8
    sizes = [len(g) for g in minibatch]
    n = sum(r.spec["batch"] == 100 for r in runs)
    assert len(sizes) == -(-n // limit) and max(sizes) <= limit and max(sizes) - min(sizes) <= 1
    assert sorted(r.key for g in minibatch for r in g) == sorted(r.key for r in runs if r.spec["batch"] == 100)
    assert [len(g) for g in groups if g[0].spec["batch"] == 1] == [sum(r.spec["batch"] == 1 for r in runs)]


def test_timed_groups_train_last_and_alone(tmp_path):
    """Groups of studies marked `alone` (timing claims) start only when nothing else is queued or
    training, one at a time: their clocks never share the cores with another group."""
    import threading
    from argparse import Namespace
    from concurrent.futures import ThreadPoolExecutor

    from engine.cli import _Tally, _train

    exp = load_experiments(ROOT / "experiments.yaml", "quick")
    studies = {"single-example-n400-b1", "single-example-n400", "momentum-valley", "adam-rmsprop-valley",
               "momentum-rosenbrock"}
    todo = [r for r in expand(exp) if r.spec["study"] in studies]
    intervals, lock = [], threading.Lock()

    def fake_group(items):
        start = time.perf_counter()
        time.sleep(0.02)
        with lock:
            intervals.append((bool(items[0][2].get("alone")), start, time.perf_counter()))
        return [Record.from_json({"key": k, "label": label, "spec": spec, "status": "ok", "history": {},
                                  "final": {}, "wall_time_s": 0.0, "group_wall_time_s": 0.0,
                                  "group_size": len(items), "environment": {}}) for k, label, spec in items]

    class FakeExecutor(ThreadPoolExecutor):
        def submit(self, fn, items):
            return super().submit(fake_group, items)

    with FakeExecutor(max_workers=2) as executor:
        _train(executor, todo, [], Namespace(jobs=2, only=None), exp, ResultStore(tmp_path), _Tally())
    timed = [(s, e) for alone, s, e in intervals if alone]
    others = [(s, e) for alone, s, e in intervals if not alone]
    assert len(timed) >= 4 and others
    assert min(s for s, _ in timed) >= max(e for _, e in others)          # after every other group
    timed.sort()
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(timed, timed[1:]))   # one at a time


def test_only_claim_selects_the_studies_of_the_claims_it_reads():
    """`--only claim=X` trains what X's analysis reads: its studies and those of the claims in
    X.reads (heuristics-no-theory reads the optimizer matrix's runs)."""
    from engine.claims import CLAIMS

    nn = expand(load_experiments(ROOT / "tests" / "data" / "tiny_nn.yaml", "full"))
    assert "optimizer-matrix" in CLAIMS["heuristics-no-theory"].reads
    assert select(nn, parse_filter("claim=heuristics-no-theory")) == nn
    assert select(nn, parse_filter("heuristics-*")) == nn
    assert select(_runs(), parse_filter("claim=heuristics-no-theory")) == []


def test_only_claim_plans_every_study_each_claim_analyses():
    """On the real file: for every claim, --only claim=<id> selects exactly the studies its
    analysis reads (Claim.studies)."""
    from engine.claims import CLAIMS

    exp = load_experiments(ROOT / "experiments.yaml", "quick")
    runs = expand(exp)
    for claim in exp.data["claims"]:
        planned = {r.spec["study"] for r in select(runs, parse_filter(f"claim={claim}"))}
        assert planned == set(CLAIMS[claim].studies(exp.data["studies"])), claim


def test_dry_run_prints_the_plan_and_trains_nothing(tmp_path, cli):
    """Per study: runs to train, runs stored, final seeds still to come, an estimated time; nothing
    is written.  After the grid is trained the plan knows the final seeds."""
    nn, store = ROOT / "tests" / "data" / "tiny_nn.yaml", tmp_path / "s"
    code, out, err = cli("run", nn, "--dry-run", "--store", store, "--jobs", "1")
    assert code == 0, err
    assert out.splitlines()[0].split() == ["study", "to", "train", "stored", "later", "estimated"]
    assert out.splitlines()[1].split()[:4] == ["tuned", "4", "0", "2"]   # 2 grids of 2; 1 final seed each
    assert "6 runs to train (2 of them the final seeds of tuned cells" in out and "Nothing was trained" in out
    assert not store.exists()
    code, _, err = cli("run", nn, "--only", "seed=0", "--store", store, "--jobs", "1")
    assert code == 0, err
    code, out, err = cli("run", nn, "--dry-run", "--store", store, "--jobs", "1")
    assert out.splitlines()[1].split()[:4] == ["tuned", "2", "4", "0"], out


def test_validate_counts_the_final_seeds_that_status_adds_later(tmp_path, cli):
    """validate's total = runs planned now + the tuned cells' final seeds; status on an empty store
    names the same final seeds as not counted yet."""
    nn = ROOT / "tests" / "data" / "tiny_nn.yaml"
    code, out, err = cli("validate", nn)
    assert code == 0 and "6 runs for profile 'full': 4 planned now in 1 groups, and 2 final seeds of 2 tuned cells" in out
    code, out, err = cli("status", nn, "--store", tmp_path / "s")
    assert code == 0 and "2 tuned cells still train their grid; their 2 final seeds are not counted yet" in out
    assert out.splitlines()[-2].split()[-1] == "4"
