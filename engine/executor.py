"""Where groups of runs execute: inline, or a local process pool — both behind
`concurrent.futures.Executor`, so a cluster executor (e.g. Dask's) can plug in unchanged.

The unit of work is a *group*: runs that train together along the member axis.  Workers only
compute; the parent process writes each finished record to the store, so a killed matrix keeps
every group that completed.
"""
from __future__ import annotations

import math
import time
import traceback
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
from threadpoolctl import threadpool_limits

from engine.environment import environment
from engine.procedures import runner
from engine.runtime import tune_process


def _finite(obj):
    """JSON has no NaN/inf: store them as null (the status field says why)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def execute_group(items: list[tuple[str, str, dict]]) -> list[dict]:
    """Train one group; return one complete store record per run. Never raises: an error becomes
    a `failed` record for every member of the group."""
    specs = [spec for _, _, spec in items]
    started = time.perf_counter()
    try:
        # Overflow and NaN are outcomes (a run diverges and is recorded so), not warnings.
        with threadpool_limits(limits=1), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            outcomes = runner(specs[0])(specs)
    except Exception as exc:  # a run that raises is data, not a crash of the matrix
        error = f"{type(exc).__name__}: {exc}"
        outcomes = [{"status": "failed", "error": error, "traceback": traceback.format_exc(),
                     "history": {}, "final": {}} for _ in specs]
    wall = time.perf_counter() - started
    env = environment()
    return [_finite({"key": key, "label": label, "spec": spec, **outcome,
                     "wall_time_s": wall / len(items), "group_wall_time_s": wall,
                     "group_size": len(items), "environment": env})
            for (key, label, spec), outcome in zip(items, outcomes)]


class InlineExecutor(Executor):
    """Runs each task at submission, in this process (for --jobs 1, debugging and tests)."""

    def submit(self, fn, /, *args, **kwargs):
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def make_executor(jobs: int) -> Executor:
    """Inline for one job; otherwise a pool of fresh (spawned) processes, each tuned like this one."""
    if jobs <= 1:
        return InlineExecutor()
    return ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=tune_process)
