"""Staging a run: its frames checked against their contracts and plan, then written to the staging tables.

Beyond each table's own contract, every primary score must be what its staged
items give (``contracts.agreement``). A run whose frames fail is recorded, not
written: its ``runs`` rows land with
status ``failed`` and the reason, and the full report is written beside the
run. Publishing checks a staged run again (:func:`check_staged_run`) before
it merges anything.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from contracts.agreement import item_agreement
from contracts.checks import CatalogDomains, RunPlan
from contracts.expectations import ValidationReport, validate
from contracts.tables import EDGE, RUNS, SAMPLES, SCORES, STAGED_TABLES
from evals import paths
from evals.catalog.definitions import recorded_domains
from evals.catalog.suites import Catalog, load_catalog
from evals.warehouse import gates
from evals.warehouse.storage import STAGING, WarehouseError, atomic_write, merge, read_table

log = logging.getLogger(__name__)


class ContractError(WarehouseError):
    """Frames failed their contracts; ``report`` lists every failed expectation."""

    def __init__(self, message: str, report: ValidationReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class StageResult:
    run_id: str
    status: str  # "staged" | "failed"
    report: ValidationReport
    report_path: Path | None  # the JSON report, written when the run failed


def catalog_domains(catalog: Catalog) -> CatalogDomains:
    """The catalog facts the contracts check against."""
    return CatalogDomains(
        categories=tuple(catalog.categories),
        task_category={name: t.category for name, t in catalog.tasks.items()},
        primary={name: (t.metric, t.filter) for name, t in catalog.tasks.items()},
    )


def run_domains(runs: pl.DataFrame) -> CatalogDomains:
    """The facts a run's rows are checked against: the task definitions the run recorded.

    Its own tasks, built-in or the user's, as it planned them, whatever catalog
    this machine has; the built-in catalog only for rows recorded without them.
    """
    catalog = load_catalog()
    return recorded_domains(runs, catalog.categories) or catalog_domains(catalog)


def stage_run(
    uri: str,
    frames: Mapping[str, pl.DataFrame],
    expected_units: Mapping[str, Sequence[str]],
    *,
    report_dir: Path | None = None,
) -> StageResult:
    """Validate one run's frames and write them to the staging tables.

    ``frames``: ``runs``, ``scores``, (when edge units ran) ``edge`` and
    (when the run kept its items) ``samples``, built to ``contracts.tables``. ``runs.status``, ``runs.planned_tasks`` and
    ``runs.error`` are set here and may be left out. A run whose ``runs`` frame
    already says ``failed`` (units failed) is recorded as failed, scores unwritten.
    ``expected_units``: variant_id -> the catalog task keys planned for it,
    plus ``"edge"`` when an edge unit was planned (``Plan.expected_units()``).
    The tasks' categories and primary metrics are those ``runs.task_definitions``
    recorded (:func:`run_domains`).

    Returns the outcome; a failed contract is an outcome, not an exception. The
    report of a failed run is written to ``report_dir`` (default
    ``<runs dir>/<run_id>``) as ``contracts.json`` and ``contracts.md``.
    """
    runs = _with_plan(frames.get("runs", RUNS.empty()), expected_units)
    run_id = _single_run_id(runs)
    plan = RunPlan(run_id=run_id, units={v: list(t) for v, t in expected_units.items()})
    domains = run_domains(runs)
    unit_failure = "status" in runs.columns and runs["status"].eq("failed").any()

    # The runs rows are checked once, as staged: status and error, the two columns set
    # below for a failed run, take values the contract allows either way.
    runs_report = validate(RUNS, runs.with_columns(status=pl.lit("staged")), domains, plan)
    report = ValidationReport()
    report.extend(runs_report)
    staged = {"runs": runs}
    tables = (SCORES, EDGE, SAMPLES) if "samples" in frames else (SCORES, EDGE)
    if not unit_failure:
        for table in tables:
            frame = frames.get(table.name, table.empty())
            report.extend(validate(table, frame, domains, plan))
            staged[table.name] = frame
        report.extend(_item_agreement(runs, staged["scores"], staged.get("samples", SAMPLES.empty()), domains))

    if report.success and not unit_failure:
        for table in tables:
            merge(uri, STAGING, table, table.conform(staged[table.name]), run_id, "stage")
        merge(uri, STAGING, RUNS, RUNS.conform(runs.with_columns(status=pl.lit("staged"))), run_id, "stage", True)
        return StageResult(run_id, "staged", report, None)

    report_path = write_report(report, run_id, report_dir)
    reason = report.summary() if not report.success else _first_error(runs) or "a work unit failed"
    if runs_report.success:
        failed_runs = runs.with_columns(status=pl.lit("failed"), error=pl.lit(reason[:4000]))
        merge(uri, STAGING, RUNS, RUNS.conform(failed_runs), run_id, "stage-failed", True)
    else:
        log.warning("run %s: its runs rows fail their own contract, so only the report records it", run_id)
    return StageResult(run_id, "failed", report, report_path)


def write_report(report: ValidationReport, run_id: str, report_dir: Path | None = None) -> Path:
    """Write ``contracts.json`` and ``contracts.md``; returns the JSON's path."""
    folder = report_dir or paths.runs_dir() / run_id
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "contracts.md", report.to_markdown(f"Data contracts of run {run_id}"))
    return atomic_write(folder / "contracts.json", report.to_json())


