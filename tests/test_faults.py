"""The result store under faults, and experiments files that try to hurt: each gets a clear
message and a defined exit code, never a traceback, and loses no finished run."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config.validate import load_experiments
from engine.plan import expand
from engine.store import ResultStore

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "tiny.yaml"
ONLY = "study=paths"   # two cheap runs of tests/data/tiny.yaml


def _trained(tmp_path, cli) -> Path:
    store = tmp_path / "store"
    code, _, err = cli("run", TINY, "--store", store, "--jobs", "1", "--only", ONLY)
    assert code == 0, err
    return store


def _keys(only=ONLY):
    from engine.plan import parse_filter, select
    return [r.key for r in select(expand(load_experiments(TINY, "full")), parse_filter(only))]


def test_a_truncated_record_is_reported_corrupt_and_retrained(tmp_path, cli):
    store = _trained(tmp_path, cli)
    key = _keys()[0]
    path = ResultStore(store).path(key)
    whole = path.read_text()
    path.write_text(whole[: len(whole) // 2])

    code, out, err = cli("status", TINY, "--store", store, "--only", ONLY)
    assert code == 0 and "Traceback" not in err
    assert "1 corrupt records" in err and "not valid JSON" in err
    assert "corrupt" in out.splitlines()[0]

    code, _, err = cli("report", TINY, "--store", store, "--out", tmp_path / "r")
    assert code == 0 and "corrupt" in err

    code, _, err = cli("run", TINY, "--store", store, "--jobs", "1", "--only", ONLY)
    assert code == 0 and "1 to train" in err, err
    assert json.loads(path.read_text())["key"] == key


@pytest.mark.parametrize("content", ['{"key": "x"}', "[]", '{"key": "%s", "status": "done"}', "",
                                     '{"key": "%s", "status": "ok", "history": {}, "final": {}, "spec": {"seed": 0}}'])
def test_records_that_parse_but_are_not_records_count_as_missing(tmp_path, content):
    store = ResultStore(tmp_path)
    key = "ab" + "0" * 18
    store.path(key).parent.mkdir(parents=True)
    store.path(key).write_text(content.replace("%s", key))
    assert store.get(key) is None and key in store.corrupt
    assert not store.is_finished(key)


def test_a_failed_run_is_retried_by_the_next_run(tmp_path, cli):
    store = _trained(tmp_path, cli)
    key = _keys()[0]
    rs = ResultStore(store)
    rec = rs.get(key)
    rs.put(dataclasses.replace(rec, status="failed", error="RuntimeError: boom", traceback=""))
    code, _, err = cli("run", TINY, "--store", store, "--jobs", "1", "--only", ONLY)
    assert code == 0 and "1 to train" in err and "failed before and are retried" in err
    assert ResultStore(store).get(key).status == "ok"


def test_a_second_run_on_the_same_store_is_refused_clearly(tmp_path, cli):
    store = tmp_path / "store"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from engine.store import ResultStore\n"
        f"with ResultStore({str(store)!r}).lock():\n"
        "    print('locked', flush=True); time.sleep(60)")], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, _, err = cli("run", TINY, "--store", store, "--jobs", "1", "--only", ONLY)
        assert code == 1 and "in use by `engine run`" in err and "Traceback" not in err
        assert not list(store.rglob("*.json")), "the refused run wrote nothing"
        code, _, err = cli("status", TINY, "--store", store, "--only", ONLY)
        assert code == 0, "readers need no lock"
    finally:
        holder.kill()
        holder.wait()
    code, _, err = cli("run", TINY, "--store", store, "--jobs", "1", "--only", ONLY)
    assert code == 0, "the lock dies with its process"


def test_a_full_disk_stops_the_run_cleanly_and_keeps_what_was_stored(tmp_path, cli, monkeypatch):
    import engine.store

    store = tmp_path / "store"
    real = engine.store.write_atomic
    writes = []

    def fill_after_one(path, data):
        if writes:
            raise OSError(28, "No space left on device")
        writes.append(path)
        return real(path, data)

    monkeypatch.setattr(engine.store, "write_atomic", fill_after_one)
    code, _, err = cli("run", TINY, "--store", store, "--jobs", "1", "--only", ONLY)
    assert code == 1 and "No space left on device" in err and "Traceback" not in err
    assert "1 runs stored before are intact" in err
    stored = [p for p in store.rglob("*.json")]
    assert len(stored) == 1 and json.loads(stored[0].read_text())["status"] == "ok"
    assert not [p for p in store.rglob(".tmp-*")]


def test_a_store_that_cannot_be_created_is_a_clear_error(tmp_path, cli):
    # (a store that is itself a file is refused as bad input: tests/test_config_errors.py)
    blocker = tmp_path / "file"
    blocker.write_text("a file where the store's parent folder should be")
    code, _, err = cli("run", TINY, "--store", blocker / "store", "--jobs", "1", "--only", ONLY)
    assert code == 1 and "cannot write to the result store" in err and "Traceback" not in err


def test_an_unwritable_report_folder_is_a_clear_error(tmp_path, cli):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = cli("report", TINY, "--store", tmp_path / "s", "--out", blocker / "r")
    assert code == 1 and "cannot write the report" in err and "Traceback" not in err


# Experiments files that would hurt the parser, the memory or the method.  Each: exit 2, the file
# named, the phrase, no traceback, nothing written.
HOSTILE = {
    "not-utf8": (b"version: 1\nmodels: \xff\xfe\n", ["not UTF-8", ":2"]),
    "binary-junk": (bytes(range(256)) * 8, ["not UTF-8"]),
    "deep-nesting": (("a: " + "[" * 3000 + "]" * 3000 + "\n").encode(), ["nesting"]),
    "alias-bomb": ("".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9) if p else '1, 1, 1, 1, 1, 1, 1, 1, 1'}]\n"
        for p, c in zip(["", "a", "b", "c", "d", "e", "f"], "abcdefg")).encode(), ["expands to more than"]),
}


def _edited(old: str, new: str) -> bytes:
    text = TINY.read_text()
    assert old in text
    return text.replace(old, new, 1).encode()


HOSTILE.update({
    "nan-number": (_edited("beta: 0.9}", "beta: .nan}"), ["optimizers.momentum.beta", "finite number", ".nan"]),
    "infinite-number": (_edited("max_steps: 20000", "max_steps: .inf"), ["max_steps", "finite number"]),
    "duplicate-study-key": (_edited("    models: [quadratic]\n", "    models: [quadratic]\n    models: [valley]\n"),
                            ["duplicate key 'models'"]),
    "huge-geomspace": (_edited("{geomspace: [0.5, 2.2, 8]}", "{geomspace: [10, 10000, 100000000]}"),
                       ["geomspace[2]", "from 1 to 10,000", "100000000"]),
    "plan-too-large": (_edited("seeds: [0, 1]", "seeds: [" + ", ".join(map(str, range(1000))) + "]"),
                       ["more than the limit of 100,000", "scaling", "--max-runs"]),
})


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_experiments_files_are_refused(case, tmp_path, cli, monkeypatch):
    content, phrases = HOSTILE[case]
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "store"
    for command in (["validate", bad], ["run", bad, "--store", store, "--jobs", "1"]):
        code, _, err = cli(*command)
        assert code == 2, err
        assert str(bad) in err and "Traceback" not in err
        for phrase in phrases:
            assert phrase in err, f"{phrase!r} missing from: {err}"
    assert not store.exists()


def test_max_runs_can_be_raised(tmp_path, cli):
    bad = tmp_path / "big.yaml"
    bad.write_bytes(HOSTILE["plan-too-large"][0])
    code, out, err = cli("validate", bad, "--max-runs", "1000000")
    assert code == 0, err


def test_tuning_on_the_test_split_is_refused(tmp_path, cli):
    nn = (ROOT / "tests" / "data" / "tiny_nn.yaml").read_text()
    old = next(line.strip() for line in nn.splitlines() if "tune:" in line)
    assert "val_" in old
    bad = tmp_path / "bad.yaml"
    bad.write_text(nn.replace(old, old.replace("val_accuracy", "test_accuracy").replace("val_loss", "test_loss")))
    code, _, err = cli("validate", bad)
    assert code == 2 and "studies.tuned.tune.metric" in err and "validation split" in err


def test_the_consolidated_index_serves_unchanged_records_only(tmp_path, cli):
    store = _trained(tmp_path, cli)
    assert (store / "index.pickle").is_file(), "run leaves an index of what it read and wrote"
    key = _keys()[0]
    path = ResultStore(store).path(key)
    record = json.loads(path.read_text())
    record["final"]["marker"] = 1.0          # the file changes behind the index's back
    path.write_text(json.dumps(record))
    assert ResultStore(store).get(key).final["marker"] == 1.0
    (store / "index.pickle").write_bytes(b"not a pickle")   # a broken index costs time, not results
    assert ResultStore(store).get(key).final["marker"] == 1.0
