"""Command line: validate, run, status, report, schema.  `python -m engine --help`."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

from engine.config.errors import ConfigError, ConfigProblem, did_you_mean
from engine.config.validate import DEFAULT_FILE, DEFAULT_PROFILE, load_experiments
from engine.plan import (FILTER_FIELDS, Run, count_runs, expand_with_waiting, expected_finals, group_key,
                         group_runs, parse_filter, prefetch_sizes, select)
from engine.record import Record
from engine.store import DEFAULT_STORE, ResultStore, StoreBusy, StoreUnwritable
from engine.tuning import final_seeds

EXIT_BAD_INPUT = 2
DEFAULT_MAX_RUNS = 100_000


class UsageError(Exception):
    """A bad command-line value (not a bad file): message, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description=(
        "descenso: train the experiment matrix of experiments.yaml and render the handout."))
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, store=True):
        p.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE,
                       help=f"experiments file (default: {DEFAULT_FILE})")
        p.add_argument("--profile", default=DEFAULT_PROFILE,
                       help=f"named profile of the file, e.g. full or quick (default: {DEFAULT_PROFILE})")
        p.add_argument("--max-runs", type=int, default=DEFAULT_MAX_RUNS, metavar="N", help=(
            f"refuse a plan of more than N runs, counted before expanding it (default: {DEFAULT_MAX_RUNS:,})"))
        if store:
            p.add_argument("--store", type=Path, default=DEFAULT_STORE,
                           help=f"result store folder (default: {DEFAULT_STORE})")

    def selection(p):
        p.add_argument("--only", metavar="FILTER", help=(
            "train a subset: comma-separated terms, all must match; each is KEY=GLOB with KEY in "
            f"{', '.join(FILTER_FIELDS)}, or a bare GLOB matched against study, claim, model and "
            "optimizer names; claim=X also selects the studies of the claims X reads. "
            "Example: --only 'study=momentum-*,optimizer=gd'"))
        p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                       help="worker processes (default: number of CPUs; 1 = train in this process)")

    def executor(p):
        p.add_argument("--executor", choices=("process", "dask"), default="process", help=(
            "process: a local process pool (default); dask: a Dask cluster (needs the 'cluster' extra)"))
        p.add_argument("--scheduler", metavar="ADDRESS", help=(
            "with --executor dask: an existing scheduler, e.g. tcp://HOST:8786 "
            "(default: start a LocalCluster of --jobs workers)"))

    p = sub.add_parser("validate", help="check an experiments file; exit 2 with a message if malformed")
    common(p, store=False)
    p = sub.add_parser("run", help="train every run of the plan that the store lacks")
    common(p)
    selection(p)
    executor(p)
    p.add_argument("--force", action="store_true", help="retrain selected runs even if stored")
    p.add_argument("--dry-run", action="store_true", help=(
        "print the plan (per study: runs to train, runs already stored, final seeds still to come, "
        "estimated time) and train nothing"))
    p.add_argument("--report", action="store_true", help=(
        "then render the report (as `report`) in the same process: what `make report` does"))
    p.add_argument("--out", type=Path, default=Path("reports"), help="with --report: output folder (default: reports)")
    p = sub.add_parser("status", help="count done / missing / diverged / failed runs")
    common(p)
    selection(p)
    p = sub.add_parser("report", help="render reports/ from stored results only (never trains)")
    common(p)
    p.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default: reports)")
    p.add_argument("--no-cache", action="store_true", help=(
        "redraw every figure and PDF instead of reusing those kept in <store>/report-cache"))
    sub.add_parser("schema", help="print the JSON Schema of experiments files")
    return parser


def _terms(args) -> list:
    """The terms of --only, each key checked."""
    terms = parse_filter(getattr(args, "only", None))
    for key, _ in terms:
        if key is not None and key not in FILTER_FIELDS:
            raise UsageError(f"--only: unknown key '{key}'; expected one of: {', '.join(FILTER_FIELDS)}."
                             f"{did_you_mean(key, FILTER_FIELDS)}")
    return terms


