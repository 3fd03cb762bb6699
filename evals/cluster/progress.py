"""Progress of a run: units done of total, elapsed time, and an ETA by estimated cost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from evals.engine.execution import UnitReport
from evals.plan.units import WorkUnit

# How many times a run reports its progress to ``on_milestone``: each tenth of its units.
MILESTONES = 10


class Progress:
    def __init__(self, units: tuple[WorkUnit, ...], on_milestone: Callable[[int, int], None] | None = None) -> None:
        """``on_milestone(done, total)`` is called at each tenth of the units (every unit when fewer than ten)."""
        self.total = len(units)
        self.total_cost = sum(u.cost for u in units) or 1.0
        self.started = time.perf_counter()
        self.on_milestone = on_milestone
        self._done = 0
        self._done_cost = 0.0
        self._lock = threading.Lock()

    def done(self, unit: WorkUnit, report: UnitReport) -> str:
        """Count a finished unit; returns the progress line to show."""
        with self._lock:
            self._done += 1
            self._done_cost += unit.cost
            done = self._done
            elapsed = time.perf_counter() - self.started
            remaining = self.total_cost - self._done_cost
            eta = elapsed / self._done_cost * remaining if self._done_cost else 0.0
        waited = f", waited {report.waited_s:.1f}s" if report.waited_s >= 0.1 else ""
        if self.on_milestone is not None and _milestone(done, self.total):
            self.on_milestone(done, self.total)  # outside the lock: it may write to the warehouse
        return (
            f"[{done}/{self.total}] {report.status:<9} {unit.name} ({report.duration_s:.1f}s{waited})"
            f"  elapsed {elapsed:.0f}s  eta {eta:.0f}s"
        )

    def merged(self, unit: WorkUnit, report: UnitReport, shards: int) -> str:
        """The line for a sharded task whose shards were merged (or failed)."""
        elapsed = time.perf_counter() - self.started
        what = report.error if report.status == "failed" else f"{shards} shards"
        return f"[merge] {report.status:<9} {unit.name} ({what})  elapsed {elapsed:.0f}s"

    def edge_done(self, name: str, error: str | None, reused_from: str | None = None) -> str:
        elapsed = time.perf_counter() - self.started
        if reused_from:
            return f"[edge] {'reused':<9} {name} (measured in run {reused_from})  elapsed {elapsed:.0f}s"
        return f"[edge] {'failed' if error else 'measured':<9} {name}  elapsed {elapsed:.0f}s"


def _milestone(done: int, total: int) -> bool:
    """True when ``done`` units cross into a new tenth of ``total`` (and for the last unit)."""
    return done >= total or done * MILESTONES // max(total, 1) > (done - 1) * MILESTONES // max(total, 1)
