"""Warehouse storage: where each table lives, reading any version, and the one way of writing.

Every write is a Delta merge on the table's keys (insert when absent, update
matched rows when asked), or for a table rewritten whole (the leaderboard)
an overwrite, or for an event log (the queue) an append; each is retried,
recomputed, when another writer committed first.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import polars as pl
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from contracts.names import did_you_mean
from contracts.tables import SAMPLES, TABLES, Table

STAGING = "staging"
PUBLISHED = "published"
ZONES = (STAGING, PUBLISHED)
MAX_COMMIT_ATTEMPTS = 40

T = TypeVar("T")


class WarehouseError(RuntimeError):
    """A run cannot be staged or published as asked; the message says why and what to do."""


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
    """A table at its latest version or at ``version``; an empty frame when it does not exist yet.

    A version written before a nullable column joined the contract shows that column as null.
    """
    contract = _table(name)
    target = table_uri(uri, zone, name)
    if not DeltaTable.is_deltatable(target):
        if version is not None:
            raise WarehouseError(f"{zone}/{name} does not exist yet, so it has no version {version}")
        return contract.empty()
    latest = DeltaTable(target).version()
    if version is not None and not 0 <= version <= latest:
        raise WarehouseError(f"{zone}/{name} has versions 0 to {latest}, not {version}")
    scan = pl.scan_delta(target, version=version)
    if run_id is not None:
        scan = scan.filter(pl.col("run_id") == run_id)
    return contract.upgrade(scan.collect())


# The samples columns the paired statistics read (evals.paired.scored_items): not the prompts and answers.
ITEM_COLUMNS = ("run_id", "variant_id", "task", "subtask", "filter", "doc_id", "correct", "value", "cluster")


def item_values(uri: str, run_ids: list[str]) -> pl.DataFrame:
    """The published items of these runs, the columns paired statistics need (the table is partitioned by run)."""
    target = table_uri(uri, PUBLISHED, SAMPLES.name)
    if not run_ids or not DeltaTable.is_deltatable(target):
        return SAMPLES.empty().select(ITEM_COLUMNS)
    scan = pl.scan_delta(target).filter(pl.col("run_id").is_in(run_ids))
    stored = scan.collect_schema().names()
    frame = scan.select([c for c in ITEM_COLUMNS if c in stored]).collect()
    return frame.with_columns(
        pl.lit(None, dtype=SAMPLES.schema[c]).alias(c) for c in ITEM_COLUMNS if c not in stored
    ).select(ITEM_COLUMNS)


def current_version(uri: str, zone: str, name: str) -> int | None:
    target = table_uri(uri, zone, name)
    return DeltaTable(target).version() if DeltaTable.is_deltatable(target) else None


def list_tables(uri: str) -> list[tuple[str, str, int]]:
    """(zone, table, latest version) of every table that exists."""
    found = []
    for zone in ZONES:
        for name in TABLES:
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


def version_before(uri: str, zone: str, name: str, until: datetime | None) -> int | None:
    """The last version of a table written before ``until`` (its latest when None); None when there is none."""
    if current_version(uri, zone, name) is None:
        return None
    history = table_versions(uri, name, zone)
    if until is not None:
        history = history.filter(pl.col("timestamp") < until)
    return int(history["version"].max()) if history.height else None  # type: ignore[arg-type]


def _table(name: str) -> Table:
    if name not in TABLES:
        raise WarehouseError(f"no table {name!r}{did_you_mean(name, TABLES)}; tables: {', '.join(TABLES)}")
    return TABLES[name]


# --- writing


def merge(
    uri: str, zone: str, table: Table, frame: pl.DataFrame, run_id: str | None, step: str, update: bool = False
) -> None:
    """Merge ``frame`` into the table on its keys, retried until no other writer commits in between."""
    retry(lambda: merge_once(uri, zone, table, frame, run_id, step, update))


def merge_once(
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


def append(uri: str, zone: str, table: Table, frame: pl.DataFrame, step: str) -> None:
    """Append rows to an event log (one commit), retried until no other writer commits in between.

    For tables whose rows are never updated and whose keys are unique by construction
    (the queue's event ids): no merge, so the cost does not grow with the table.
    """
    frame = table.conform(frame)
    if frame.is_empty():
        return
    target = table_uri(uri, zone, table.name)
    options = {"commit_properties": _commit(None, step), "schema_mode": "merge"}

    def attempt() -> None:
        try:
            frame.write_delta(target, mode="append", delta_write_options=options)
        except TableNotFoundError as err:  # delta-rs's word for a folder it cannot make: no retry helps
            raise WarehouseError(f"cannot append to {target}: {err}") from err

    retry(attempt)


def overwrite(uri: str, table: Table, frame: pl.DataFrame, step: str) -> int:
    """Replace a published table whole (one commit); returns the version written.

    Its schema is replaced too: these tables are derived whole, so one written under an earlier
    contract (fewer leaderboard columns, say) is rewritten under the current one, not refused.
    """
    target = table_uri(uri, PUBLISHED, table.name)
    options = {"commit_properties": _commit(None, step), "schema_mode": "overwrite"}
    table.conform(frame).write_delta(target, mode="overwrite", delta_write_options=options)
    return DeltaTable(target).version()


def _create(target: str, table: Table) -> None:
    """Create an empty table with the contract's schema unless it exists (racing creators are fine)."""
    if DeltaTable.is_deltatable(target):
        return
    options = {"partition_by": list(table.partition_by)} if table.partition_by else None
    try:
        table.empty().write_delta(target, mode="ignore", delta_write_options=options)
    except CommitFailedError:
        if not DeltaTable.is_deltatable(target):
            raise


def _commit(run_id: str | None, step: str) -> CommitProperties:
    meta = {"slmbench.step": step}
    if run_id:
        meta["slmbench.run_id"] = run_id
    return CommitProperties(custom_metadata=meta)


def retry(action: Callable[[], T]) -> T:
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


def atomic_write(path: Path, text: str) -> Path:
    """Write a file so a reader sees the old or the new content, never half of it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path
