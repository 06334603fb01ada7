"""The planner's model sizes, measured in worker processes (plan.prefetch_sizes), are the ones the
client would measure itself: the groups, their order and their cost estimates do not change."""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from engine import plan
from engine.config.validate import load_experiments
from engine.plan import estimated_cost, expand, group_runs

ROOT = Path(__file__).resolve().parent.parent
STUDIES = {"matrix-mlp-digits", "matrix-cnn-digits", "conv-features-mnist1d", "momentum-scaling"}


@pytest.fixture(scope="module")
def runs():
    exp = load_experiments(ROOT / "experiments.yaml", "quick")
    return expand(exp, studies=STUDIES)


def _plan(runs):
    return [([r.key for r in g], estimated_cost(g[0].spec, len(g))) for g in group_runs(runs)]


def test_sizes_from_workers_give_the_client_s_groups(runs, monkeypatch):
    monkeypatch.setattr(plan, "_SIZES", {})
    local = _plan(runs)
    measured_here = dict(plan._SIZES)
    monkeypatch.setattr(plan, "_SIZES", {})
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        plan.prefetch_sizes(pool.submit, runs)
    assert plan._SIZES == measured_here
    assert _plan(runs) == local


def test_one_task_per_data_set_and_none_for_known_sizes(runs, monkeypatch):
    monkeypatch.setattr(plan, "_SIZES", {})
    submitted = []

    class Done:
        def __init__(self, value):
            self.value = value

        def result(self):
            return self.value

    def submit(fn, pairs):
        submitted.append(pairs)
        return Done(fn(pairs))

    plan.prefetch_sizes(submit, runs)
    datasets = {r.spec["dataset"]["name"] for r in runs if r.spec["dataset"] is not None}
    assert len(submitted) == len(datasets) == 2   # digits and MNIST-1D; momentum-scaling has none
    assert all(len({d for _, d in pairs}) == 1 for pairs in submitted)
    pairs = [pair for task in submitted for pair in task]
    assert len(pairs) == len(set(pairs)) == len(plan._SIZES)
    _plan(runs)   # grouping and estimates need no size that was not prefetched
    assert set(plan._SIZES) == set(pairs)
    submitted.clear()
    plan.prefetch_sizes(submit, runs)
    assert submitted == []


def test_run_report_gets_the_plan_that_training_left(tmp_path, cli, monkeypatch):
    """`run --report` hands the report the plan it expanded after training (the tuned cells' final
    seeds included) instead of letting it expand the file again; with --only, none."""
    import engine.report.assemble as assemble
    from engine.plan import expand_with_waiting
    from engine.store import ResultStore

    plans = []
    monkeypatch.setattr(assemble, "build_report", lambda exp, store, out, plan=None, **kw: plans.append(
        plan) or {"missing": [], "written": {}})
    nn, store = ROOT / "tests" / "data" / "tiny_nn.yaml", tmp_path / "s"
    code, _, err = cli("run", nn, "--store", store, "--jobs", "1", "--report", "--out", tmp_path / "r")
    assert code == 0, err
    runs, waiting = plans.pop()
    fresh, still = expand_with_waiting(load_experiments(nn, "full"), ResultStore(store))
    assert [r.key for r in runs] == [r.key for r in fresh] and len(runs) == 6 and waiting == still == []
    code, _, err = cli("run", nn, "--store", store, "--jobs", "1", "--report", "--out", tmp_path / "r",
                       "--only", "seed=0", "--force")
    assert code == 0 and plans == [None], err
