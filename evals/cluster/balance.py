"""How evenly a variant's units kept its workers busy, from the units' own timings.

Every evaluated unit records the worker process that ran it, when it started
and how long it evaluated (timed in the worker). Over the variant's unit window
(the first start to the last end), a worker's idle share is the part of the
window it spent not evaluating: waiting for a unit, starting, or done early.
The idle tail is the time from the first worker running out of units to the
end of the window: what a longest unit costs a run when it starts last.
Cached units ran on no worker and count for nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class Timed(Protocol):
    worker: str | None
    started_at: float | None
    duration_s: float


@dataclass(frozen=True)
class WorkerLoad:
    worker: str
    units: int
    busy_s: float
    idle_share: float  # of the window


@dataclass(frozen=True)
class Balance:
    window_s: float
    workers: tuple[WorkerLoad, ...]
    tail_s: float

    @property
    def tail_share(self) -> float:
        return self.tail_s / self.window_s if self.window_s > 0 else 0.0

    @property
    def idle_share(self) -> float:
        """Idle share of all the workers' time together."""
        return sum(w.idle_share for w in self.workers) / len(self.workers)


def balance(units: Iterable[Timed]) -> Balance | None:
    """The balance of the evaluated units among ``units`` (None when none was evaluated here)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for unit in units:
        if unit.worker is not None and unit.started_at is not None:
            spans.setdefault(unit.worker, []).append((unit.started_at, unit.started_at + unit.duration_s))
    if not spans:
        return None
    start = min(a for s in spans.values() for a, _ in s)
    end = max(b for s in spans.values() for _, b in s)
    window = end - start
    loads = []
    for worker, worked in sorted(spans.items()):
        busy = sum(b - a for a, b in worked)
        loads.append(WorkerLoad(worker, len(worked), busy, max(0.0, 1.0 - busy / window) if window > 0 else 0.0))
    tail = end - min(max(b for _, b in worked) for worked in spans.values())
    return Balance(window, tuple(loads), tail)


def describe(balance: Balance) -> str:
    """One line: ``2 workers over 41.2 s: idle 3%, 8%; idle tail 2.1 s (5%)``."""
    idle = ", ".join(f"{w.idle_share:.0%}" for w in balance.workers)
    return (
        f"{len(balance.workers)} worker{'s' if len(balance.workers) != 1 else ''} over {balance.window_s:.1f} s: "
        f"idle {idle}; idle tail {balance.tail_s:.1f} s ({balance.tail_share:.0%})"
    )
