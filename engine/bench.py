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

The roofline columns hold the arithmetic against the machine: ``MMAC/step`` is the multiply-adds
of one training step of one run (``flops_per_step``: three times the forward pass, forward plus
the two backward matmuls; for a GAN one discriminator and one generator step), ``GFLOP/s`` what
the grouped run achieved per run-equivalent, ``attain`` the GFLOP/s that NumPy float32 matmuls of
the same shapes reach here on one thread (``attainable_gflops``, measured by this bench) and
``ratio`` the one over the other.
"""
from __future__ import annotations

from engine.runtime import pin_blas_environment, tune_process

pin_blas_environment()

import argparse  # noqa: E402
import copy  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from math import prod  # noqa: E402

import numpy as np  # noqa: E402

from engine.config.validate import load_experiments  # noqa: E402
from engine.executor import execute_group  # noqa: E402
from engine.data import DATASETS  # noqa: E402
from engine.models import MODELS  # noqa: E402
from engine.plan import expand, group_runs  # noqa: E402
from engine.precision import FLOAT  # noqa: E402
from engine.training.network import N_EVALS, examples_per_step  # noqa: E402


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


def matmul_shapes(rows: list[dict], batch: int) -> list[tuple[int, int, int, int]]:
    """(m, k, n, times) of each layer's forward matmul for `batch` examples, from its layer table
    row: a layer with parameters and n outputs per position multiplies (batch · positions, k) by
    (k, n), k = parameters / n − 1 (the bias); a recurrence does it once per step on batch rows."""
    shapes = []
    for row in rows:
        *positions, n = row["output_shape"]
        if not row["n_params"] or row["n_params"] % n:
            continue
        k = row["n_params"] // n - 1
        if "⁽ᵗ⁾" in row["name"]:   # an RNN's per-step layers (engine/models/rnn.py)
            shapes.append((batch, k, n, prod(positions)))
        else:
            shapes.append((batch * prod(positions), k, n, 1))
    return shapes


def flops_per_step(model_kind: str, rows: list[dict], batch: int) -> float:
    """Floating-point operations (2 per multiply-add) of one training step: forward and the two
    backward matmuls (∂x and ∂W) of every layer, 3 × forward; a GAN's step is one discriminator
    step (G forward, D forward and backward on real and fake: G + 6D) and one generator step
    (G and D forward, D's ∂x, G backward: 3G + 2D)."""
    def macs(prefix):
        return sum(m * k * n * t for m, k, n, t in matmul_shapes([r for r in rows if r["name"].startswith(prefix)], batch))
    if model_kind == "gan":
        return 2.0 * (4 * macs("g: ") + 8 * macs("d: "))
    return 2.0 * 3 * macs("")


def attainable_gflops(shapes, repeats: int = 7) -> float:
    """GFLOP/s of NumPy float32 matmuls of these shapes (forward, ∂x = g Wᵀ, ∂W = xᵀ g), timed
    here on one thread: the best a step made of those matmuls could reach (median of `repeats`)."""
    rng = np.random.default_rng(0)
    total_flops, total_seconds = 0.0, 0.0
    for m, k, n, times in shapes:
        x, w, g = (rng.standard_normal(s).astype(FLOAT) for s in ((m, k), (k, n), (m, n)))
        products = ((x, w), (g, w.T), (x.T, g))
        number = max(1, int(2e6 // (m * k * n)))   # a few milliseconds per timing
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(number):
                for a, b in products:
                    a @ b
            seconds.append((time.perf_counter() - start) / number)
        total_flops += 3 * 2.0 * m * k * n * times
        total_seconds += float(np.median(seconds)) * times
    return total_flops / total_seconds / 1e9


def roofline(spec: dict, ms_per_step: float) -> tuple[float, float, float]:
    """(multiply-adds per step in millions, achieved GFLOP/s per run, attainable GFLOP/s)."""
    model, dataset = spec["model"], spec["dataset"]
    data = DATASETS[dataset["kind"]].load(None, **dataset["params"])
    built = MODELS[model["kind"]].build(data.info, **model["params"])
    batch = examples_per_step(spec, data.x_train.shape[0])
    rows = list(built.layers or ())
    flops = flops_per_step(model["kind"], rows, batch)
    attainable = attainable_gflops(matmul_shapes(rows, batch))
    return flops / 2e6, flops / (ms_per_step * 1e-3) / 1e9, attainable


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
    print(f"{'study':<26} {'batch':>5} {'members':>7} {'grouped s':>9} {'alone s':>8} {'speed-up':>8} {'ms/step/run':>11}"
          f" {'MMAC/step':>9} {'GFLOP/s':>7} {'attain':>6} {'ratio':>5}")
    for (study, batch), group in largest.items():
        items = [(r.key, r.label, _shrunk(r.spec, args.fraction)) for r in group]
        execute_group(items[:1])  # warm the data cache and imports, outside the timings
        grouped, records = _timed(items)
        step = max(1, len(items) // args.sample)
        sample = items[::step][: args.sample]
        alone = sum(_timed([it])[0] for it in sample) / len(sample) * len(items)
        steps = max(r.final.get("steps", 0) for r in records) or 1
        ms_per_step = grouped / (len(items) * steps) * 1e3
        mmacs, achieved, attainable = roofline(group[0].spec, ms_per_step)
        print(f"{study:<26} {batch!s:>5} {len(items):>7} {grouped:>9.2f} {alone:>8.2f} {alone / grouped:>7.2f}× "
              f"{ms_per_step:>11.3f} {mmacs:>9.2f} {achieved:>7.1f} {attainable:>6.1f} {achieved / attainable:>5.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
