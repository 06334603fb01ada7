"""The quick profile end to end: train, render, and pin the verdicts and convergence it finds.

A change that flips a verdict or moves a measured slope out of its band fails here until someone
looks (every verdict is pinned by a regression test).
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.claims.momentum_heavy_directions import theory_steps
from engine.config.validate import load_experiments
from engine.plan import expand
from engine.store import ResultStore

ROOT = Path(__file__).resolve().parent.parent


def _engine(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    base = tmp_path_factory.mktemp("quick")
    store, out = base / "store", base / "reports"
    ran = _engine("run", "--profile", "quick", "--store", store, "--jobs", "2")
    assert ran.returncode == 0, ran.stderr
    rendered = _engine("report", "--profile", "quick", "--store", store, "--out", out)
    assert rendered.returncode == 0, rendered.stderr
    return {"store": store, "out": out, "run_log": ran.stderr,
            "claims": {c["id"]: c for c in json.loads((out / "claims.json").read_text())["claims"]}}


EXPECTED = load_experiments(ROOT / "experiments.yaml", "quick").data["claims"]


@pytest.mark.parametrize("claim_id", sorted(EXPECTED))
def test_quick_verdict_is_pinned(quick, claim_id):
    """Each claim declares, next to its criterion, the verdict its quick profile gives; a change
    that flips it fails here until someone decides (and edits experiments.yaml)."""
    expected = EXPECTED[claim_id].get("quick_verdict")
    assert expected is not None, f"claims.{claim_id} declares no quick_verdict in experiments.yaml"
    assert quick["claims"][claim_id]["verdict"] == expected


def test_momentum_slopes_are_pinned(quick):
    claim = quick["claims"]["momentum-heavy-directions"]
    slopes = {row["quantity"]: row["estimate"]["mean"] for row in claim["criterion"]}
    assert 0.9 <= slopes["slope_gd"] <= 1.1        # theory: 1
    assert 0.4 <= slopes["slope_momentum"] <= 0.6  # theory: 0.5


def test_matrix_quick_accuracy_is_far_above_chance(quick):
    claim = quick["claims"]["optimizer-matrix"]
    measured = {row["quantity"]: row["estimate"]["mean"] for row in claim["criterion"]}
    assert measured["matrix-mlp-digits.test_accuracy"] > 0.9   # still far above chance (0.1)


def test_momentum_beats_gd_at_every_kappa_and_tracks_theory(quick):
    best = quick["claims"]["momentum-heavy-directions"]["numbers"]["scaling"]["best_steps"]
    target = quick["claims"]["momentum-heavy-directions"]["numbers"]["scaling"]["target"]
    kappas = sorted({float(k.split("kappa=")[1]) for k in best})
    for kappa in kappas:
        gd = best[f"gd|seed=0|kappa={kappa:g}"]
        mom = best[f"momentum|seed=0|kappa={kappa:g}"]
        assert mom < gd
        # tuned on a grid, GD is within 30 % of the optimal-step rate (κ−1)/(κ+1)
        assert gd == pytest.approx(theory_steps(kappa, target, accelerated=False), rel=0.3)
    assert best[f"gd|seed=0|kappa={kappas[-1]:g}"] / best[f"momentum|seed=0|kappa={kappas[-1]:g}"] > 30


def test_report_files_are_written(quick):
    out = quick["out"]
    html = (out / "index.html").read_text()
    assert 'id="momentum-heavy-directions"' in html and 'src="data:image/svg+xml' in html   # figures, formulas
    assert "gradientes pesados" in html
    assert (out / "report.pdf").read_bytes()[:4] == b"%PDF"
    rows = list(csv.DictReader((out / "results.csv").open()))
    runs = expand(load_experiments(ROOT / "experiments.yaml", "quick"), ResultStore(quick["store"]))
    assert len(rows) == len(runs)
    assert {"study", "model", "optimizer", "hp_lr", "seed", "status", "steps", "wall_time_s"} <= set(rows[0])


def test_second_run_trains_nothing(quick):
    again = _engine("run", "--profile", "quick", "--store", quick["store"])
    assert again.returncode == 0 and "0 to train" in again.stderr


def test_report_names_missing_results(quick, tmp_path):
    empty = _engine("report", "--profile", "quick", "--store", tmp_path / "empty", "--out", tmp_path / "r")
    assert empty.returncode == 0
    assert "results are missing" in empty.stderr and "missing: momentum-scaling/" in empty.stderr
    claims = json.loads((tmp_path / "r" / "claims.json").read_text())["claims"]
    assert all(c["verdict"] == "missing" for c in claims)


def _threshold_cases():
    """(study, optimizer, metric, bound) declared next to each study for the quick profile."""
    exp = load_experiments(ROOT / "experiments.yaml", "quick")
    return [(s, o, m, b) for s, study in exp.data["studies"].items()
            for o, metrics in (study.get("thresholds") or {}).items() for m, b in metrics.items()]


@pytest.mark.parametrize("study,optimizer,metric,bound", _threshold_cases(),
                         ids=[f"{s}-{o}-{m}" for s, o, m, _ in _threshold_cases()])
def test_quick_profile_reaches_declared_thresholds(quick, study, optimizer, metric, bound):
    from engine.tuning import final_records

    exp = load_experiments(ROOT / "experiments.yaml", "quick")
    store = ResultStore(quick["store"])
    records = [store.get(r.key) for r in expand(exp, store) if r.spec["study"] == study]
    assert all(r is not None for r in records)
    finals = final_records(records, exp.data["studies"][study])[optimizer]["finals"]
    assert finals, f"{study}/{optimizer}: no run at a chosen learning rate (all diverged?)"
    for rec in finals:
        value = rec.metric(metric)
        assert value is not None, f"{rec.label}: no final {metric} ({rec.status})"
        if "at_least" in bound:
            assert value >= bound["at_least"], f"{rec.label}: {metric} = {value:.4g}"
        else:
            assert value <= bound["at_most"], f"{rec.label}: {metric} = {value:.4g}"


def test_every_family_has_thresholds_for_adam_and_minibatch_sgd():
    cases = {(s, o) for s, o, _, _ in _threshold_cases()}
    exp = load_experiments(ROOT / "experiments.yaml", "quick")
    for name, study in exp.data["studies"].items():
        if study["claim"] == "optimizer-matrix":
            assert {(name, "adam"), (name, "minibatch-sgd")} <= cases, name
