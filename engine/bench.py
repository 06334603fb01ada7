"""`make bench`: throughput of grouped training (member axis) against one run at a time.

For every study of the full profile, take one tuning group (the grid of learning rates of one
optimizer: runs that differ only in their rate) and time it trained as one computation and run by
run, in this process, with BLAS pinned to one thread.  To keep the benchmark short each run's
budget is cut to a fraction (`--fraction`); times and runs per minute are extrapolated to the
study's real budget (training time is linear in steps; the 24 evaluation points of a run are not,
so a small fraction overstates them, most for the GAN).  Run it on a quiet machine: timings are
only comparable within one run.
"""
from __future__ import annotations

from engine.runtime import pin_blas_environment, tune_process

pin_blas_environment()

import argparse  # noqa: E402
import copy  # noqa: E402
import time  # noqa: E402

from engine.config.validate import load_experiments  # noqa: E402
from engine.executor import execute_group  # noqa: E402
from engine.plan import expand, group_runs  # noqa: E402


def _timed(items) -> float:
    start = time.perf_counter()
    execute_group(items)
    return time.perf_counter() - start


def _shrunk(spec: dict, fraction: float) -> tuple[dict, float]:
    """The spec with its budget cut to `fraction` (at least one step or epoch), and the factor
    that scales a time back to the real budget."""
    spec = copy.deepcopy(spec)
    budget = spec["budget"]
    key = "epochs" if "epochs" in budget else "max_steps"
    real = budget[key]
    budget[key] = max(1, round(real * fraction))
    return spec, real / budget[key]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m engine.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--optimizer", default="adam", help="whose tuning group to time (default: adam)")
    parser.add_argument("--fraction", type=float, default=0.1, help="share of each budget to run (default: 0.1)")
    parser.add_argument("--profile", default="full")
    args = parser.parse_args(argv)
    tune_process()
    groups = group_runs(expand(load_experiments(profile=args.profile)))
    print(f"{args.optimizer} tuning groups, timed at {args.fraction:g} of each budget, extrapolated")
    print(f"{'study':<28} {'runs':>4} {'grouped s':>9} {'alone s':>8} {'grouped runs/min':>16} "
          f"{'alone runs/min':>14} {'speed-up':>8}")
    seen = set()
    for group in groups:
        spec = group[0].spec
        if spec["study"] in seen or spec["optimizer"]["name"] != args.optimizer or len(group) < 2:
            continue
        seen.add(spec["study"])
        shrunk = [_shrunk(r.spec, args.fraction) for r in group]
        items = [(r.key, r.label, s) for r, (s, _) in zip(group, shrunk)]
        scale = shrunk[0][1]
        execute_group(items[:1])  # warm the data cache and imports, outside the timings
        grouped = _timed(items) * scale
        alone = sum(_timed([it]) for it in items) * scale
        print(f"{spec['study']:<28} {len(items):>4} {grouped:>9.1f} {alone:>8.1f} "
              f"{len(items) / grouped * 60:>16.1f} {len(items) / alone * 60:>14.1f} {alone / grouped:>7.2f}×")


if __name__ == "__main__":
    main()
