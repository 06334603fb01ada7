"""Where groups of runs execute: inline, a local process pool, or the workers of a Dask cluster —
all behind `concurrent.futures.Executor`.

The unit of work is a *group*: runs that train together along the member axis.  Workers only
compute and return records (engine.record.Record); the client process writes each finished record
to the store, so a killed matrix keeps every group that completed and cluster workers need no
shared disk.  On Dask, a group whose worker is lost is rescheduled on another worker by the
scheduler (up to ``distributed.scheduler.allowed-failures`` losses, 3 by default), and a task that
raises is retried ``DASK_RETRIES`` times: a group is a pure function of its specs, so a retry
gives the same bits.  Each group's result is released from the cluster as soon as it reaches the
client, so a worker lost later holds nothing that would be computed again: groups already stored
are never redone (tests/test_dask.py kills a worker mid-run).
"""
from __future__ import annotations

import threading
import time
import traceback
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
from threadpoolctl import threadpool_limits

from engine.environment import environment
from engine.procedures import runner
from engine.record import Record, RecordError, finite
from engine.runtime import tune_process


def execute_group(items: list[tuple[str, str, dict]]) -> list[Record]:
    """Train one group; return one complete Record per run. Never raises: an error becomes a
    `failed` record for every member of the group (as does an outcome that is not a record's)."""
    specs = [spec for _, _, spec in items]
    started = time.perf_counter()
    try:
        # Overflow and NaN are outcomes (a run diverges and is recorded so), not warnings.
        with threadpool_limits(limits=1), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            outcomes = runner(specs[0])(specs)
    except Exception as exc:  # a run that raises is data, not a crash of the matrix
        outcomes = [_failure(exc, traceback.format_exc()) for _ in specs]
    wall = time.perf_counter() - started
    timing = {"wall_time_s": wall / len(items), "group_wall_time_s": wall, "group_size": len(items),
              "environment": environment()}
    records = []
    for (key, label, spec), outcome in zip(items, outcomes):
        data = {"key": key, "label": label, "spec": spec, **outcome, **timing}
        try:
            records.append(Record.from_json(finite(data)))
        except RecordError as exc:   # a trainer's bug, kept as a failed run rather than a crash
            problem = RuntimeError(f"the trainer returned an outcome that is not a record's: {exc}")
            records.append(Record.from_json(finite({"key": key, "label": label, "spec": spec,
                                                    **_failure(problem, ""), **timing})))
    return records


def _failure(exc: BaseException, trace: str) -> dict:
    return {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "traceback": trace,
            "diverged_at_step": None, "history": {}, "final": {}, "artifacts": {}}


class InlineExecutor(Executor):
    """Runs each task at submission, in this process (for --jobs 1, debugging and tests)."""

    def submit(self, fn, /, *args, **kwargs):
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


DASK_RETRIES = 3


class DaskExecutor(Executor):
    """Groups on a Dask cluster: an existing one at `scheduler` (tcp://host:8786), or a
    LocalCluster of `jobs` single-threaded worker processes.  Needs the `cluster` extra."""

    def __init__(self, jobs: int, scheduler: str | None = None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise RuntimeError("--executor dask needs Dask: pip install -e '.[cluster]'") from None
        self._cluster = None if scheduler else LocalCluster(
            n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None)
        self._client = Client(scheduler or self._cluster)
        # Every worker, also one that joins or is restarted after a loss, is tuned like this process.
        self._client.register_worker_callbacks(setup=tune_process)
        self._remote: set = set()   # Dask futures whose result has not reached this process yet
        self._lock = threading.Lock()   # _remote is also changed on Dask's callback thread
        self._closed = False

    @property
    def client(self):
        """The Dask client (its scheduler's view of the workers, for tests and diagnostics)."""
        return self._client

    def submit(self, fn, /, *args, **kwargs):
        """A concurrent.futures Future of `fn(*args, **kwargs)` on the cluster.  Once the result is
        here, the Dask future is released: the cluster forgets it, and a worker lost afterwards
        cannot make the scheduler compute it again for a client that no longer needs it."""
        if self._closed:
            raise RuntimeError("cannot submit to a DaskExecutor after shutdown")
        local = Future()
        remote = self._client.submit(fn, *args, retries=DASK_RETRIES, pure=False, **kwargs)
        with self._lock:
            self._remote.add(remote)

        def deliver(done):  # on Dask's callback thread
            try:
                if done.status == "finished":
                    result = done.result()
                    done.release()   # before this process can store it
                    local.set_result(result)
                elif done.status == "cancelled":
                    local.cancel()
                    local.set_running_or_notify_cancel()
                else:
                    local.set_exception(done.exception())
            except BaseException as exc:  # e.g. the result could not be fetched
                if not local.done():
                    local.set_exception(exc)
            finally:
                with self._lock:
                    self._remote.discard(done)
                done.release()

        remote.add_done_callback(deliver)
        return local

    def shutdown(self, wait=True, *, cancel_futures=False):
        if self._closed:
            return
        self._closed = True
        with self._lock:
            remote = list(self._remote)
        if wait and not cancel_futures and remote:
            from distributed import wait as dask_wait

            dask_wait(remote)
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(jobs: int, kind: str = "process", scheduler: str | None = None) -> Executor:
    """'dask': a Dask cluster (see DaskExecutor).  Otherwise inline for one job, or a pool of
    fresh (spawned) processes, each tuned like this one."""
    if kind == "dask":
        return DaskExecutor(jobs, scheduler)
    if jobs <= 1:
        return InlineExecutor()
    return ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=tune_process)
