"""The results warehouse: versioned Delta tables written with polars.

Layout under one URI (a local folder by default, or any URI deltalake
supports, e.g. ``s3://bucket/slmbench``; credentials come from the usual
environment variables)::

    <uri>/staging/{scores,edge,runs}            what benchmark runs produced
    <uri>/published/{scores,edge,runs,models,leaderboard}

Guarantees, and how they are kept:

- **Nothing invalid is written.** Every frame passes its GX suite
  (``contracts.expectations``) first. A run that fails is recorded in
  ``staging/runs`` with status ``failed`` and the failed expectations, and
  the full report is written beside the run (``<runs dir>/<run_id>/``).
- **Atomic, idempotent writes.** Each write is one Delta commit. Rows are
  merged on the table's keys (insert when absent), so writing the same rows
  twice changes nothing and creates no version. A run's ``runs`` rows are
  written last: they are what makes its scores and edge rows count, so a crash
  between two writes leaves rows no reader uses, and a rerun completes them.
- **No lost rows under concurrency.** delta-rs raises ``CommitFailedError``
  when another writer committed first; every write is retried, recomputed from
  the new table state, with jittered backoff.
- **Time travel.** :func:`read_table` reads any version, :func:`table_versions`
  lists them.
- **Schema evolution.** Contracts only ever gain nullable columns. A merge
  adds a new column to the stored table (``merge_schema``), and reading a
  version written before it shows the column as null.

No Prefect here: ``tasks.publishing`` wraps these functions.
"""

from __future__ import annotations

import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import polars as pl
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from contracts.expectations import CatalogDomains, RunPlan, ValidationReport, validate
from contracts.tables import EDGE, MODELS, RUNS, SCORES, SchemaError, Table, leaderboard
from evals import paths
from evals.catalog import Catalog, load_catalog
from evals.scoring import ScoringSpec, build_leaderboard

log = logging.getLogger(__name__)

STAGING = "staging"
PUBLISHED = "published"
ZONES = (STAGING, PUBLISHED)
STAGED_TABLES = (SCORES, EDGE, RUNS)  # write order: runs last
MAX_COMMIT_ATTEMPTS = 40

T = TypeVar("T")


class WarehouseError(RuntimeError):
    """A run cannot be staged or published as asked; the message says why and what to do."""


