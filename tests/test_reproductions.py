"""The reproductions table (engine/claims/reproductions.py): its status rule against hand-worked
intervals, its numbers against SciPy's t interval, and the √κ law on quadratics whose steps follow
it exactly.  It is not a claim: discovery must not register it."""
from __future__ import annotations

import math

import pytest
from scipy import stats

from engine.claims import CLAIMS
from engine.claims.reproductions import reproductions, status
from engine.claims.verdict import Estimate
from tests.test_record import make_record


def test_the_status_follows_the_declared_rule():
    est = Estimate(0.92, 0.91, 0.93, 5)
    assert status(est, 0.925, 0.02) == "reproduced"       # inside the interval
    assert status(est, 0.955, 0.02) == "not reproduced"   # |0.92 − 0.955| = 0.035 > 0.02
    assert status(est, 0.935, 0.02) == "close"            # outside the interval, 0.015 from the mean
    assert status(None, 0.94, 0.02) == "missing"
    assert status(Estimate(0.9, 0.9, 0.9, 1), 0.9, 0.02) == "undecided"          # one seed
    assert status(Estimate.from_samples([0.9] * 3), 0.9, 0.02) == "undecided"    # zero width


def _mnist1d(kind: str, seed: int, accuracy: float):
    return make_record({"study": "conv-features-mnist1d", "claim": "conv-features", "seed": seed,
                        "model": {"name": f"{kind}-mnist1d", "kind": kind}, "budget": {"epochs": 50}},
                       final={"test_accuracy": accuracy})


def test_mnist1d_rows_are_means_over_seeds_with_t_intervals_and_say_the_budget():
    cnn = [0.90, 0.92, 0.91, 0.93, 0.89]
    records = [_mnist1d("cnn", s, a) for s, a in enumerate(cnn)] + [_mnist1d("mlp", s, 0.68) for s in range(3)]
    rows = {r["id"]: r for r in reproductions(records)}
    row = rows["mnist1d-cnn"]
    mean, sem = sum(cnn) / 5, stats.sem(cnn)
    half = stats.t.ppf(0.975, 4) * sem
    assert row["ours"]["mean"] == pytest.approx(mean) and row["ours"]["high"] == pytest.approx(mean + half)
    assert row["ours"]["n"] == 5 and row["ours"]["unit"] == "seed" and row["ours"]["method"] == "t"
    assert row["difference"]["mean"] == pytest.approx(mean - 0.94) and row["published"] == 0.94
    assert row["status"] == "not reproduced" and row["budget"] == {"epochs": 50}   # 0.91 [0.89, 0.93] vs 0.94
    assert rows["mnist1d-mlp"]["status"] == "undecided"    # a zero-width interval decides nothing
    assert rows["inverse-batch"]["status"] == "missing" and rows["inverse-batch"]["ours"] is None


def test_the_sqrt_kappa_row_fits_one_slope_per_seed():
    """Steps that follow c·κ^½ (momentum) and c·κ (GD) exactly, with a seed-dependent constant:
    every seed's slope is the law's, 0.5 and 1, but the interval over seeds is then zero width,
    so two seeds get a small deviation at one κ."""
    records = []
    for seed, wobble in ((0, 1.0), (1, 1.1), (2, 0.95)):
        for kappa in (10.0, 100.0, 1000.0):
            for name, kind, power in (("momentum", "momentum", 0.5), ("gd", "sgd", 1.0)):
                steps = (20 + seed) * kappa ** power * (wobble if kappa == 1000.0 else 1.0)
                records.append(make_record({"study": "momentum-scaling", "claim": "momentum-heavy-directions",
                                            "seed": seed, "vary": {"kappa": kappa},
                                            "optimizer": {"name": name, "kind": kind, "hp": {"lr": 1.0}}},
                                           final={"steps_to_target": steps}))
    rows = {r["id"]: r for r in reproductions(records)}
    # least squares over log κ = (1, 2, 3)·ln 10 with ln w added at the last point: slope + ln w / (2 ln 10)
    slope = lambda power, w: power + math.log(w) / (2 * math.log(10.0))
    expected = [slope(0.5, w) for w in (1.0, 1.1, 0.95)]
    assert rows["sqrt-kappa-momentum"]["ours"]["values"] == pytest.approx(expected)
    assert rows["sqrt-kappa-momentum"]["status"] == "reproduced"
    assert rows["kappa-gd"]["ours"]["values"] == pytest.approx([slope(1.0, w) for w in (1.0, 1.1, 0.95)])


def test_reproductions_are_not_a_claim():
    assert "reproductions" not in {c.replace("-", "_") for c in CLAIMS}
    assert all(claim.analyze.__module__ != "engine.claims.reproductions" for claim in CLAIMS.values())


def test_the_handout_shows_the_reproductions_and_each_criterion_s_record():
    """Rendered from a context like assemble's: the table's rows in the language's decimal style,
    and a claim's declared date and revisions under its criterion."""
    from engine.report import TEMPLATES_DIR
    from engine.report.assemble import _criterion_record, _reproduction_rows
    from engine.report.render import render_html
    from tests.test_report_render import fake_context

    records = [_mnist1d("cnn", s, a) for s, a in enumerate([0.90, 0.92, 0.91])]
    context = fake_context(language="es")
    context["reproductions"] = _reproduction_rows(reproductions(records), "es")
    revision = {"date": "2026-11-27", "from": "300 epochs", "to": "600 epochs", "why": "porque sí", "why_en": "because"}
    context["claims"][0].update(_criterion_record({"declared": "2026-11-26", "revisions": [revision]}, "es"))
    html = render_html(context, TEMPLATES_DIR)
    assert 'id="reproductions"' in html and "Greydanus 2020" in html and "0,91 [" in html and "no reproducido" in html
    assert "Criterio declarado el 2026-11-26." in html and "300 epochs → 600 epochs. porque sí" in html
    english = _criterion_record({"declared": "2026-11-26", "revisions": [revision]}, "en")
    assert english["revisions"][0]["why"] == "because"