def check_staged_run(uri: str, run_id: str, allow_limited: bool = False) -> ValidationReport:
    """Re-validate a staged run against its contracts and plan before it is published.

    Raises :class:`WarehouseError` when the run is unknown or failed,
    :class:`~evals.warehouse.gates.NotPublishable` when it may not reach the board
    (a smoke test with a limit, unless ``allow_limited``; a model name published under another
    identity: ``evals.warehouse.gates``),
    and :class:`ContractError` when its staged rows no longer pass.
    """
    runs = read_table(uri, RUNS.name, STAGING, run_id=run_id)
    if runs.is_empty():
        raise WarehouseError(f"run {run_id!r} is not staged in {uri}; run the benchmark first (slmbench run)")
    if runs["status"].eq("failed").any():
        raise WarehouseError(f"run {run_id!r} failed: {_first_error(runs) or 'see its contracts report'}")
    gates.check_complete(runs, allow_limited)
    gates.check_identity(uri, runs)
    plan = RunPlan(run_id, {v: json.loads(p) for v, p in runs.select("variant_id", "planned_tasks").iter_rows()})
    domains = run_domains(runs)
    report = ValidationReport()
    staged = {table.name: read_table(uri, table.name, STAGING, run_id=run_id) for table in STAGED_TABLES}
    for table in STAGED_TABLES:
        report.extend(validate(table, staged[table.name], domains, plan))
    report.extend(_item_agreement(runs, staged["scores"], staged["samples"], domains))
    if not report.success:
        raise ContractError(f"staged run {run_id!r} fails its contracts: {report.summary()}", report)
    return report


def _item_agreement(
    runs: pl.DataFrame, scores: pl.DataFrame, samples: pl.DataFrame, domains: CatalogDomains
) -> ValidationReport:
    """Each primary score recomputed from its staged items (``contracts.agreement``)."""
    limits = runs["limit"].drop_nulls() if "limit" in runs.columns else pl.Series([], dtype=pl.Int64)
    needed = {"variant_id", "task", "subtask", "filter"}
    if not needed | {"metric", "value", "n_samples"} <= set(scores.columns) or not needed | {"metrics"} <= set(
        samples.columns
    ):
        return ValidationReport()  # a frame without its columns fails its own contract already
    limit = int(limits.min()) if len(limits) else None
    return item_agreement(scores, samples, domains.primary, limit, corpus_aggregate)


def corpus_aggregate(metric: str, values: list[Any]) -> float | None:
    """lm-eval's own aggregation of a metric whose per-sample values are not numbers (``f1`` over
    (reference, prediction) pairs); None when it cannot take them."""
    from lm_eval.api.registry import get_metric_aggregation  # imported here: only corpus-level metrics need it

    try:
        value = get_metric_aggregation(metric)([tuple(v) if isinstance(v, list) else v for v in values])
    except Exception:  # no aggregation of that name, or one that cannot take these values: not recomputable
        return None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _with_plan(runs: pl.DataFrame, expected_units: Mapping[str, Sequence[str]]) -> pl.DataFrame:
    """Fill the columns staging owns: planned_tasks (from the plan), status and error."""
    if "variant_id" not in runs.columns:
        return runs
    planned = {v: json.dumps(sorted(t)) for v, t in expected_units.items()}
    runs = runs.with_columns(
        pl.col("variant_id").replace_strict(planned, default=None, return_dtype=pl.String).alias("planned_tasks")
    )
    if "status" not in runs.columns:
        runs = runs.with_columns(status=pl.lit("staged"))
    if "error" not in runs.columns:
        runs = runs.with_columns(error=pl.lit(None, pl.String))
    return runs


def _single_run_id(runs: pl.DataFrame) -> str:
    ids = runs["run_id"].drop_nulls().unique().to_list() if "run_id" in runs.columns else []
    if len(ids) != 1:
        raise WarehouseError(f"the runs frame must hold exactly one run_id, found {ids or 'none'}")
    return str(ids[0])


def _first_error(runs: pl.DataFrame) -> str | None:
    errors = runs["error"].drop_nulls().to_list() if "error" in runs.columns else []
    return str(errors[0]) if errors else None
