"""The optimizer × model matrix on hand-made records: a seed that diverged is counted and flagged,
and an optimizer that lost seeds is not ranked best on the seeds that survived."""
from __future__ import annotations

from engine.claims import CLAIMS
from engine.kit.figures import report_language
from tests.test_record import make_record

STUDY = {"claim": "optimizer-matrix", "models": ["mlp"], "optimizers": ["steady", "lucky"],
         "seeds": [0, 1, 2], "tune": {"metric": "val_accuracy", "mode": "max"}, "budget": {"epochs": 1}}


def record(optimizer, seed, accuracy, status="ok"):
    spec = {"study": "m", "claim": "optimizer-matrix", "model": {"name": "mlp", "kind": "mlp", "params": {}},
            "vary": {}, "dataset": {"name": "digits", "kind": "digits", "params": {}},
            "optimizer": {"name": optimizer, "kind": "sgd", "hp": {"lr": 0.1}}, "batch": 64, "seed": seed,
            "budget": {"epochs": 1}}
    ok = status == "ok"
    history = {"examples": [0, 100], "step": [0, 2], "val_loss": [2.0, 0.5], "val_accuracy": [0.1, accuracy]}
    final = {"val_accuracy": accuracy, "test_accuracy": accuracy, "val_loss": 0.5} if ok else {}
    return make_record(spec, status=status, history=history if ok else {}, final=final)


def test_an_optimizer_that_lost_seeds_is_flagged_and_not_ranked_best():
    records = [record("steady", s, 0.90 + 0.01 * s) for s in range(3)]
    records += [record("lucky", 0, 0.99), record("lucky", 1, None, "diverged"), record("lucky", 2, None, "diverged")]
    claim = CLAIMS["optimizer-matrix"]
    with report_language("es"):
        analysis = claim.analyze(records, claim.text("es"), {"m": STUDY})
    assert analysis.numbers["m"]["best_optimizer"] == "steady"
    assert analysis.quantities["m.test_accuracy"].n == 3
    rows = {row[0]: row for row in analysis.tables[0]["rows"]}
    lucky = " ".join(map(str, rows["lucky"]))
    assert "1/3" in lucky and "⚠" in lucky
    assert "⚠" not in " ".join(map(str, rows["steady"]))


def test_an_optimizer_without_runs_in_a_family_is_absent_not_diverged():
    records = [record("steady", s, 0.90 + 0.01 * s) for s in range(3)]
    claim = CLAIMS["optimizer-matrix"]
    with report_language("en"):
        analysis = claim.analyze(records, claim.text("en"), {"m": STUDY})
    assert [row[0] for row in analysis.tables[0]["rows"]] == ["steady"]
    assert set(analysis.numbers["m"]["optimizers"]) == {"steady"} and analysis.numbers["m"]["best_optimizer"] == "steady"


def test_the_tuning_chooses_on_the_mean_of_the_tuning_seeds_and_reports_its_outcome():
    """Two rates, three tuning seeds: 0.1 wins seed 0 alone, 0.3 wins on the mean."""
    study = {**STUDY, "optimizers": ["steady"], "seeds": [0, 1, 2, 3],
             "tune": {"metric": "val_accuracy", "mode": "max", "seeds": 3}}
    accuracy = {(0.1, 0): 0.99, (0.1, 1): 0.80, (0.1, 2): 0.80, (0.3, 0): 0.95, (0.3, 1): 0.94, (0.3, 2): 0.93}
    records = []
    for (lr, seed), acc in accuracy.items():
        rec = record("steady", seed, acc).to_json()
        rec["spec"]["optimizer"]["hp"]["lr"] = lr
        records.append(make_record(rec["spec"], history=rec["history"], final=rec["final"]))
    extra = record("steady", 3, 0.95).to_json()
    extra["spec"]["optimizer"]["hp"]["lr"] = 0.3
    records.append(make_record(extra["spec"], history=extra["history"], final=extra["final"]))
    claim = CLAIMS["optimizer-matrix"]
    with report_language("en"):
        analysis = claim.analyze(records, claim.text("en"), {"m": study})
    steady = analysis.numbers["m"]["optimizers"]["steady"]
    assert steady["lr"] == 0.3 and steady["tuning"]["seeds"] == 3 and steady["tuning"]["rates"] == [0.1, 0.3]
    assert steady["tuning"]["edge"] == "high"     # no extension declared: the edge is flagged
    assert analysis.quantities["m.test_accuracy"].n == 4
    assert analysis.numbers["tuning"] == {"cells": 1, "interior": 0, "extended": 0, "flagged_at_edge": ["m/steady (high)"]}
