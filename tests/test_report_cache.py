"""The report's cache (engine/report/cache.py): kept across builds, recomputed when unreadable,
results.csv kept for the latest records only."""
from __future__ import annotations

from engine.report.cache import ReportCache
from tests.test_record import make_record


def _counting(value):
    calls = []

    def compute():
        calls.append(1)
        return value

    return compute, calls


def test_a_value_is_computed_once_across_builds_and_never_without_a_root(tmp_path):
    compute, calls = _counting("<svg/>")
    assert ReportCache(tmp_path).value("formula", "$x$", compute) == "<svg/>"
    assert ReportCache(tmp_path).value("formula", "$x$", compute) == "<svg/>"
    assert len(calls) == 1
    ReportCache(None).value("formula", "$x$", compute)
    ReportCache(None).value("formula", "$x$", compute)
    assert len(calls) == 3


def test_a_formula_is_set_again_when_the_code_that_sets_it_changes(tmp_path, monkeypatch):
    compute, calls = _counting("<svg/>")
    ReportCache(tmp_path).value("formula", "$x$", compute)
    monkeypatch.setattr("engine.report.cache.fingerprint", lambda roots: f"edited {roots}")
    ReportCache(tmp_path).value("formula", "$x$", compute)
    assert len(calls) == 2


def test_an_unreadable_entry_is_recomputed_not_trusted(tmp_path):
    compute, calls = _counting("<svg/>")
    ReportCache(tmp_path).value("formula", "$y$", compute)
    for entry in tmp_path.rglob("*.pickle"):
        entry.write_bytes(b"\x80\x05truncated")
    assert ReportCache(tmp_path).value("formula", "$y$", compute) == "<svg/>"
    assert len(calls) == 2


def test_results_table_is_kept_for_the_latest_records_only(tmp_path):
    first = [make_record({"study": "a", "seed": s}) for s in range(3)]
    second = first + [make_record({"study": "a", "seed": 3})]
    cache = ReportCache(tmp_path)
    compute, calls = _counting("csv")
    cache.table(first, compute)
    cache.table(first, compute)
    assert len(calls) == 1
    cache.table(second, compute)
    assert len(calls) == 2 and len(list((tmp_path / "table").rglob("*.pickle"))) == 1
    cache.table(first, compute)   # dropped when the second was written
    assert len(calls) == 3


def test_an_analysis_is_redrawn_when_its_languages_catalogue_changes(tmp_path, monkeypatch):
    """Figures take their labels from the message catalogue: a label changed there must not be
    served from an analysis cached before the change."""
    from types import SimpleNamespace

    import engine.report.cache as cache_module

    messages = tmp_path / "messages"
    messages.mkdir()
    (messages / "es.yaml").write_text("labels: {optimizer: {adam: Adam}}\n", encoding="utf-8")
    monkeypatch.setattr(cache_module, "MESSAGES_DIR", messages)
    claim = SimpleNamespace(id="conv-operation", analyze=SimpleNamespace(__module__="engine.claims.conv_operation"))
    records = [make_record({"study": "a", "seed": 0})]
    compute, calls = _counting("analysis")
    store = tmp_path / "cache"
    ReportCache(store).analysis(claim, records, {"title": "t"}, {}, "es", compute)
    ReportCache(store).analysis(claim, records, {"title": "t"}, {}, "es", compute)
    assert len(calls) == 1
    (messages / "es.yaml").write_text("labels: {optimizer: {adam: Adam (Kingma y Ba)}}\n", encoding="utf-8")
    ReportCache(store).analysis(claim, records, {"title": "t"}, {}, "es", compute)
    assert len(calls) == 2
