"""What a staged run must be, beyond its contracts, before any row of it is published.

- **Complete.** A run with ``--limit`` scored the first documents of each task:
  a smoke test, whose scores are not comparable with a complete run's. It is
  refused unless the publisher asks for it on purpose (``allow_limited``); its
  rows then carry their ``limit`` and never replace a complete run's
  (``evals.scoring`` rule 10).
- **Its name is its own.** A model name (compared as ``contracts.names.name_key``
  compares them) that is published already belongs to the identity that
  published it: the source of its weights and its submitter
  (``contracts.identity``). A run of another identity under that name is refused,
  naming the holder; a new run of the same model (same repository and owner)
  updates its rows.
"""

from __future__ import annotations

import polars as pl

from contracts.identity import holders_from_runs, identity_problem, run_identity
from contracts.tables import RUNS
from evals.warehouse.storage import PUBLISHED, WarehouseError, read_table


class NotPublishable(WarehouseError):
    """A staged run that passed its contracts but may not reach the board; the message says why."""


def check_complete(runs: pl.DataFrame, allow_limited: bool = False) -> None:
    """Refuse a run with a limit (a smoke test) unless ``allow_limited``."""
    limits = sorted(set(runs["limit"].drop_nulls().to_list())) if "limit" in runs.columns else []
    if not limits or allow_limited:
        return
    run_id = runs["run_id"][0]
    shown = " and ".join(str(n) for n in limits)
    raise NotPublishable(
        f"run {run_id!r} ran with --limit {shown}: it scored only the first {shown} documents of each task, a smoke "
        "test whose scores cannot be compared with complete runs, so it is not published; run the benchmark "
        "without --limit and publish that run (or, on purpose, publish it with --allow-limited: its rows are "
        "marked with their limit and never replace a complete run's)"
    )


def check_identity(uri: str, runs: pl.DataFrame) -> None:
    """Refuse a run whose model name is published already under another identity (``contracts.identity``)."""
    run_id, name = runs["run_id"][0], runs["model_name"][0]
    published = read_table(uri, RUNS.name, PUBLISHED)
    if published.is_empty():
        return
    others = published.filter((pl.col("status") == "published") & (pl.col("run_id") != run_id))
    problem = identity_problem(name, run_identity(runs.to_dicts()), holders_from_runs(others.to_dicts()))
    if problem:
        raise NotPublishable(f"run {run_id!r} is not published: model name {problem}")