def _load(args):
    """The validated experiments file and, per study, how many runs the selection (--only) plans;
    refused when that is more than --max-runs, counted before anything is expanded: a typo in a
    grid (a geomspace of 10⁸ points, an extra zero in seeds) must not fill the memory."""
    exp = load_experiments(args.file, args.profile)
    terms = _terms(args)
    counts = _planned_counts(exp, terms)
    total = sum(counts.values())
    if total > args.max_runs:
        largest = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
        what = f"--only '{args.only}' selects" if terms else "the plan has"
        raise ConfigError(str(args.file), [ConfigProblem("studies", (
            f"in profile '{args.profile}', {what} {total:,} runs, more than the limit of "
            f"{args.max_runs:,}; largest: " + ", ".join(f"{s} ({n:,})" for s, n in largest)
            + ". Shrink those grids, sweeps or seeds, narrow --only, or raise the limit with --max-runs."))])
    return exp, counts


def _planned_counts(exp, terms) -> dict[str, int]:
    """Study → runs the selection plans (tuned cells: grid and final seeds), counted by
    ``plan.count_runs`` on each study cut down to the models, optimizers and seeds that some run
    of the selection has; studies the selection misses are left out.  An upper bound when a tuned
    study's first seed is filtered out (its grid still counts once)."""
    if not terms:
        return count_runs(exp)
    keeps = _selects(terms)
    cut = {}
    for sname, study in exp.data["studies"].items():
        dataset = study.get("dataset")
        kept = [(m, o, seed) for m in study["models"] for o in study.get("optimizers") or [None]
                for seed in study["seeds"]
                if keeps({"study": sname, "claim": study["claim"], "model": {"name": m},
                          "optimizer": o and {"name": o}, "seed": seed, "dataset": dataset and {"name": dataset}})]
        if not kept:
            continue
        models, optimizers, seeds = ({k[i] for k in kept} for i in range(3))
        cut[sname] = {**study, "models": [m for m in study["models"] if m in models],
                      "seeds": study["seeds"] if study.get("tune") else [s for s in study["seeds"] if s in seeds]}
        if "optimizers" in study:
            cut[sname]["optimizers"] = [o for o in study["optimizers"] if o in optimizers]
    return count_runs(dataclasses.replace(exp, data={**exp.data, "studies": cut}))


def _selected_with_waiting(args, store=None, loaded=None):
    """The file, the runs that --only selects, and the tuned cells whose final seeds still wait.
    Only the studies the selection reaches are expanded.  `loaded`: what ``_load(args)`` gave
    earlier in this command, not read and checked again."""
    exp, counts = loaded or _load(args)
    terms = _terms(args)
    runs, waiting = expand_with_waiting(exp, store, {s for s, n in counts.items() if n} if terms else None)
    chosen = select(runs, terms)
    if terms and not chosen:
        raise UsageError(f"--only '{args.only}' matches none of the {sum(count_runs(exp).values())} runs "
                         f"of profile '{args.profile}'.{_suggest(exp, terms)}")
    if terms:  # the cells whose final seeds this selection trains once their grid is stored
        waiting = list(expected_finals(waiting, chosen, _seeds(exp), _selects(terms)))
    return exp, chosen, waiting


def _suggest(exp, terms) -> str:
    """A did-you-mean for the first term whose key's names hold a close match (case ignored)."""
    data = exp.data
    names = {"study": data["studies"], "claim": data["claims"], "model": data["models"],
             "optimizer": data["optimizers"], "dataset": data.get("datasets") or {}, "seed": []}
    for key, pattern in terms:
        known = [n for k in ([key] if key else ["study", "claim", "model", "optimizer"]) for n in names[k]]
        hint = did_you_mean(pattern, known)
        if hint and pattern not in known:
            return hint
    return ""


def _store(args) -> ResultStore:
    """The result store of --store: a folder (created when the first run is stored), never a file."""
    if args.store.exists() and not args.store.is_dir():
        raise UsageError(f"--store {args.store}: this is a file, not a result store; expected a folder "
                         f"(default: {DEFAULT_STORE}), which `run` creates if it does not exist.")
    return ResultStore(args.store)


def _seeds(exp):
    """Study → the seeds only a tuned cell's chosen point runs with."""
    return lambda study: final_seeds(exp.data["studies"][study])


def _selects(terms):
    """Whether the selection `terms` keeps a run with a given spec."""
    return lambda spec: bool(select([Run("", "", spec)], terms))


