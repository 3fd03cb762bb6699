"""Flow ``publish_results``: a validated staged run in, published tables and site exports out.

    staged run -> contracts -> published tables (merge on keys)
      -> leaderboard recomputed -> contracts -> new leaderboard version
      -> model registry updated -> leaderboard.json, registry.json

Every step is idempotent: publishing a run twice yields the rows of one
publish, and a run that crashed at any step finishes when run again. Until
the run's ``runs`` rows land (the last write of its step) nothing of it is
visible in the leaderboard, and every earlier table version stays readable.

    slmbench publish RUN_ID [--warehouse URI] [--exports DIR] [--allow-limited]
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow

from evals.paths import WAREHOUSE
from tasks.publishing import (
    check_leaderboard,
    check_staged_run,
    export_site_data,
    publish_run_rows,
    recompute_leaderboard,
    update_registry,
    write_leaderboard,
)


@dataclass(frozen=True)
class PublishSummary:
    run_id: str
    runs_version: int
    leaderboard_version: int | None
    models_version: int | None
    exports: dict[str, str]


@flow(name="publish-results", flow_run_name="publish {run_id}")
def publish_results(
    run_id: str, warehouse: str = WAREHOUSE, exports: str | None = None, allow_limited: bool = False
) -> PublishSummary:
    """Publish one staged run: its rows, the leaderboard recomputed, the registry, the site's JSON exports.

    Args:
        run_id: The staged run to publish (the benchmark's run id, as its summary names it).
        warehouse: The Delta tables' URI: a local folder or any URI deltalake supports.
        exports: A local folder for leaderboard.json and registry.json; empty: beside the warehouse.
        allow_limited: Publish a --limit run (a smoke test) on purpose: marked, ranked after complete runs, never replacing one.
    """
    check_staged_run(warehouse, run_id, allow_limited)
    runs_version = publish_run_rows(warehouse, run_id)
    board = recompute_leaderboard(warehouse)
    check_leaderboard(board)
    leaderboard_version = write_leaderboard(warehouse, board)
    models_version = update_registry(warehouse)
    files = export_site_data(warehouse, exports)
    return PublishSummary(run_id, runs_version, leaderboard_version, models_version, files)
