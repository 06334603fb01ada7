"""The optimizer × model matrix on hand-made records: a seed that diverged is counted and flagged,
and an optimizer that lost seeds is not ranked best on the seeds that survived."""
from __future__ import annotations

from engine.claims import CLAIMS
from engine.report.figures import report_language
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