def cmd_validate(args) -> int:
    """The file is valid; the size of its plan, with the final seeds of tuned cells (known only
    once their grids are trained) counted apart, so that the total matches `status` on a full store."""
    exp, _ = _load(args)
    runs, waiting = expand_with_waiting(exp)
    finals = expected_finals(waiting, runs, _seeds(exp))
    later = sum(k for _, k in finals.values())
    print(f"{args.file}: OK — {len(exp.data['studies'])} studies, {len(runs) + later} runs for profile "
          f"'{args.profile}': {len(runs)} planned now in {len(group_runs(runs))} groups"
          + (f", and {later} final seeds of {len(finals)} tuned cells, planned once each cell's grid is "
             "trained and its learning rate chosen." if later else "."))
    return 0


def cmd_status(args) -> int:
    store = _store(args)
    exp, runs, waiting = _selected_with_waiting(args, store)
    counts: dict[str, Counter] = {}
    for run in runs:
        rec = store.get(run.key)
        state = ("corrupt" if run.key in store.corrupt else "missing") if rec is None else (
            "done" if rec.status == "ok" else rec.status)
        counts.setdefault(run.spec["study"], Counter())[state] += 1
    width = max([len(s) for s in counts] + [5])
    cols = ("done", "diverged", "failed", "corrupt", "missing")
    print(f"{'study':<{width}}  " + "  ".join(f"{c:>8}" for c in cols) + "  total")
    total = Counter()
    for study, c in counts.items():
        total.update(c)
        print(f"{study:<{width}}  " + "  ".join(f"{c[k]:>8}" for k in cols) + f"  {sum(c.values()):>5}")
    print(f"{'all':<{width}}  " + "  ".join(f"{total[k]:>8}" for k in cols) + f"  {sum(total.values()):>5}")
    later = sum(k for _, k in expected_finals(waiting, runs, _seeds(exp), _selects(_terms(args))).values())
    if later:
        print(f"{len(waiting)} tuned cells still train their grid; their {later} final seeds are not "
              "counted yet (they are planned once each grid is trained and its learning rate chosen).")
    _report_corrupt(store)
    store.save_index()
    return 0


def _report_corrupt(store: ResultStore) -> None:
    if store.corrupt:
        print(f"{len(store.corrupt)} corrupt records in {store.root} count as missing; the next "
              "`run` trains them again. For example:", file=sys.stderr)
        for key, why in list(store.corrupt.items())[:5]:
            print(f"  corrupt: {store.path(key)}: {why}", file=sys.stderr)


