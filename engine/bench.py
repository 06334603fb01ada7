"""`make bench`: throughput of grouped training (member axis) against one run at a time.

For every study of the profile and every batch size it trains with (single-example SGD, and the
minibatch size; full-batch GD is left out: a few hundred steps in all), take its largest group
(after the grouping of engine/plan.py: every optimizer and grid point of one model, data set and
batch size) and time it trained as one computation and, for a sample of its members, run by run,
in this process, with BLAS pinned to one thread.  Each run's budget is cut to a share (`--fraction`) to keep the benchmark short, and its evaluation points
with it, so that evaluation weighs what it weighs in a full run.  Printed per
study: members, grouped seconds, alone seconds (extrapolated from the sample to all members),
the speed-up, and the per-run-equivalent milliseconds per training step (grouped seconds /
(members × steps)), which is the number to hold against other frameworks.  The last line is the
process's peak memory.  Run it on a quiet machine: timings compare only within one run.
"""
from __future__ import annotations

from engine.runtime import pin_blas_environment, tune_process

pin_blas_environment()

import argparse  # noqa: E402
import copy  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

from engine.config.validate import load_experiments  # noqa: E402
from engine.executor import execute_group  # noqa: E402
from engine.plan import expand, group_runs  # noqa: E402
from engine.training.network import N_EVALS  # noqa: E402


def _timed(items) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    records = execute_group(items)
    return time.perf_counter() - start, records


def _shrunk(spec: dict, fraction: float) -> dict:
    """The spec with its budget, and its number of evaluation points, cut to `fraction`."""
    spec = copy.deepcopy(spec)
    budget = spec["budget"]
    key = "epochs" if "epochs" in budget else "max_steps"
    budget[key] = max(1, round(budget[key] * fraction))
    budget["evals"] = max(1, round(budget.get("evals", N_EVALS) * fraction))
    return spec


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m engine.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fraction", type=float, default=0.1, help="share of each budget to run (default: 0.1)")
    parser.add_argument("--sample", type=int, default=4, help="members timed alone per group (default: 4)")
    parser.add_argument("--profile", default="full")
    parser.add_argument("--only", default="matrix-", help="studies whose name starts with this (default: matrix-)")
    args = parser.parse_args(argv)
    tune_process()
    runs = [r for r in expand(load_experiments(profile=args.profile)) if r.spec["study"].startswith(args.only)]
    largest: dict = {}
    for group in group_runs(runs):
        spec = group[0].spec
        if spec["batch"] == "full":
            continue  # gradient descent: a handful of steps on the whole split, seconds in all
        place = (spec["study"], spec["batch"])
        if len(group) > len(largest.get(place, [])):
            largest[place] = group
    print(f"largest group of each study and batch size, at {args.fraction:g} of its budget; "
          f"{args.sample} members timed alone")
    print(f"{'study':<26} {'batch':>5} {'members':>7} {'grouped s':>9} {'alone s':>8} {'speed-up':>8} {'ms/step/run':>11}")
    for (study, batch), group in largest.items():
        items = [(r.key, r.label, _shrunk(r.spec, args.fraction)) for r in group]
        execute_group(items[:1])  # warm the data cache and imports, outside the timings
        grouped, records = _timed(items)
        step = max(1, len(items) // args.sample)
        sample = items[::step][: args.sample]
        alone = sum(_timed([it])[0] for it in sample) / len(sample) * len(items)
        steps = max(r.final.get("steps", 0) for r in records) or 1
        print(f"{study:<26} {batch!s:>5} {len(items):>7} {grouped:>9.2f} {alone:>8.2f} {alone / grouped:>7.2f}× "
              f"{grouped / (len(items) * steps) * 1e3:>11.3f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
