"""Running one unit: from the cache when its key is there, else on a worker.

Whatever produced the outcome, the unit's files are also placed in the run
folder (``<run_dir>/units/<variant>/<subtask>/``), so a run folder holds
everything it reports: lm-eval's raw results JSON and the per-sample outputs.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from evals.cache import UnitCache, UnitOutcome, read_meta
from evals.planning import WorkUnit


class UnitRunner(Protocol):
    def run(self, unit: WorkUnit) -> UnitOutcome: ...


@dataclass(frozen=True)
class UnitReport:
    """How a unit ended; failures are data, not exceptions."""

    name: str
    status: Literal["evaluated", "cached", "failed"]
    folder: str | None
    duration_s: float  # evaluating in the worker (or, from cache, filing the copy)
    error: str | None = None
    waited_s: float = 0.0  # for a free actor, plus moving the outcome back
    sandbox_isolation: str | None = None  # the sandbox mode its generated programs ran under; None: it ran none

    @classmethod
    def failed(cls, name: str, error: BaseException) -> UnitReport:
        """A unit that raised, with the root cause of the error in one line."""
        return cls(name, "failed", None, 0.0, error=failure_cause(error))


def failure_cause(error: BaseException) -> str:
    """The root error of a (possibly Ray-wrapped) exception, in one line."""
    cause = getattr(error, "cause", None) or error.__cause__ or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"[:500]


def unit_folder(run_dir: Path, unit: WorkUnit) -> Path:
    return run_dir / "units" / unit.variant.variant_id / unit.subtask


def execute_unit(unit: WorkUnit, runner: UnitRunner, cache: UnitCache, run_dir: Path) -> UnitReport:
    """Evaluate a unit (or reuse its cached outcome) and file it in the run folder."""
    started = time.perf_counter()
    entry = cache.get(unit.cache_key)
    status: Literal["evaluated", "cached"] = "cached"
    evaluating_s: float | None = None
    if entry is None:
        outcome = runner.run(unit)
        evaluating_s = outcome.duration_s  # timed in the worker: no queueing in it
        entry = cache.put(unit.cache_key, outcome, unit_meta(unit))
        status = "evaluated"
    target = unit_folder(run_dir, unit)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(entry, target)
    total = time.perf_counter() - started
    isolation = read_meta(target).get("sandbox_isolation")  # of the run that evaluated it, cached or not
    if evaluating_s is None:
        return UnitReport(unit.name, status, str(target), total, sandbox_isolation=isolation)
    waited = max(0.0, total - evaluating_s)
    return UnitReport(unit.name, status, str(target), evaluating_s, waited_s=waited, sandbox_isolation=isolation)


def unit_meta(unit: WorkUnit) -> dict[str, object]:
    return {
        "unit": unit.name,
        "cache_key": unit.cache_key,
        "variant": unit.variant.to_dict(),
        "task": unit.task,
        "subtask": unit.subtask,
        "category": unit.category,
        "num_fewshot": unit.num_fewshot,
        "limit": unit.limit,
        "seed": unit.seed,
        "task_config_hash": unit.task_config_hash,
        "versions": dict(unit.backend_versions),
    }
