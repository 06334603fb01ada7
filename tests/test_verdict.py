"""Verdicts follow from the declared criterion and the measured interval, never from a hand."""
import pytest

from engine.claims.verdict import Estimate, check, evaluate, verdict


def test_estimate_interval_from_seeds():
    est = Estimate.from_samples([1.0, 1.1, 0.9])
    assert est.mean == pytest.approx(1.0)
    # t(0.975, 2) = 4.303, sd = 0.1, n = 3 → half width 0.2484
    assert est.high - est.mean == pytest.approx(4.3027 * 0.1 / 3 ** 0.5, rel=1e-3)
    assert Estimate.from_samples([None, float("nan")]) is None
    one = Estimate.from_samples([0.5])
    assert (one.low, one.high, one.n) == (0.5, 0.5, 1)


@pytest.mark.parametrize("interval,criterion,outcome", [
    ((0.9, 1.1), {"between": [0.85, 1.15]}, "pass"),
    ((0.8, 1.1), {"between": [0.85, 1.15]}, "unclear"),
    ((1.2, 1.3), {"between": [0.85, 1.15]}, "fail"),
    ((0.96, 0.97), {"at_least": 0.96}, "pass"),
    ((0.90, 0.95), {"at_least": 0.96}, "fail"),
    ((0.01, 0.02), {"at_most": 0.0247}, "pass"),
])
def test_check(interval, criterion, outcome):
    lo, hi = interval
    assert check(criterion, Estimate((lo + hi) / 2, lo, hi, 3)) == outcome


def test_verdict_combines_outcomes():
    assert verdict(["pass", "pass"]) == "supported"
    assert verdict(["pass", "fail"]) == "not supported"
    assert verdict(["pass", "unclear"]) == "inconclusive"
    assert verdict(["pass", "missing"]) == "missing"


def test_evaluate_reports_each_criterion():
    v, rows = evaluate([{"quantity": "a", "between": [0, 1]}, {"quantity": "b", "at_least": 2}],
                       {"a": Estimate(0.5, 0.4, 0.6, 3), "b": None})
    assert v == "missing"
    assert [r["outcome"] for r in rows] == ["pass", "missing"]
    assert rows[0]["expected"] == "∈ [0, 1]" and rows[1]["measured"] == "—"


@pytest.mark.parametrize("criterion", [{"between": [0.0, 1.0]}, {"at_least": 10.0}, {"at_most": -5.0}])
def test_a_single_seed_is_never_decisive(criterion):
    """One sample has no spread to speak of: whether it lands inside or outside the range, the
    outcome is 'unclear' and the verdict at best inconclusive."""
    one = Estimate.from_samples([0.5])
    assert check(criterion, one) == "unclear"
    assert evaluate([{"quantity": "q", **criterion}], {"q": one})[0] == "inconclusive"


def test_wilson_matches_scipys_interval():
    from scipy import stats

    from engine.claims.verdict import wilson

    for k, n in [(0, 10), (3, 10), (10, 10), (17, 50), (49, 50)]:
        ci = stats.binomtest(k, n).proportion_ci(method="wilson")
        assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_holm_against_a_hand_worked_example():
    """p = (0.01, 0.04, 0.03, 0.005), m = 4.  Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03,
    0.03·2 = 0.06, 0.04·1 = 0.04 → running maximum 0.06; back in the given order."""
    from engine.claims.verdict import holm

    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_proportions_and_exact_quantities_say_how_they_were_made():
    share = Estimate.proportion(17, 50, unit="start")
    assert (share.method, share.unit, share.n, share.mean) == ("wilson", "start", 50, 0.34)
    assert share.low < 0.34 < share.high and not share.degenerate
    exact = Estimate.exact(3.0)
    assert exact.method == "exact" and exact.low == exact.high == 3.0 and not exact.degenerate
    assert Estimate.from_samples([1.0, 1.0, 1.0]).degenerate
    assert evaluate([{"quantity": "q", "at_least": 1}], {"q": exact})[1][0]["estimate"]["method"] == "exact"


@pytest.mark.parametrize("criterion, outcome", [({"between": [3.0, 3.0]}, "pass"), ({"at_least": 4.0}, "fail")])
def test_an_exact_quantity_passes_or_fails_outright(criterion, outcome):
    assert check(criterion, Estimate.exact(3.0)) == outcome


def test_a_conditional_claim_is_judged_only_where_its_premise_holds():
    """`given` names a premise row: when the premise fails, its conclusion's fail does not count
    and the claim is inconclusive for that reason; when it holds, the conclusion decides; a plain
    row still counts either way."""
    from engine.report.reason import premise_failed

    def reason_key(v, rows):
        return "premise_not_reached" if premise_failed(v, rows) is not None else v.replace(" ", "_")

    criteria = [{"quantity": "converged", "at_least": 0.5},
                {"quantity": "same", "at_least": 0.5, "given": "converged"},
                {"quantity": "falls", "at_most": 0.5}]
    yes, no, unclear = Estimate(0.9, 0.8, 1.0, 10), Estimate(0.1, 0.0, 0.2, 10), Estimate(0.5, 0.3, 0.7, 10)
    cases = [((yes, yes, no), "supported", "supported"),
             ((yes, no, no), "not supported", "not_supported"),
             ((no, no, no), "inconclusive", "premise_not_reached"),
             ((no, yes, no), "inconclusive", "premise_not_reached"),
             ((unclear, no, no), "inconclusive", "inconclusive"),
             ((no, no, yes), "not supported", "not_supported")]
    for (converged, same, falls), expected, reason in cases:
        v, rows = evaluate(criteria, {"converged": converged, "same": same, "falls": falls})
        assert (v, reason_key(v, rows)) == (expected, reason), (converged, same, falls)
        assert rows[0]["premise"] and rows[1]["given"] == "converged" and "premise" not in rows[2]
    # Without `given` nothing changes.
    assert evaluate(criteria[:1], {"converged": no})[0] == "not supported"


def test_a_zero_width_t_interval_decides_nothing():
    """Five seeds that all cover 8 of 8 modes: a t interval [8, 8] would pass '≥ 8' with a
    certainty five seeds cannot give; only an exact quantity passes outright."""
    same = Estimate.from_samples([8.0] * 5)
    assert same.degenerate and check({"at_least": 8.0}, same) == "unclear"
    assert check({"at_least": 9.0}, same) == "unclear"
    assert check({"at_least": 8.0}, Estimate.exact(8.0, unit="count")) == "pass"
    assert check({"at_least": 8.0}, Estimate.from_samples([9.0, 9.5, 10.0, 9.2, 9.8])) == "pass"
