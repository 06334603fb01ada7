"""The progress bar's estimate of the work left (engine/progress.py): calibrated family by family,
the final seeds of tuned cells counted from the start."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine.config.validate import load_experiments
from engine.plan import estimated_cost, expand_with_waiting, expected_finals, group_runs
from engine.progress import CostModel, Progress
from engine.record import Record
from engine.tuning import final_seeds

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
    finals = lambda study: final_seeds(exp.data["studies"][study])
    expected = expected_finals(waiting, todo, finals)
    study = exp.data["studies"]["matrix-mlp-digits"]
    k = len(finals("matrix-mlp-digits"))
    # every cell but single-example SGD's, which trains its final seeds with its grid
    cells = len(study["models"]) * (len(study["optimizers"]) - 1)
    assert k == len(study["seeds"]) - study["tune"].get("seeds", 1)
    assert len(expected) == cells and all(n == k for _, n in expected.values())
    groups = group_runs(todo)
    progress = _progress(groups, expected)
    assert progress.runs_total == len(todo) + cells * k
    assert progress.total_seconds() == pytest.approx(
        sum(estimated_cost(g[0].spec, len(g)) for g in groups)
        + sum(estimated_cost(spec, k) for spec, k in expected.values()))
    progress.queued([], resolved=list(expected))     # e.g. every grid point diverged: nothing to train
    assert progress.runs_total == len(todo)
    assert progress.total_seconds() == pytest.approx(sum(estimated_cost(g[0].spec, len(g)) for g in groups))


def test_stored_records_calibrate_before_anything_trains(plan, tmp_path):
    """A rebuild after a code change knows how long its families took last time: the store's
    index hands its records to the cost model."""
    from engine.store import ResultStore

    _, runs, _ = plan
    group = _groups(runs, "matrix-cnn-digits")[0]
    prior = estimated_cost(group[0].spec, len(group))
    earlier = ResultStore(tmp_path)
    for run in group:
        earlier.put(_record(run, len(group), 5 * prior))
    earlier.save_index()
    costs = CostModel()
    costs.learn_from_records(ResultStore(tmp_path).indexed_records(), {group[0].group})
    assert _progress([group], costs=costs).total_seconds() == pytest.approx(5 * prior)


def test_a_selection_expects_only_the_final_seeds_it_will_train(plan):
    """`--only seed=0` trains (part of) the grids and no final seed: none is expected; a study
    whose seeds all tune has none to expect either."""
    from engine.plan import Run, parse_filter, select

    exp, runs, waiting = plan
    todo = [r for r in runs if r.spec["study"] == "matrix-mlp-digits"]
    seeds = lambda study: final_seeds(exp.data["studies"][study])
    last = exp.data["studies"]["matrix-mlp-digits"]["seeds"][-1]
    only = lambda text: (lambda spec: bool(select([Run("", "", spec)], parse_filter(text))))
    assert expected_finals(waiting, todo, seeds, only("seed=0")) == {}
    assert all(k == 1 for _, k in expected_finals(waiting, todo, seeds, only(f"seed={last}")).values())
    assert expected_finals(waiting, todo, lambda study: []) == {}


def test_the_bar_of_a_selection_counts_what_it_trains(tmp_path, cli):
    tiny = Path(__file__).parent / "data" / "tiny_nn.yaml"
    code, _, err = cli("run", tiny, "--store", tmp_path / "s", "--jobs", "1", "--only", "seed=0")
    assert code == 0, err
    assert "trained 4 runs" in err and "4/4 runs" in err and "/6 runs" not in err
    assert "final seeds" not in err   # no tuned cell's final seed is in this selection