def cmd_run(args) -> int:
    """Train what the store lacks.  Tuned studies train their grid first; as soon as a cell's grid
    is stored, its final seeds at the chosen learning rate join the queue (no global barrier)."""
    from engine.executor import make_executor

    if args.jobs < 1:
        raise UsageError(f"--jobs: expected an integer ≥ 1, got {args.jobs}.")
    if args.scheduler and args.executor != "dask":
        raise UsageError("--scheduler needs --executor dask.")
    store = _store(args)
    loaded = _load(args)
    exp, runs, waiting = _selected_with_waiting(args, store, loaded)
    if args.dry_run:
        _print_plan(args, exp, runs, waiting, store)
        return 0
    # With no selection and nothing to train, the plan the report needs is this one.
    unchanged = not (args.only or args.force or waiting) and all(store.is_finished(r.key) for r in runs)
    try:
        with store.lock():
            status, after = _run_locked(args, loaded, runs, waiting, store, make_executor)
            store.save_index()
    except (StoreBusy, StoreUnwritable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.report and status != 130:
        # The whole plan as training left it (no selection): the report need not expand it again.
        plan = (runs, waiting) if unchanged else None if args.only else after
        return _report(args, exp, store, plan) or status
    return status


def _print_plan(args, exp, runs, waiting, store) -> None:
    """Per study: runs to train, runs already stored, final seeds still to come (tuned cells whose
    grid is not stored yet) and the estimated seconds of work (engine/plan.py's `estimated_cost`,
    calibrated on the store's earlier records as the progress bar is)."""
    from engine.progress import CostModel

    todo = [r for r in runs if args.force or not store.is_finished(r.key)]
    groups = group_runs(todo)
    expected = expected_finals(waiting, todo, _seeds(exp), _selects(_terms(args)))
    costs = CostModel()
    costs.learn_from_records(store.indexed_records(), {group_key(g[0].spec) for g in groups}
                             | {group_key(spec) for spec, _ in expected.values()})
    training = {r.key for r in todo}
    rows: dict[str, Counter] = {}
    for run in runs:
        rows.setdefault(run.spec["study"], Counter())["train" if run.key in training else "stored"] += 1
    for group in groups:
        rows[group[0].spec["study"]]["seconds"] += costs.seconds([costs.prior(group[0].spec, len(group))])
    for cell, (spec, k) in expected.items():
        rows[cell.study]["later"] += k
        rows[cell.study]["seconds"] += costs.seconds([costs.prior(spec, k)])
    width = max([len(s) for s in rows] + [5])
    print(f"{'study':<{width}}  {'to train':>8}  {'stored':>8}  {'later':>8}  estimated")
    total = Counter()
    for study, row in rows.items():
        total.update(row)
        print(f"{study:<{width}}  {row['train']:>8}  {row['stored']:>8}  {row['later']:>8}  {_duration(row['seconds'])}")
    print(f"{'all':<{width}}  {total['train']:>8}  {total['stored']:>8}  {total['later']:>8}  "
          f"{_duration(total['seconds'])}")
    print(f"profile '{args.profile}', store {args.store}: {total['train'] + total['later']} runs to train "
          f"({total['later']} of them the final seeds of tuned cells, planned once their grids are trained), "
          f"about {_duration(total['seconds'])} of work, roughly {_duration(total['seconds'] / args.jobs)} "
          f"with {args.jobs} worker(s). Nothing was trained (--dry-run).")


def _duration(seconds: float) -> str:
    """'0.4 s', '45 s', '3 min 20 s', '2 h 05 min'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _run_locked(args, loaded, runs, waiting, store, make_executor) -> tuple[int, tuple | None]:
    """The exit status, and the selection's plan (runs, waiting cells) once training is over
    (None when nothing trained)."""
    exp = loaded[0]
    todo = [r for r in runs if args.force or not store.is_finished(r.key)]
    if not todo:
        _print_run_plan(args, runs, todo, waiting, store)
        return 0, None
    tally = _Tally()
    try:
        pool = make_executor(args.jobs, args.executor, args.scheduler)
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1, None
    with pool as executor:
        # The workers load the data sets and size the models while they start (plan.prefetch_sizes).
        prefetch_sizes(executor.submit, todo)
        _print_run_plan(args, runs, todo, waiting, store)
        try:
            _train(executor, todo, waiting, args, exp, store, tally)
        except KeyboardInterrupt:
            executor.shutdown(wait=False, cancel_futures=True)
            print(f"\ninterrupted: {sum(tally.statuses.values())} finished runs are saved in {args.store}; "
                  "run the same command again to train only what is missing.", file=sys.stderr)
            return 130, None
        except StoreUnwritable as exc:
            executor.shutdown(wait=False, cancel_futures=True)
            print(f"\nerror: {exc}. The {sum(tally.statuses.values())} runs stored before are intact; "
                  "free space (or fix the permissions) and run the same command again.", file=sys.stderr)
            return 1, None
    s = tally.statuses
    print(f"trained {sum(s.values())} runs: ok {s['ok']}, diverged {s['diverged']}, failed {s['failed']}.",
          file=sys.stderr)
    for line in tally.failures[:10]:
        print(f"  failed: {line}", file=sys.stderr)
    if len(tally.failures) > 10:
        print(f"  … and {len(tally.failures) - 10} more (python -m engine status)", file=sys.stderr)
    after = _still_missing(args, store, loaded)
    return (1 if tally.failures else 0), after


def _print_run_plan(args, runs, todo, waiting, store) -> None:
    retried = sum(1 for r in todo if store.get(r.key) is not None)
    print(f"plan: {len(runs)} runs — {len(runs) - len(todo)} already in {args.store}, {len(todo)} to train "
          f"in {len(group_runs(todo))} groups with {args.jobs} worker(s)"
          + (f" ({retried} of them failed before and are retried)" if retried and not args.force else "")
          + (f"; the final seeds of {len(waiting)} tuned cells follow their grids." if waiting else "."),
          file=sys.stderr)
    _report_corrupt(store)


def _still_missing(args, store: ResultStore, loaded) -> tuple[list, list]:
    """Name the studies the selection still lacks (failed runs, or seeds a failed grid never chose);
    return the selection's plan as it is now (runs, waiting cells)."""
    _, runs, waiting = _selected_with_waiting(args, store, loaded)
    lacking = Counter(r.spec["study"] for r in runs if not store.is_finished(r.key))
    if lacking:
        print("still missing: " + ", ".join(f"{s} ({n})" for s, n in sorted(lacking.items())), file=sys.stderr)
    return runs, waiting


class _Tally:
    def __init__(self):
        self.statuses: Counter = Counter()
        self.failures: list[str] = []

    def add(self, record: Record) -> None:
        self.statuses[record.status] += 1
        if record.status == "failed":
            self.failures.append(f"{record.label}: {record.error}")


def _train(executor, todo, waiting, args, exp, store, tally) -> None:
    """Keep a bounded window of groups in flight, longest first; store each record as its group
    finishes; queue a tuned cell's final seeds once its grid is stored.

    Groups of studies marked `alone` (timing claims) train last, one at a time, with nothing
    beside them.  Progress goes to stderr and counts seconds of work, not runs
    (engine/progress.py): one slow group of single-example SGD does not hide behind hundreds of
    cheap runs, and the final seeds still to come count from the start."""
    from engine.executor import execute_group
    from engine.progress import CostModel, Progress

    queue = group_runs(todo)
    known = {r.key for r in todo}
    pending, pending_timed = {}, {}
    terms = parse_filter(args.only)
    expected = expected_finals(waiting, todo, _seeds(exp), _selects(terms))
    costs = CostModel()
    costs.learn_from_records(store.indexed_records(),
                             {group_key(spec) for spec in [g[0].spec for g in queue] + [s for s, _ in expected.values()]})
    progress = Progress(queue, expected, costs, len(todo))
    try:
        while queue or pending:
            while queue and len(pending) < 2 * args.jobs and not any(pending_timed.values()):
                # A group that measures time (a study marked `alone`) waits until nothing else is
                # queued or training, and nothing starts beside it: its clock must not share the cores.
                group = next((g for g in queue if not g[0].spec.get("alone")), None)
                if group is None:
                    if pending:
                        break
                    group = queue[0]
                queue.remove(group)
                future = executor.submit(execute_group, [(r.key, r.label, r.spec) for r in group])
                pending[future] = group
                pending_timed[future] = bool(group[0].spec.get("alone"))
            finished, _ = wait(set(pending), return_when=FIRST_COMPLETED)
            for future in finished:
                group = pending.pop(future)
                pending_timed.pop(future)
                records = future.result()
                for record in records:
                    store.put(record)
                    tally.add(record)
                progress.finished(group, records)
                study = records[0].spec.study
                if exp.data["studies"][study].get("tune"):
                    now, still = expand_with_waiting(exp, store, {study})
                    new = [r for r in select(now, terms)
                           if r.key not in known and not store.is_finished(r.key)]
                    known.update(r.key for r in new)
                    groups = group_runs(new)
                    queue = groups + queue  # final seeds sit on the critical path
                    resolved = [c for c in progress.expected if c.study == study and c not in still]
                    progress.queued(groups, resolved)
    finally:
        progress.close()


def cmd_report(args) -> int:
    store = _store(args)
    return _report(args, _load(args)[0], store)


def _report(args, exp, store: ResultStore, plan=None) -> int:
    from engine.report.assemble import build_report

    try:
        summary = build_report(exp, store, args.out, use_cache=not getattr(args, "no_cache", False), plan=plan)
    except OSError as exc:
        print(f"error: cannot write the report to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    _report_corrupt(store)
    store.save_index()
    if summary["missing"]:
        hint = (f"this run trained what `--only '{args.only}'` selects; " if getattr(args, "only", None) else "")
        print(f"report: {len(summary['missing'])} results are missing from {args.store} ({hint}"
              f"`python -m engine run --profile {args.profile}` trains them all); for example:", file=sys.stderr)
        for label in summary["missing"][:10]:
            print(f"  missing: {label}", file=sys.stderr)
    for name, path in summary["written"].items():
        print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_schema(_args) -> int:
    from engine.config.schema import build_schema

    print(json.dumps(build_schema(), indent=2, ensure_ascii=False))
    return 0


COMMANDS = {"validate": cmd_validate, "run": cmd_run, "status": cmd_status,
            "report": cmd_report, "schema": cmd_schema}


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
