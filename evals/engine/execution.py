"""Running one unit: from the cache when its key is there, else on a worker.

Whatever produced the outcome, the unit's files are also placed in the run
folder (``<run_dir>/units/<variant>/<subtask>/``), so a run folder holds
everything it reports: lm-eval's raw results JSON and the per-sample outputs.

A shard (``evals.engine.sharding``) is cached on its own and never filed in the run
folder: once every shard of a task is done, :func:`merge_unit` merges them into
the task's one outcome, cached under the whole task's key (it equals the
unsharded run's) and filed as one unit. A shard whose whole task is already
cached is not needed at all.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

from evals.engine.cache import UnitCache, UnitOutcome, read_meta, read_outcome
from evals.plan.units import WorkUnit


class UnitRunner(Protocol):
    def run(self, unit: WorkUnit) -> UnitOutcome: ...


class ShardMerger(Protocol):
    def merge(self, unit: WorkUnit, shards: Sequence[UnitOutcome]) -> UnitOutcome: ...


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
    worker: str | None = None  # the worker process that evaluated it in this run ("<host>:<pid>")
    started_at: float | None = None  # when that worker started it (seconds since the epoch)

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


def whole_task(unit: WorkUnit) -> WorkUnit:
    """The unit of a shard's whole task (the unit itself when it is not a shard)."""
    return replace(unit, docs=None) if unit.is_shard else unit


def needs_evaluation(unit: WorkUnit, cache: UnitCache) -> bool:
    """Whether running the unit needs a worker: neither it nor (for a shard) its whole task is cached."""
    return cache.get(unit.cache_key) is None and cache.get(whole_task(unit).cache_key) is None


def execute_unit(unit: WorkUnit, runner: UnitRunner, cache: UnitCache, run_dir: Path) -> UnitReport:
    """Evaluate a unit (or reuse its cached outcome) and file it in the run folder (a shard: only in the cache)."""
    started = time.perf_counter()
    if unit.is_shard and cache.get(whole_task(unit).cache_key) is not None:
        return UnitReport(unit.name, "cached", None, 0.0)  # its task's merged outcome is there already
    entry = cache.get(unit.cache_key)
    if entry is None:
        outcome = runner.run(unit)
        entry = cache.put(unit.cache_key, outcome, unit_meta(unit))
        folder = entry if unit.is_shard else _file(entry, unit_folder(run_dir, unit))
        # timed in the worker: no queueing in it
        waited = max(0.0, time.perf_counter() - started - outcome.duration_s)
        return UnitReport(
            unit.name,
            "evaluated",
            str(folder),
            outcome.duration_s,
            waited_s=waited,
            sandbox_isolation=outcome.sandbox_isolation,
            worker=outcome.worker,
            started_at=outcome.started_at,
        )
    folder = entry if unit.is_shard else _file(entry, unit_folder(run_dir, unit))
    isolation = read_meta(entry).get("sandbox_isolation")  # of the run that evaluated it
    return UnitReport(unit.name, "cached", str(folder), time.perf_counter() - started, sandbox_isolation=isolation)


def merge_unit(
    unit: WorkUnit,
    shards: Sequence[WorkUnit],
    reports: Sequence[UnitReport],
    merger: ShardMerger,
    cache: UnitCache,
    run_dir: Path,
) -> UnitReport:
    """The whole task's report from its shards' (in document order): merged once, cached, filed in the run folder."""
    started = time.perf_counter()
    failed = [r for r in reports if r.status == "failed"]
    if failed:
        more = f" (and {len(failed) - 1} more shards)" if len(failed) > 1 else ""
        return UnitReport(unit.name, "failed", None, 0.0, error=f"shard {failed[0].name}: {failed[0].error}{more}")
    evaluated = [r for r in reports if r.status == "evaluated"]
    entry = cache.get(unit.cache_key)
    if entry is None:
        outcomes = []
        for shard in shards:
            stored = cache.get(shard.cache_key)
            if stored is None:
                raise RuntimeError(f"shard {shard.name} is not in the cache; rerun to evaluate it")
            outcomes.append(read_outcome(stored))
        merged = merger.merge(unit, outcomes)
        shard_list = [{"docs": list(s.docs or ()), "cache_key": s.cache_key} for s in shards]
        entry = cache.put(unit.cache_key, merged, unit_meta(unit) | {"shards": shard_list})
    target = _file(entry, unit_folder(run_dir, unit))
    isolation = read_meta(entry).get("sandbox_isolation")
    if evaluated:
        return UnitReport(
            unit.name,
            "evaluated",
            str(target),
            sum(r.duration_s for r in evaluated),
            waited_s=sum(r.waited_s for r in evaluated),
            sandbox_isolation=isolation,
        )
    return UnitReport(unit.name, "cached", str(target), time.perf_counter() - started, sandbox_isolation=isolation)


def _file(entry: Path, target: Path) -> Path:
    """A copy of the cache entry as the unit's folder in the run (what the run folder reports)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(entry, target)
    return target


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
        "docs": list(unit.docs) if unit.docs else None,
        "seed": unit.seed,
        "task_config_hash": unit.task_config_hash,
        "dataset_revision": unit.dataset_revision,
        "versions": dict(unit.backend_versions),
    }
