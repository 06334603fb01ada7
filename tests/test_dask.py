"""The matrix on a Dask cluster: a LocalCluster gives the same records, bit for bit, as the
process pool, and the client alone writes the store."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.validate import load_experiments
from engine.plan import expand, parse_filter, select
from engine.store import ResultStore

pytest.importorskip("distributed", reason="the 'cluster' extra is not installed (make test installs it)")

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"
FIELDS = ("status", "diverged_at_step", "history", "final")
ONLY = "study=scaling,seed=0"


def test_dask_local_cluster_gives_the_same_bits_as_the_process_pool(tmp_path, cli):
    for name, extra in (("pool", []), ("dask", ["--executor", "dask"])):
        code, _, err = cli("run", TINY, "--store", tmp_path / name, "--jobs", "2", "--only", ONLY, *extra)
        assert code == 0, err
    pool, dask = ResultStore(tmp_path / "pool"), ResultStore(tmp_path / "dask")
    runs = select(expand(load_experiments(TINY, "full")), parse_filter(ONLY))
    assert runs
    for run in runs:
        a, b = pool.get(run.key), dask.get(run.key)
        assert a is not None and b is not None, run.label
        assert all(a[f] == b[f] for f in FIELDS), run.label


def test_scheduler_needs_the_dask_executor(tmp_path, cli):
    code, _, err = cli("run", TINY, "--store", tmp_path / "s", "--scheduler", "tcp://127.0.0.1:8786")
    assert code == 2 and "--scheduler needs --executor dask" in err