class ContractError(WarehouseError):
    """Frames failed their contracts; ``report`` lists every failed expectation."""

    def __init__(self, message: str, report: ValidationReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Board:
    """A computed leaderboard and the published runs version it was computed from."""

    frame: pl.DataFrame
    data_version: int | None  # None: nothing published yet


@dataclass(frozen=True)
class StageResult:
    run_id: str
    status: str  # "staged" | "failed"
    report: ValidationReport
    report_path: Path | None  # the JSON report, written when the run failed


# --- locations, reading, versions


def table_uri(uri: str, zone: str, name: str) -> str:
    """Where one table lives: ``<uri>/<zone>/<name>``."""
    if zone not in ZONES:
        raise WarehouseError(f"unknown zone {zone!r}; zones: {', '.join(ZONES)}")
    root = uri.rstrip("/")
    if "://" not in root:
        root = str(Path(root).resolve())
    return f"{root}/{zone}/{name}"


def table_exists(uri: str, zone: str, name: str) -> bool:
    return DeltaTable.is_deltatable(table_uri(uri, zone, name))


def read_table(
    uri: str, name: str, zone: str = PUBLISHED, version: int | None = None, run_id: str | None = None
) -> pl.DataFrame:
    """A table at its latest version or at ``version``; an empty frame when it does not exist yet."""
    target = table_uri(uri, zone, name)
    if not DeltaTable.is_deltatable(target):
        if version is not None:
            raise WarehouseError(f"{zone}/{name} does not exist yet, so it has no version {version}")
        return _table_for(name).empty()
    latest = DeltaTable(target).version()
    if version is not None and not 0 <= version <= latest:
        raise WarehouseError(f"{zone}/{name} has versions 0 to {latest}, not {version}")
    scan = pl.scan_delta(target, version=version)
    if run_id is not None:
        scan = scan.filter(pl.col("run_id") == run_id)
    frame = scan.collect()
    # the leaderboard is rewritten whole from the other tables; they keep their history
    return frame if name == "leaderboard" else _table_for(name).upgrade(frame)


def current_version(uri: str, zone: str, name: str) -> int | None:
    target = table_uri(uri, zone, name)
    return DeltaTable(target).version() if DeltaTable.is_deltatable(target) else None


def list_tables(uri: str) -> list[tuple[str, str, int]]:
    """(zone, table, latest version) of every table that exists."""
    names = [t.name for t in (*STAGED_TABLES, MODELS)] + ["leaderboard"]
    found = []
    for zone in ZONES:
        for name in names:
            version = current_version(uri, zone, name)
            if version is not None:
                found.append((zone, name, version))
    return found


def table_versions(uri: str, name: str, zone: str = PUBLISHED) -> pl.DataFrame:
    """One row per version: when, which operation, rows added, and the run or step that wrote it."""
    target = table_uri(uri, zone, name)
    if not DeltaTable.is_deltatable(target):
        raise WarehouseError(f"{zone}/{name} does not exist yet in {uri}")
    rows = []
    for entry in DeltaTable(target).history():
        metrics = entry.get("operationMetrics") or {}
        rows.append(
            {
                "version": entry.get("version"),
                "timestamp": datetime.fromtimestamp(entry["timestamp"] / 1000, tz=UTC),
                "operation": entry.get("operation"),
                "rows_added": metrics.get("num_added_rows", metrics.get("num_target_rows_inserted")),
                "rows_updated": metrics.get("num_target_rows_updated"),
                "run_id": entry.get("slmbench.run_id"),
                "step": entry.get("slmbench.step"),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "version": pl.Int64,
            "timestamp": pl.Datetime("us", "UTC"),
            "operation": pl.String,
            "rows_added": pl.Int64,
            "rows_updated": pl.Int64,
            "run_id": pl.String,
            "step": pl.String,
        },
    ).sort("version")


# --- staging


def catalog_domains(catalog: Catalog) -> CatalogDomains:
    """The catalog facts the contracts check against."""
    return CatalogDomains(
        categories=tuple(catalog.categories),
        task_category={name: t.category for name, t in catalog.tasks.items()},
        primary={name: (t.metric, t.filter) for name, t in catalog.tasks.items()},
    )


def stage_run(
    uri: str,
    frames: Mapping[str, pl.DataFrame],
    expected_units: Mapping[str, Sequence[str]],
    *,
    catalog: Catalog | None = None,
    report_dir: Path | None = None,
) -> StageResult:
    """Validate one run's frames and write them to the staging tables.

    ``frames``: ``runs``, ``scores`` and (when edge units ran) ``edge``, built
    to ``contracts.tables``. ``runs.status``, ``runs.planned_tasks`` and
    ``runs.error`` are set here and may be left out. A run whose ``runs`` frame
    already says ``failed`` (units failed) is recorded as failed, scores unwritten.
    ``expected_units``: variant_id -> the catalog task keys planned for it,
    plus ``"edge"`` when an edge unit was planned.

    Returns the outcome; a failed contract is an outcome, not an exception. The
    report of a failed run is written to ``report_dir`` (default
    ``<runs dir>/<run_id>``) as ``contracts.json`` and ``contracts.md``.
    """
    catalog = catalog or load_catalog()
    runs = _with_plan(frames.get("runs", RUNS.empty()), expected_units)
    run_id = _single_run_id(runs)
    plan = RunPlan(run_id=run_id, units={v: list(t) for v, t in expected_units.items()})
    domains = catalog_domains(catalog)
    unit_failure = "status" in runs.columns and runs["status"].eq("failed").any()

    report = validate(RUNS, runs.with_columns(status=pl.lit("staged")), domains, plan)
    staged = {"runs": runs}
    if not unit_failure:
        for table in (SCORES, EDGE):
            frame = frames.get(table.name, table.empty())
            report.extend(validate(table, frame, domains, plan))
            staged[table.name] = frame

    if report.success and not unit_failure:
        for table in (SCORES, EDGE):
            _merge(uri, STAGING, table, table.conform(staged[table.name]), run_id, "stage")
        _merge(uri, STAGING, RUNS, RUNS.conform(runs.with_columns(status=pl.lit("staged"))), run_id, "stage", True)
        return StageResult(run_id, "staged", report, None)

    report_path = write_report(report, run_id, report_dir)
    reason = report.summary() if not report.success else _first_error(runs) or "a work unit failed"
    failed_runs = runs.with_columns(status=pl.lit("failed"), error=pl.lit(reason[:4000]))
    runs_ok = validate(RUNS, failed_runs, domains, plan).success
    if runs_ok:
        _merge(uri, STAGING, RUNS, RUNS.conform(failed_runs), run_id, "stage-failed", True)
    else:
        log.warning("run %s: its runs rows fail their own contract, so only the report records it", run_id)
    return StageResult(run_id, "failed", report, report_path)


def write_report(report: ValidationReport, run_id: str, report_dir: Path | None = None) -> Path:
    """Write ``contracts.json`` and ``contracts.md``; returns the JSON's path."""
    folder = report_dir or paths.runs_dir() / run_id
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write(folder / "contracts.md", report.to_markdown(f"Data contracts of run {run_id}"))
    return _atomic_write(folder / "contracts.json", report.to_json())


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


# --- publishing


def check_staged_run(uri: str, run_id: str, catalog: Catalog | None = None) -> ValidationReport:
    """Re-validate a staged run against its contracts and plan before it is published.

    Raises :class:`WarehouseError` when the run is unknown or failed, and
    :class:`ContractError` when its staged rows no longer pass.
    """
    runs = read_table(uri, "runs", STAGING, run_id=run_id)
    if runs.is_empty():
        raise WarehouseError(f"run {run_id!r} is not staged in {uri}; run the benchmark first (slmbench run)")
    if runs["status"].eq("failed").any():
        raise WarehouseError(f"run {run_id!r} failed: {_first_error(runs) or 'see its contracts report'}")
    catalog = catalog or load_catalog()
    plan = RunPlan(run_id, {v: json.loads(p) for v, p in runs.select("variant_id", "planned_tasks").iter_rows()})
    domains = catalog_domains(catalog)
    report = ValidationReport()
    for table in STAGED_TABLES:
        report.extend(validate(table, read_table(uri, table.name, STAGING, run_id=run_id), domains, plan))
    if not report.success:
        raise ContractError(f"staged run {run_id!r} fails its contracts: {report.summary()}", report)
    return report


def publish_rows(uri: str, run_id: str) -> int:
    """Merge a staged run's rows into the published tables; returns the published runs version.

    Scores and edge rows first, the runs rows (status ``published``) last. Rows
    already there are left alone, so a rerun after a crash completes the run.
    """
    for table in (SCORES, EDGE):
        _merge(uri, PUBLISHED, table, read_table(uri, table.name, STAGING, run_id=run_id), run_id, "publish")
    runs = read_table(uri, "runs", STAGING, run_id=run_id).with_columns(status=pl.lit("published"))
    _merge(uri, PUBLISHED, RUNS, runs, run_id, "publish")
    return current_version(uri, PUBLISHED, "runs") or 0


def compute_leaderboard(uri: str, spec: ScoringSpec) -> Board:
    """The leaderboard of the published tables, at one consistent snapshot.

    The runs version is read first and the other tables at their latest state:
    scores and edge rows of runs not yet in that runs version are ignored, and
    rows of published runs never change, so the snapshot is consistent.
    """
    version = current_version(uri, PUBLISHED, "runs")
    if version is None:
        return Board(leaderboard(spec.categories).empty(), None)
    runs = read_table(uri, "runs", PUBLISHED, version=version)
    frame = build_leaderboard(runs, read_table(uri, "scores"), read_table(uri, "edge"), spec, data_version=version)
    return Board(frame, version)


def check_leaderboard(board: Board, spec: ScoringSpec) -> ValidationReport:
    """Validate a leaderboard; raises :class:`ContractError` listing every failure."""
    domains = CatalogDomains(categories=tuple(spec.categories), task_category={}, primary={})
    report = validate(leaderboard(spec.categories), board.frame, domains)
    if not report.success:
        raise ContractError(f"the leaderboard fails its contract: {report.summary()}", report)
    return report


def write_leaderboard(uri: str, board: Board, spec: ScoringSpec) -> int | None:
    """Write the leaderboard as a new table version; returns the version that holds it.

    If other publishes landed since ``board`` was computed, it is recomputed
    (and checked) first, so the last writer always leaves the leaderboard of
    the latest published runs. Writing what is already there creates no version.
    """
    table = leaderboard(spec.categories)

    def attempt() -> int | None:
        nonlocal board
        while True:
            latest = current_version(uri, PUBLISHED, "runs")
            if latest is None:
                return None
            if board.data_version != latest:
                board = compute_leaderboard(uri, spec)
                check_leaderboard(board, spec)
            existing = current_version(uri, PUBLISHED, "leaderboard")
            if existing is not None and read_table(uri, "leaderboard").equals(board.frame):
                written = existing
            else:
                written = _overwrite(uri, table, board.frame, step=f"leaderboard of runs v{board.data_version}")
            if current_version(uri, PUBLISHED, "runs") == latest:
                return written

    return _retry(attempt)


def update_registry(uri: str) -> int | None:
    """Derive the model registry from published runs and merge what changed; returns its version."""

    def attempt() -> int | None:
        runs = read_table(uri, "runs")
        if runs.is_empty():
            return current_version(uri, PUBLISHED, "models")
        current = read_table(uri, "models")
        desired = _registry_rows(runs, current)
        compare = [c for c in MODELS.names if c not in ("first_published_at", "last_published_at")]
        changed = desired.join(current.select(compare), on=compare, how="anti", nulls_equal=True)
        if not changed.is_empty():
            _merge_once(uri, PUBLISHED, MODELS, changed, None, "registry", update=True)
        return current_version(uri, PUBLISHED, "models")

    return _retry(attempt)


def _registry_rows(runs: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """One row per model from its latest published run; dates kept from the current registry."""
    now = datetime.now(UTC)
    latest = runs.sort(["finished_at", "run_id"]).group_by("model_name", maintain_order=True).last()
    rows = latest.select(
        pl.col("model_name").alias("name"),
        "family",
        "hf_repo",
        "revision",
        "parameters",
        "license",
        "architecture",
        "context_length",
        "submitted_by",
        pl.col("run_id").alias("last_run_id"),
    )
    rows = rows.join(current.select("name", "first_published_at"), on="name", how="left").with_columns(
        pl.col("first_published_at").fill_null(pl.lit(now, dtype=pl.Datetime("us", "UTC"))),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("last_published_at"),
    )
    return MODELS.conform(rows.select(MODELS.names))


def export_site_data(uri: str, out_dir: Path) -> dict[str, Path]:
    """Write ``leaderboard.json`` and ``registry.json`` for the site; each file is replaced atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    board = read_table(uri, "leaderboard")
    models = read_table(uri, "models")
    meta = {
        "leaderboard_version": current_version(uri, PUBLISHED, "leaderboard"),
        "data_version": int(board["data_version"][0]) if board.height else None,
        "models_version": current_version(uri, PUBLISHED, "models"),
    }
    files = {
        "leaderboard.json": {**meta, "rows": board.sort("rank").to_dicts()},
        "registry.json": {**meta, "models": models.sort("name").to_dicts()},
    }
    return {
        name: _atomic_write(out_dir / name, json.dumps(body, indent=2, default=_json_default))
        for name, body in files.items()
    }


def default_exports_dir(uri: str) -> Path:
    """``<warehouse>/exports`` for a local warehouse, ``<home>/exports`` for a remote one."""
    return Path(uri) / "exports" if "://" not in uri else paths.home() / "exports"


# --- writing


def _merge(
    uri: str, zone: str, table: Table, frame: pl.DataFrame, run_id: str | None, step: str, update: bool = False
) -> None:
    _retry(lambda: _merge_once(uri, zone, table, frame, run_id, step, update))


def _merge_once(
    uri: str, zone: str, table: Table, frame: pl.DataFrame, run_id: str | None, step: str, update: bool = False
) -> None:
    """One merge on the table's keys: insert rows whose key is absent (and update matched ones if asked)."""
    frame = table.conform(frame)
    if frame.is_empty():
        return
    target = table_uri(uri, zone, table.name)
    _create(target, table)
    predicate = " AND ".join(f"t.`{k}` = s.`{k}`" for k in table.keys)
    merger = frame.write_delta(
        target,
        mode="merge",
        delta_merge_options={
            "predicate": predicate,
            "source_alias": "s",
            "target_alias": "t",
            # a table written before a nullable column joined its contract gains that column
            "merge_schema": True,
            "commit_properties": _commit(run_id, step),
        },
    )
    if update:
        merger = merger.when_matched_update_all()
    merger.when_not_matched_insert_all().execute()


def _overwrite(uri: str, table: Table, frame: pl.DataFrame, step: str) -> int:
    target = table_uri(uri, PUBLISHED, table.name)
    table.conform(frame).write_delta(
        target, mode="overwrite", delta_write_options={"commit_properties": _commit(None, step)}
    )
    return DeltaTable(target).version()


def _create(target: str, table: Table) -> None:
    """Create an empty table with the contract's schema unless it exists (racing creators are fine)."""
    if DeltaTable.is_deltatable(target):
        return
    try:
        table.empty().write_delta(target, mode="ignore")
    except CommitFailedError:
        if not DeltaTable.is_deltatable(target):
            raise


def _commit(run_id: str | None, step: str) -> CommitProperties:
    meta = {"slmbench.step": step}
    if run_id:
        meta["slmbench.run_id"] = run_id
    return CommitProperties(custom_metadata=meta)


def _retry(action: Callable[[], T]) -> T:
    """Run ``action`` until no other writer commits in between (delta-rs's optimistic concurrency)."""
    for attempt in range(MAX_COMMIT_ATTEMPTS):
        try:
            return action()
        except (CommitFailedError, TableNotFoundError) as err:
            if attempt == MAX_COMMIT_ATTEMPTS - 1:
                raise WarehouseError(f"gave up after {MAX_COMMIT_ATTEMPTS} conflicting commits: {err}") from err
            # Jittered exponential backoff, capped: contention here is a few writers, not thousands.
            time.sleep(min(1.0, 0.02 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def _table_for(name: str) -> Table:
    tables = {t.name: t for t in (*STAGED_TABLES, MODELS)}
    if name in tables:
        return tables[name]
    if name == "leaderboard":
        from evals.scoring import default_spec

        return leaderboard(default_spec().categories)
    raise SchemaError(f"no table {name!r}; tables: {', '.join([*tables, 'leaderboard'])}")


def _atomic_write(path: Path, text: str) -> Path:
    """Write a file so a reader sees the old or the new content, never half of it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
