"""One consistent snapshot of the published tables: what a site build reads.

The site is built from one leaderboard version (default: the latest). The
rest is read to match it:

- ``runs`` at the leaderboard's ``data_version`` (the published runs version
  it was computed from), limited to the runs the leaderboard rows name;
- ``scores`` and ``edge`` rows of those runs (published rows never change, so
  the latest table state holds exactly the rows of that moment);
- ``models`` (the registry) as it stood while this leaderboard version was
  current: its last version written before the next leaderboard version;
- ``samples`` rows of those runs, by the same rule as scores, but read a
  model at a time (:class:`SampleReader`): they are the largest table. Only
  the columns paired statistics read (``items``) are read for all runs at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from contracts.errors import UserError
from contracts.tables import SAMPLES
from evals.warehouse.storage import (
    PUBLISHED,
    current_version,
    item_values,
    read_table,
    table_uri,
    table_versions,
    version_before,
)

_RUN_VARIANT = ["run_id", "variant_id"]


class SiteDataError(UserError):
    """The warehouse holds nothing the site can show at the asked version."""


@dataclass(frozen=True)
class Snapshot:
    """The published tables at one leaderboard version."""

    uri: str
    leaderboard: pl.DataFrame  # sorted by rank
    models: pl.DataFrame
    runs: pl.DataFrame
    scores: pl.DataFrame
    edge: pl.DataFrame
    leaderboard_version: int
    data_version: int | None  # the published runs version; None when the leaderboard is empty
    data_date: datetime | None  # when that runs version was written
    leaderboard_date: datetime
    models_version: int | None
    # When the next leaderboard version was written (None: this is the latest): what else
    # the site shows (the submissions queue) is read as it stood before then.
    until: datetime | None = None
    # The per-item values of those runs (``evals.warehouse.storage.ITEM_COLUMNS``): paired statistics.
    items: pl.DataFrame = field(default_factory=pl.DataFrame)


def read_snapshot(uri: str, version: int | None = None) -> Snapshot:
    """The tables behind leaderboard ``version`` (latest when None) of the warehouse at ``uri``."""
    latest = current_version(uri, PUBLISHED, "leaderboard")
    if latest is None:
        raise SiteDataError(
            f"no published leaderboard in {uri!r}: publish a run first (slmbench demo, or slmbench publish RUN_ID)"
        )
    if version is not None and not 0 <= version <= latest:
        raise SiteDataError(f"the leaderboard in {uri!r} has versions 0 to {latest}, not {version}")
    chosen = latest if version is None else version
    board = read_table(uri, "leaderboard", version=chosen).sort("rank")
    history = table_versions(uri, "leaderboard")
    board_date = history.filter(pl.col("version") == chosen)["timestamp"][0]
    following = history.filter(pl.col("version") > chosen)["timestamp"]
    until = following[0] if len(following) else None

    data_version = int(board["data_version"][0]) if board.height else None
    keys = board.select(_RUN_VARIANT)
    if data_version is None:
        runs = read_table(uri, "runs").clear()
        data_date = None
    else:
        runs = read_table(uri, "runs", version=data_version).join(keys, on=_RUN_VARIANT, how="semi")
        runs_history = table_versions(uri, "runs")
        data_date = runs_history.filter(pl.col("version") == data_version)["timestamp"][0]
    scores = read_table(uri, "scores").join(keys, on=_RUN_VARIANT, how="semi")
    edge = read_table(uri, "edge").join(keys, on=_RUN_VARIANT, how="semi")
    models_version = version_before(uri, PUBLISHED, "models", until)
    models = (
        read_table(uri, "models", version=models_version)
        if models_version is not None
        else read_table(uri, "models").clear()
    )
    return Snapshot(
        uri=uri,
        leaderboard=board,
        models=models,
        runs=runs,
        scores=scores,
        edge=edge,
        leaderboard_version=chosen,
        data_version=data_version,
        data_date=data_date,
        leaderboard_date=board_date,
        models_version=models_version,
        until=until,
        items=item_values(uri, runs["run_id"].unique().to_list()),
    )


class SampleReader:
    """The published ``samples`` rows of some runs at a time.

    The table's log is read once; it is partitioned by run, so each read opens
    only the files of the runs asked for, whatever the table's size.
    """

    def __init__(self, uri: str) -> None:
        from deltalake import DeltaTable

        target = table_uri(uri, PUBLISHED, SAMPLES.name)
        self._dataset = DeltaTable(target).to_pyarrow_dataset() if DeltaTable.is_deltatable(target) else None

    def rows(self, keys: pl.DataFrame) -> pl.DataFrame:
        """The rows of these (run_id, variant_id) pairs; an empty frame when none were kept."""
        if self._dataset is None or keys.is_empty():
            return SAMPLES.empty()
        import pyarrow.dataset as ds

        runs: Sequence[str] = keys["run_id"].unique().to_list()
        found = pl.DataFrame(self._dataset.to_table(filter=ds.field("run_id").isin(runs)))
        return SAMPLES.upgrade(found).join(keys.select(_RUN_VARIANT), on=_RUN_VARIANT, how="semi")
