"""The tuning protocol chooses on validation, never on test, and breaks ties by a declared
second validation metric, not by plan order.  Records are made by hand so that every metric
points to a different rate: a choice made on the wrong metric cannot pass."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.errors import ConfigError
from engine.config.validate import load_experiments
from engine.plan import expand
from engine.tuning import best_run, choose
from tests.test_record import make_record

NN = Path(__file__).parent / "data" / "tiny_nn.yaml"


def rec(lr, status="ok", **final):
    return make_record({"optimizer": {"name": "sgd", "hp": {"lr": lr}}}, status=status, final=final)


GRID = [rec(0.001, val_loss=0.9, test_loss=0.1),
        rec(0.01, val_loss=0.2, test_loss=0.8),
        rec(0.1, val_loss=0.5, test_loss=0.5),
        rec(1.0, status="diverged")]


def lr(record):
    return record.spec.optimizer.hp["lr"]


def test_choice_follows_validation_not_test():
    assert lr(best_run(GRID, "val_loss", "min")) == 0.01
    assert lr(best_run(GRID, "test_loss", "min")) == 0.001   # the metric matters
    assert best_run([rec(1.0, status="diverged")], "val_loss", "min") is None


def test_a_metric_no_finished_run_measured_is_an_error_not_a_silent_skip():
    with pytest.raises(KeyError, match="no final metric 'val_los'"):
        best_run(GRID, "val_los", "min")
    assert lr(best_run(GRID + [rec(0.5, val_loss=None)], "val_loss", "min")) == 0.01   # not finite: never chosen


def test_ties_are_broken_by_the_declared_second_metric():
    grid = [rec(0.001, val_modes=8, val_mmd=0.30), rec(0.01, val_modes=8, val_mmd=0.01),
            rec(0.1, val_modes=7, val_mmd=0.001)]
    assert lr(best_run(grid, "val_modes", "max")) == 0.001   # without: the first in plan order
    assert lr(choose(grid, {"metric": "val_modes", "mode": "max",
                            "tie_break": {"metric": "val_mmd", "mode": "min"}})) == 0.01


class FakeStore:
    """Answers the planner's store.get with hand-made grid records."""

    def __init__(self, records):
        self.records = records

    def get(self, key):
        return self.records.get(key)


def test_the_planner_runs_the_other_seeds_at_the_validation_choice():
    exp = load_experiments(NN)
    grid = [r for r in expand(exp) if r.spec["seed"] == 0]
    by_opt_lr = {}
    for r in grid:   # validation prefers the larger rate, test the smaller one, for both optimizers
        rates = sorted(g.spec["optimizer"]["hp"]["lr"] for g in grid
                       if g.spec["optimizer"]["name"] == r.spec["optimizer"]["name"])
        big = r.spec["optimizer"]["hp"]["lr"] == rates[-1]
        by_opt_lr[r.key] = make_record(r.spec, key=r.key, final={"val_loss": 0.1 if big else 0.9,
                                                                 "test_loss": 0.9 if big else 0.1})
    finals = [r for r in expand(exp, FakeStore(by_opt_lr)) if r.spec["seed"] == 1]
    chosen = {r.spec["optimizer"]["name"]: r.spec["optimizer"]["hp"]["lr"] for r in finals}
    assert chosen == {"sgd": 0.3, "adam": 0.01}


def test_a_tuning_metric_the_runs_do_not_measure_is_a_clear_error_not_a_silent_gap():
    exp = load_experiments(NN)
    grid = {r.key: make_record(r.spec, key=r.key, final={"val_los": 0.5}) for r in expand(exp) if r.spec["seed"] == 0}
    with pytest.raises(ConfigError) as error:
        expand(exp, FakeStore(grid))
    assert "studies.tuned.tune" in str(error.value) and "no final metric 'val_loss'" in str(error.value)


def test_single_example_sgd_trains_its_final_seeds_with_its_grid():
    """Its choice follows the tuning protocol like every optimizer's, but while it tunes every grid
    point runs every seed in one group (``finals_with_grid``): a single-example group costs its
    NumPy calls, so the final seeds' own group would cost about what the grid's did.  Once the
    grid is tuned the plan holds the chosen point's seeds only, as for any other optimizer."""
    from engine.plan import expand_with_waiting, group_runs
    from engine.tuning import tuning_seeds

    exp = load_experiments(Path(__file__).resolve().parent.parent / "experiments.yaml", "full")
    study = exp.data["studies"]["matrix-mlp-digits"]
    runs, waiting = expand_with_waiting(exp)
    sgd1 = [r for r in runs if r.spec["study"] == "matrix-mlp-digits" and r.spec["optimizer"]["name"] == "sgd-1"]
    assert {r.spec["seed"] for r in sgd1} == set(study["seeds"]) and len(tuning_seeds(study)) >= 3
    assert len(sgd1) == len(study["grid"]["sgd-1"]["lr"]) * len(study["seeds"])
    assert len(group_runs(sgd1)) == 1
    assert ("matrix-mlp-digits", "sgd-1") not in {(c.study, c.optimizer) for c in waiting}
    assert ("matrix-mlp-digits", "adam") in {(c.study, c.optimizer) for c in waiting}


