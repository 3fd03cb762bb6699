"""Publishing: a staged run merged into the published tables, then the leaderboard and the registry.

Each step is idempotent (merges on keys; a leaderboard equal to the stored one
writes no version), so a publish that crashed anywhere finishes when run again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
from polars.testing import assert_frame_equal

from contracts.checks import CatalogDomains
from contracts.expectations import ValidationReport, validate
from contracts.identity import holders_from_runs, sources_json
from contracts.tables import EDGE, LEADERBOARD, MODELS, RUNS, SAMPLES, SCORES, leaderboard
from evals.scoring import ScoringSpec, build_leaderboard, latest_runs
from evals.warehouse.staging import ContractError
from evals.warehouse.storage import (
    PUBLISHED,
    STAGING,
    current_version,
    item_values,
    merge,
    merge_once,
    overwrite,
    read_table,
    retry,
)


@dataclass(frozen=True)
class Board:
    """A computed leaderboard and the published runs version it was computed from."""

    frame: pl.DataFrame
    data_version: int | None  # None: nothing published yet


def publish_rows(uri: str, run_id: str) -> int:
    """Merge a staged run's rows into the published tables; returns the published runs version.

    Scores, edge and sample rows first, the runs rows (status ``published``) last.
    Rows already there are left alone, so a rerun after a crash completes the run.
    """
    for table in (SCORES, EDGE, SAMPLES):
        merge(uri, PUBLISHED, table, read_table(uri, table.name, STAGING, run_id=run_id), run_id, "publish")
    runs = read_table(uri, RUNS.name, STAGING, run_id=run_id).with_columns(status=pl.lit("published"))
    merge(uri, PUBLISHED, RUNS, runs, run_id, "publish")
    return current_version(uri, PUBLISHED, RUNS.name) or 0


def compute_leaderboard(uri: str, spec: ScoringSpec) -> Board:
    """The leaderboard of the published tables, at one consistent snapshot.

    The runs version is read first and the other tables at their latest state:
    scores and edge rows of runs not yet in that runs version are ignored, and
    rows of published runs never change, so the snapshot is consistent.
    """
    version = current_version(uri, PUBLISHED, RUNS.name)
    if version is None:
        return Board(leaderboard(spec.categories).empty(), None)
    runs = read_table(uri, RUNS.name, PUBLISHED, version=version)
    scores, edge = read_table(uri, SCORES.name), read_table(uri, EDGE.name)
    samples = item_values(uri, latest_runs(runs)["run_id"].unique().to_list())
    return Board(build_leaderboard(runs, scores, edge, spec, data_version=version, samples=samples), version)


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
            latest = current_version(uri, PUBLISHED, RUNS.name)
            if latest is None:
                return None
            if board.data_version != latest:
                board = compute_leaderboard(uri, spec)
                check_leaderboard(board, spec)
            existing = current_version(uri, PUBLISHED, LEADERBOARD.name)
            if existing is not None and _same_board(read_table(uri, LEADERBOARD.name), board.frame):
                written = existing
            else:
                written = overwrite(uri, table, board.frame, step=f"leaderboard of runs v{board.data_version}")
            if current_version(uri, PUBLISHED, RUNS.name) == latest:
                return written

    return retry(attempt)


def _same_board(stored: pl.DataFrame, computed: pl.DataFrame) -> bool:
    """The same rows, floats equal to their last bits or so: polars' parallel group sums may add in another
    order from one computation to the next, and a rerun must not write a version for that."""
    try:
        assert_frame_equal(stored, computed, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    except AssertionError:
        return False
    return True


def update_registry(uri: str) -> int | None:
    """Derive the model registry from published runs and merge what changed; returns its version."""

    def attempt() -> int | None:
        runs = read_table(uri, RUNS.name)
        if runs.is_empty():
            return current_version(uri, PUBLISHED, MODELS.name)
        current = read_table(uri, MODELS.name)
        desired = _registry_rows(runs, current)
        compare = [c for c in MODELS.names if c not in ("first_published_at", "last_published_at")]
        changed = desired.join(current.select(compare), on=compare, how="anti", nulls_equal=True)
        if not changed.is_empty():
            merge_once(uri, PUBLISHED, MODELS, changed, None, "registry", update=True)
        return current_version(uri, PUBLISHED, MODELS.name)

    return retry(attempt)


def _registry_rows(runs: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """One row per model from its latest published run; dates kept from the current registry."""
    now = datetime.now(UTC)
    # A complete run's card before a smoke test's (scoring rule 10), then the newest.
    order = [pl.col("limit").is_null(), pl.col("finished_at"), pl.col("run_id")]
    latest = runs.sort(order).group_by("model_name", maintain_order=True).last()
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
        "test_model",
    )
    rows = rows.join(_gguf_tensor_types(runs), on="name", how="left").join(_sources(runs), on="name", how="left")
    rows = rows.join(current.select("name", "first_published_at"), on="name", how="left").with_columns(
        pl.col("first_published_at").fill_null(pl.lit(now, dtype=pl.Datetime("us", "UTC"))),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("last_published_at"),
    )
    return MODELS.conform(rows.select(MODELS.names))


def _sources(runs: pl.DataFrame) -> pl.DataFrame:
    """Per model name: the sources of the identity that holds it (``contracts.identity``), as JSON."""
    holders = holders_from_runs(runs.filter(pl.col("status") == "published").to_dicts())
    return pl.DataFrame(
        {"name": [h.name for h in holders], "sources": [sources_json(h.identity) for h in holders]},
        schema={"name": pl.String, "sources": pl.String},
    )


def _gguf_tensor_types(runs: pl.DataFrame) -> pl.DataFrame:
    """Per model: ``{variant_id: tensor-type mix}`` over the latest published run of each GGUF variant, as JSON.

    The registry has one row per model and a mix belongs to a variant, so the column maps variants to mixes;
    each variant's own run carries its mix in ``runs.tensor_types``.
    """
    variants = latest_runs(runs).filter(pl.col("tensor_types").is_not_null())
    mixes: dict[str, dict[str, object]] = {}
    for row in variants.sort("variant_id").iter_rows(named=True):
        mixes.setdefault(row["model_name"], {})[row["variant_id"]] = json.loads(row["tensor_types"])
    return pl.DataFrame(
        {"name": list(mixes), "gguf_tensor_types": [json.dumps(m, sort_keys=True) for m in mixes.values()]},
        schema={"name": pl.String, "gguf_tensor_types": pl.String},
    )
