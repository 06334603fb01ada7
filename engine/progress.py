"""How much training is left, in seconds: the work behind the progress bar's ETA.

A group's cost starts as the prior of `engine.plan.estimated_cost` (steps × members × examples ×
the model's multiply-adds, in seconds on this kind of machine) and is calibrated by what the groups actually took: each
finished group gives its family — the runs that share a group key (model, data set, batch,
budget) — the factor measured seconds / prior, and a family with no measurement yet takes the
factor of all the work measured so far.  Groups already in the store (a rebuild after a code
change, a resumed run) calibrate before anything trains.  The final seeds of a tuned cell whose
grid is still training are counted from the start, as one group of (seeds − 1) runs shaped like
the grid: without them the bar would reach 100 % long before the end.

The bar (on stderr) counts seconds of work: finished groups count the seconds they took, the rest
its calibrated estimate, so the remaining time is the remaining work at the rate measured so far.
"""
from __future__ import annotations

import statistics
import sys

from engine.plan import estimated_cost, group_key


class CostModel:
    """Estimated seconds of a group, calibrated family by family as groups finish."""

    def __init__(self):
        self._factors: dict[str, list[float]] = {}
        self._measured = self._prior = 0.0

    @staticmethod
    def prior(spec: dict, members: int) -> tuple[str, float]:
        """(the group's family, its uncalibrated estimate in seconds)."""
        return group_key(spec), estimated_cost(spec, members)

    def learn(self, family: str, prior: float, seconds: float) -> None:
        if prior > 0 and seconds > 0:
            self._factors.setdefault(family, []).append(seconds / prior)
            self._measured += seconds
            self._prior += prior

    def learn_from_records(self, records, families: set[str]) -> None:
        """Calibrate the `families` on stored records: one measurement per group they trained in
        (records carry no group id; a group's wall time and size stand in for one)."""
        seen = set()
        for record in records:
            group = (record.group_wall_time_s, record.group_size)
            if record.status == "failed" or group in seen:
                continue
            seen.add(group)
            spec = record.spec.to_json()
            if group_key(spec) in families:
                self.learn(*self.prior(spec, record.group_size), record.group_wall_time_s)

    def seconds(self, estimates) -> float:
        """Calibrated seconds of (family, prior) estimates, summed.  A family not measured yet takes
        the factor of all the work measured (seconds over prior, summed: the long groups weigh
        most; a median over families would let the many tiny ones decide)."""
        factors = {family: statistics.median(f) for family, f in self._factors.items()}
        fallback = self._measured / self._prior if self._prior else 1.0
        return sum(prior * factors.get(family, fallback) for family, prior in estimates)


class Progress:
    """The bar of one `engine run`: seconds of work done and left, and runs finished (of those
    queued and expected)."""

    FORMAT = "{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]"

    def __init__(self, groups, expected: dict, costs: CostModel, runs_total: int, file=None):
        """`expected`: cell → (spec, runs) of the final seeds to come (``plan.expected_finals``)."""
        from tqdm import tqdm

        self.costs = costs
        self.left = {id(g): costs.prior(g[0].spec, len(g)) for g in groups}
        self.expected = {cell: (costs.prior(spec, k), k) for cell, (spec, k) in expected.items()}
        self.done_seconds = 0.0
        self.runs_done = 0
        self.runs_total = runs_total + sum(k for _, k in self.expected.values())
        # smoothing=0: the rate is all work done over all time elapsed, not the last few groups'.
        self.bar = tqdm(total=self.total_seconds(), file=file or sys.stderr, dynamic_ncols=True, smoothing=0,
                        bar_format=self.FORMAT)
        self._describe()

    def total_seconds(self) -> float:
        """Seconds of work done plus the calibrated estimate of what is left."""
        return self.done_seconds + self.costs.seconds([*self.left.values(), *(e for e, _ in self.expected.values())])

    def _describe(self) -> None:
        self.bar.set_description_str(f"{self.runs_done}/{self.runs_total} runs")

    def finished(self, group, records) -> None:
        """A group came back: count the seconds it took and calibrate its family (not on a group
        that failed: it may have failed at once, and would teach that the family costs nothing)."""
        family, prior = self.left.pop(id(group))
        seconds = records[0].group_wall_time_s
        if records[0].status != "failed":
            self.costs.learn(family, prior, seconds)
        self.done_seconds += seconds
        self.runs_done += len(records)
        self._refresh()

    def queued(self, groups, resolved=()) -> None:
        """New groups joined the queue; the `resolved` cells' final seeds are no longer expected
        (they are among the groups, or need no training)."""
        for cell in resolved:
            _, runs = self.expected.pop(cell, (None, 0))
            self.runs_total -= runs
        for g in groups:
            self.left[id(g)] = self.costs.prior(g[0].spec, len(g))
            self.runs_total += len(g)
        self._refresh()

    def _refresh(self) -> None:
        self.bar.total = self.total_seconds()
        self.bar.n = self.done_seconds
        self._describe()
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