def test_once_tuned_a_single_example_cell_plans_the_chosen_point_only(tmp_path):
    """tiny_nn's sgd as a single-example optimizer, `seeds: 2, extend: 0`, four seeds: while it
    tunes, both rates run all four seeds; once they are stored, the plan is the grid's tuning seeds
    and the chosen point's other seeds, exactly what a minibatch optimizer's plan holds."""
    import yaml

    from engine.plan import count_runs, expand_with_waiting

    data = yaml.safe_load(NN.read_text())
    data["optimizers"]["sgd"]["batch"] = 1
    data["studies"]["tuned"].update(seeds=[0, 1, 2, 3], tune={"metric": "val_loss", "mode": "min",
                                                             "seeds": 2, "extend": 0})
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(data))
    exp = load_experiments(path)
    assert count_runs(exp) == {"tuned": 2 * 4 + (2 * 2 + 2)}
    runs, waiting = expand_with_waiting(exp)
    sgd = sorted((r.spec["optimizer"]["hp"]["lr"], r.spec["seed"]) for r in runs if r.spec["optimizer"]["name"] == "sgd")
    assert sgd == [(lr, s) for lr in (0.001, 0.3) for s in range(4)]
    assert [c.optimizer for c in waiting] == ["adam"]
    store = FakeStore({r.key: make_record(r.spec, key=r.key, final={"val_loss": -r.spec["optimizer"]["hp"]["lr"]})
                       for r in runs})
    runs, waiting = expand_with_waiting(exp, store)
    sgd = sorted((r.spec["optimizer"]["hp"]["lr"], r.spec["seed"]) for r in runs if r.spec["optimizer"]["name"] == "sgd")
    assert sgd == [(0.001, 0), (0.001, 1), (0.3, 0), (0.3, 1), (0.3, 2), (0.3, 3)]


# The multi-seed protocol (engine.tuning.tune_cell): records by (rate, seed) made by hand.

TUNE = {"metric": "val_loss", "mode": "min", "seeds": 3, "extend": 2}


def table(losses: dict, diverged=()):
    """rate → the records of its three tuning seeds with the given validation losses."""
    return {lr: [rec(lr, status="diverged") if lr in diverged else rec(lr, val_loss=v) for v in vs]
            for lr, vs in losses.items()}


def tuned(grid_rates, losses, tune=TUNE, diverged=()):
    from engine.tuning import tune_cell

    runs = table(losses, diverged)
    return tune_cell([{"lr": r} for r in grid_rates],
                     lambda hp: runs.get(hp["lr"], [None] * tune.get("seeds", 1)), tune)


def test_the_choice_is_the_best_mean_over_the_tuning_seeds_not_the_best_single_run():
    # 0.1 has the best single run (0.05) but the worse mean (0.40 against 0.30)
    out = tuned([0.01, 0.1, 1.0, 10.0], {0.01: [0.9] * 3, 0.1: [0.05, 0.55, 0.6], 1.0: [0.3, 0.3, 0.3],
                                         10.0: [0.8] * 3})
    assert out.hp == {"lr": 1.0} and out.edge is None and out.extensions == 0 and not out.pending
    assert dict((p["lr"], s) for p, s in out.points)[0.1] == pytest.approx(0.4)


def test_a_choice_at_the_high_edge_extends_the_grid_at_its_own_ratio_until_interior():
    grid = [0.001, 0.01, 0.1]
    first = tuned(grid, {0.001: [0.9] * 3, 0.01: [0.5] * 3, 0.1: [0.2] * 3})
    assert first.pending and first.rates == [0.001, 0.01, 0.1, 1.0]   # waits for the new rate
    out = tuned(grid, {0.001: [0.9] * 3, 0.01: [0.5] * 3, 0.1: [0.2] * 3, 1.0: [0.4] * 3})
    assert out.hp == {"lr": 0.1} and out.extensions == 1 and out.edge is None and not out.pending


