"""`make bench`: throughput of grouped training (member axis) against one run at a time.

For each group of the quick profile (one per model kind and optimizer, the first of each), time
the whole group trained together and a sample of its runs trained alone, in this process with
BLAS pinned to one thread.  Run it on a quiet machine: timings are only comparable within one run.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

from engine.config.validate import load_experiments  # noqa: E402
from engine.executor import execute_group  # noqa: E402
from engine.plan import expand, group_runs  # noqa: E402


def _timed(items) -> float:
    start = time.perf_counter()
    execute_group(items)
    return time.perf_counter() - start


def main(sample: int = 12) -> None:
    groups = group_runs(expand(load_experiments(profile="quick")))
    seen = set()
    print(f"{'group':<48} {'runs':>5} {'grouped runs/min':>17} {'alone runs/min':>15} {'speed-up':>9}")
    for group in groups:
        spec = group[0].spec
        ident = (spec["model"]["kind"], spec["optimizer"]["name"])
        if ident in seen or len(group) < 2:
            continue
        seen.add(ident)
        items = [(r.key, r.label, r.spec) for r in group]
        grouped = len(items) / _timed(items) * 60
        picks = items[:: max(1, len(items) // sample)][:sample]
        alone = len(picks) / sum(_timed([it]) for it in picks) * 60
        name = f"{spec['study']}/{spec['model']['name']}/{spec['optimizer']['name']}"
        print(f"{name:<48} {len(items):>5} {grouped:>17.0f} {alone:>15.0f} {grouped / alone:>8.1f}×")


if __name__ == "__main__":
    main()
