"""The matrix on a Dask cluster: a LocalCluster gives the same records, bit for bit, as the
process pool, the client alone writes the store, and losing a worker mid-run loses no run and
redoes no stored one."""
from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from engine.cli import main
from engine.config.validate import load_experiments
from engine.plan import expand, group_runs, parse_filter, select
from engine.store import ResultStore

pytest.importorskip("distributed", reason="the 'cluster' extra is not installed (make test installs it)")

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"
FIELDS = ("status", "diverged_at_step", "history", "final")
ONLY = "study=scaling,seed=0"


@pytest.fixture(scope="module")
def experiments(tmp_path_factory) -> Path:
    """tests/data/tiny.yaml with six condition numbers: six groups (one per κ), more than the
    four a run keeps in flight on two workers, so a worker that delivers a group has another
    one to train."""
    path = tmp_path_factory.mktemp("experiments") / "six.yaml"
    path.write_text(TINY.read_text().replace("kappa: [10, 100, 1000]", "kappa: [10, 30, 100, 300, 1000, 3000]"))
    return path


@pytest.fixture(scope="module")
def runs(experiments) -> list:
    selected = select(expand(load_experiments(experiments, "full")), parse_filter(ONLY))
    assert len(selected) > 300 and len(group_runs(selected)) == 6
    return selected


@pytest.fixture(scope="module")
def pool_store(tmp_path_factory, experiments) -> ResultStore:
    """The subset trained by the process pool: the reference the Dask runs must match."""
    root = tmp_path_factory.mktemp("pool")
    assert main(["run", str(experiments), "--store", str(root), "--jobs", "2", "--only", ONLY]) == 0
    return ResultStore(root)


def _same_as_pool(runs, pool: ResultStore, dask: ResultStore) -> None:
    for run in runs:
        a, b = pool.get(run.key), dask.get(run.key)
        assert a is not None and b is not None, run.label
        assert all(getattr(a, f) == getattr(b, f) for f in FIELDS), run.label


def test_dask_local_cluster_gives_the_same_bits_as_the_process_pool(tmp_path, cli, experiments, runs, pool_store):
    code, _, err = cli("run", experiments, "--store", tmp_path, "--jobs", "2", "--only", ONLY, "--executor", "dask")
    assert code == 0, err
    _same_as_pool(runs, pool_store, ResultStore(tmp_path))


def test_a_lost_worker_loses_no_run_and_redoes_no_stored_one(tmp_path, cli, experiments, runs, pool_store,
                                                              monkeypatch):
    """As soon as a record is stored while the worker that computed it is busy with another group
    (at the first such record: a quadratic's groups take tenths of a second, so at the very first
    record that worker may be between groups), SIGKILL that worker.  The run still ends with every run of the subset stored once and the same bits
    as the process pool; the records stored before the loss are untouched; and the scheduler's
    log shows that no group whose result had reached the client was sent to a worker again (the
    lost worker's group in flight was)."""
    import engine.executor

    executors, runs_of, puts, lost, started = [], {}, Counter(), {}, Counter()
    make, shutdown, put = (engine.executor.DaskExecutor.__init__, engine.executor.DaskExecutor.shutdown,
                           ResultStore.put)

    def capture(self, *args, **kwargs):
        make(self, *args, **kwargs)
        executors.append(self)
        self.client.get_task_stream()   # start the scheduler's record of which worker ran what
        submit = self.client.submit

        def submit_group(fn, items, **options):  # remember which runs each Dask task trains
            future = submit(fn, items, **options)
            runs_of[future.key] = [key for key, _, _ in items]
            return future
        monkeypatch.setattr(self.client, "submit", submit_group)

    def count_then_shutdown(self, *args, **kwargs):
        started.update(self.client.run_on_scheduler(lambda dask_scheduler: [
            t.key for t in dask_scheduler.transition_log if t.finish == "processing"]))
        shutdown(self, *args, **kwargs)

    def put_then_kill(self, record):
        path = put(self, record)
        puts[record.key] += 1
        if not lost:
            client = executors[0].client
            delivered = {task for task, keys in runs_of.items() if any(puts[k] for k in keys)}
            computed = {t["worker"] for t in client.get_task_stream() if t["key"] in delivered}
            victims = [w for w, tasks in client.processing().items() if tasks and w in computed]
            if victims:
                lost["delivered"] = delivered
                lost["files"] = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in self.root.glob("*/*.json")}
                pid = client.run(os.getpid, workers=victims)[victims[0]]
                os.kill(pid, signal.SIGKILL)
        return path

    monkeypatch.setattr(engine.executor.DaskExecutor, "__init__", capture)
    monkeypatch.setattr(engine.executor.DaskExecutor, "shutdown", count_then_shutdown)
    monkeypatch.setattr(ResultStore, "put", put_then_kill)
    code, _, err = cli("run", experiments, "--store", tmp_path, "--jobs", "2", "--only", ONLY, "--executor", "dask")
    assert code == 0, err
    assert lost, "no worker that had delivered a group was ever seen training another one"
    assert lost["delivered"] and lost["files"]
    assert puts == Counter({run.key: 1 for run in runs})     # every run stored exactly once
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in lost["files"]} == lost["files"]
    assert set(started) == set(runs_of) and len(runs_of) == len(group_runs(runs))
    assert all(started[task] == 1 for task in lost["delivered"]), started
    assert max(started.values()) == 2, started     # the group the lost worker was training
    _same_as_pool(runs, pool_store, ResultStore(tmp_path))


def test_scheduler_needs_the_dask_executor(tmp_path, cli):
    code, _, err = cli("run", TINY, "--store", tmp_path / "s", "--scheduler", "tcp://127.0.0.1:8786")
    assert code == 2 and "--scheduler needs --executor dask" in err