def test_a_choice_at_the_low_edge_extends_downwards_at_the_ratio_there():
    grid = [0.03, 0.1, 0.3]      # ratio ≈ 3.33 at the low edge: the next rate is 0.009
    out = tuned(grid, {0.009: [0.3] * 3, 0.03: [0.2] * 3, 0.1: [0.5] * 3, 0.3: [0.9] * 3})
    assert out.rates == [0.009, 0.03, 0.1, 0.3] and out.hp == {"lr": 0.03} and out.edge is None


def test_a_choice_still_at_an_edge_after_the_declared_extensions_is_flagged():
    grid = [0.01, 0.1]
    losses = {0.01: [0.9] * 3, 0.1: [0.5] * 3, 1.0: [0.4] * 3, 10.0: [0.3] * 3, 100.0: [0.1] * 3}
    out = tuned(grid, losses)
    assert out.rates == [0.01, 0.1, 1.0, 10.0] and out.hp == {"lr": 10.0}   # extend: 2, not 3
    assert out.edge == "high" and out.extensions == 2 and not out.pending
    none = tuned(grid, losses, {**TUNE, "extend": 0})
    assert none.rates == grid and none.edge == "high" and none.extensions == 0


def test_a_diverged_point_at_the_edge_bounds_the_grid_and_is_never_chosen():
    """The best rate next to one that diverged is interior: the grid is not extended into it."""
    out = tuned([0.01, 0.1, 1.0], {0.01: [0.9] * 3, 0.1: [0.2] * 3, 1.0: [0.0] * 3}, diverged={1.0})
    assert out.hp == {"lr": 0.1} and out.edge is None and out.extensions == 0
    assert dict((p["lr"], s) for p, s in out.points)[1.0] is None
    one_seed = table({0.1: [0.2] * 3})[0.1][:2] + [rec(0.1, status="diverged")]
    from engine.tuning import tune_cell
    runs = {0.01: table({0.01: [0.9] * 3})[0.01], 0.1: one_seed, 1.0: table({1.0: [0.5] * 3})[1.0]}
    out = tune_cell([{"lr": r} for r in runs], lambda hp: runs[hp["lr"]], {**TUNE, "extend": 0})
    assert out.hp == {"lr": 1.0}    # one diverged seed of three rules a point out
    assert tuned([0.1, 1.0], {0.1: [0.1] * 3, 1.0: [0.1] * 3}, diverged={0.1, 1.0}).hp is None


def test_the_planner_tunes_on_the_first_seeds_extends_at_the_edge_and_then_runs_the_rest(tmp_path):
    """tiny_nn with `seeds: 2, extend: 1` and four seeds: the grid runs with seeds 0 and 1; sgd's
    choice at its top rate adds one rate (0.3 · 300 = 90) on seeds 0 and 1; once that is stored,
    the chosen point runs seeds 2 and 3.  `count_runs` counts the most the plan can hold."""
    import yaml

    from engine.plan import count_runs, expand_with_waiting

    data = yaml.safe_load(NN.read_text())
    data["studies"]["tuned"].update(seeds=[0, 1, 2, 3], tune={"metric": "val_loss", "mode": "min",
                                                             "seeds": 2, "extend": 1})
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(data))
    exp = load_experiments(path)
    assert count_runs(exp) == {"tuned": 2 * ((2 + 1) * 2 + 2)}
    runs, waiting = expand_with_waiting(exp)
    assert {r.spec["seed"] for r in runs} == {0, 1} and len(runs) == 8 and len(waiting) == 2
    assert len({r.group for r in runs}) == 1      # every tuning seed trains in one group

    def loss(spec):   # validation prefers the larger rate of sgd everywhere, adam's smaller one
        lr_ = spec["optimizer"]["hp"]["lr"]
        return -lr_ if spec["optimizer"]["name"] == "sgd" else lr_

    store = FakeStore({})
    for _ in range(3):
        runs, waiting = expand_with_waiting(exp, store)
        store.records.update({r.key: make_record(r.spec, key=r.key, final={"val_loss": loss(r.spec)})
                              for r in runs if r.key not in store.records})
    sgd = sorted({(r.spec["optimizer"]["hp"]["lr"], r.spec["seed"]) for r in runs
                  if r.spec["optimizer"]["name"] == "sgd"})
    assert sgd == [(0.001, 0), (0.001, 1), (0.3, 0), (0.3, 1), (90.0, 0), (90.0, 1), (90.0, 2), (90.0, 3)]
    adam = sorted({(r.spec["optimizer"]["hp"]["lr"], r.spec["seed"]) for r in runs
                   if r.spec["optimizer"]["name"] == "adam"})
    assert adam == [(1e-08, s) for s in range(4)] + [(1e-05, 0), (1e-05, 1), (0.01, 0), (0.01, 1)]
    assert not waiting
