"""The progress bar's estimate of the work left (engine/progress.py): calibrated family by family,
the final seeds of tuned cells counted from the start."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine.config.validate import load_experiments
from engine.plan import estimated_cost, expand_with_waiting, group_runs
from engine.progress import CostModel, Progress, expected_finals
from engine.record import Record

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments.yaml"


@pytest.fixture(scope="module")
def plan():
    exp = load_experiments(EXPERIMENTS, "full")
    runs, waiting = expand_with_waiting(exp)
    return exp, runs, waiting


def _groups(runs, *studies):
    return group_runs([r for r in runs if r.spec["study"] in studies])


def _record(run, members: int, seconds: float) -> Record:
    return Record.from_json({"key": run.key, "label": run.label, "spec": run.spec, "status": "ok",
                             "history": {}, "final": {}, "wall_time_s": seconds, "group_wall_time_s": seconds,
                             "group_size": members, "environment": {}}, run.key)


def _progress(groups, expected=None, costs=None):
    return Progress(groups, expected or {}, costs or CostModel(), sum(len(g) for g in groups), file=io.StringIO())


def test_a_measured_family_scales_its_own_groups_and_the_others_take_the_factor_of_all_work(plan):
    _, runs, _ = plan
    cnn, mlp = _groups(runs, "matrix-cnn-mnist1d")[0], _groups(runs, "matrix-mlp-digits")[0]
    costs = CostModel()
    prior_cnn, prior_mlp = CostModel.prior(cnn[0].spec, len(cnn)), CostModel.prior(mlp[0].spec, len(mlp))
    assert costs.seconds([prior_cnn]) == pytest.approx(prior_cnn[1])   # nothing measured: the prior
    costs.learn(*prior_cnn, seconds=3 * prior_cnn[1])
    assert costs.seconds([prior_cnn]) == pytest.approx(3 * prior_cnn[1])
    assert costs.seconds([prior_mlp]) == pytest.approx(3 * prior_mlp[1])  # not measured: the factor of all
    costs.learn(*prior_mlp, seconds=prior_mlp[1])
    assert costs.seconds([prior_mlp]) == pytest.approx(prior_mlp[1])
    assert costs.seconds([prior_cnn]) == pytest.approx(3 * prior_cnn[1])
    other = CostModel.prior(_groups(runs, "matrix-rnn-digits")[0][0].spec, 5)
    measured, prior = 3 * prior_cnn[1] + prior_mlp[1], prior_cnn[1] + prior_mlp[1]
    assert costs.seconds([other]) == pytest.approx(other[1] * measured / prior)


def test_a_prior_off_by_a_constant_is_corrected_by_the_first_finished_group(plan):
    """Every group takes twice its prior: after one group the bar's total is the true total."""
    _, runs, _ = plan
    groups = _groups(runs, "matrix-mlp-digits", "matrix-ae-digits", "momentum-scaling")
    true = {id(g): 2 * estimated_cost(g[0].spec, len(g)) for g in groups}
    progress = _progress(groups)
    assert progress.total_seconds() == pytest.approx(sum(true.values()) / 2)
    first = groups[0]
    progress.finished(first, [_record(r, len(first), true[id(first)]) for r in first])
    assert progress.total_seconds() == pytest.approx(sum(true.values()))
    assert progress.runs_done == len(first)


def test_the_final_seeds_of_tuned_cells_count_from_the_start_and_leave_when_queued(plan):
    exp, runs, waiting = plan
    todo = [r for r in runs if r.spec["study"] == "matrix-mlp-digits"]
    expected = expected_finals(waiting, todo, lambda study: exp.data["studies"][study]["seeds"])
    seeds = len(exp.data["studies"]["matrix-mlp-digits"]["seeds"])
    assert len(expected) == 7 and all(k == seeds - 1 for _, k in expected.values())
    groups = group_runs(todo)
    progress = _progress(groups, expected)
    assert progress.runs_total == len(todo) + 7 * (seeds - 1)
    with_finals = progress.total_seconds()
    assert with_finals > sum(estimated_cost(g[0].spec, len(g)) for g in groups)
    progress.queued([], resolved=list(expected))     # e.g. every grid point diverged: nothing to train
    assert progress.runs_total == len(todo)
    assert progress.total_seconds() == pytest.approx(sum(estimated_cost(g[0].spec, len(g)) for g in groups))


def test_stored_records_calibrate_before_anything_trains(plan):
    """A rebuild after a code change knows how long its families took last time."""
    _, runs, _ = plan
    group = _groups(runs, "matrix-cnn-digits")[0]
    prior = estimated_cost(group[0].spec, len(group))
    costs = CostModel()
    costs.learn_from_records([_record(r, len(group), 5 * prior) for r in group], {group[0].group})
    assert _progress([group], costs=costs).total_seconds() == pytest.approx(5 * prior)
