"""The steps of ``publish_results``: thin Prefect tasks over ``evals.warehouse`` and ``evals.site.exports``.

Each task is one step with one side effect, and each is idempotent, so a
flow that crashed anywhere can simply be run again. Writes retry commit
conflicts inside ``evals.warehouse.storage`` (they must recompute, not replay), so the
tasks themselves declare no retries. Prefect's input cache is off: the
warehouse, not Prefect, knows what is already done.
"""

from __future__ import annotations

import re
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from contracts.expectations import ValidationReport
from evals.scoring import default_spec
from evals.site.exports import default_exports_dir
from evals.site.exports import export_site_data as write_exports
from evals.warehouse import publishing, staging
from evals.warehouse.publishing import Board
from evals.warehouse.staging import ContractError


def publish_contract_report(report: ValidationReport, run_id: str, title: str) -> None:
    """The report of every failed expectation, as a Prefect artifact (the file is written by the warehouse)."""
    create_markdown_artifact(
        key=f"contracts-{_slug(run_id)}",
        markdown=report.to_markdown(title),
        description=f"Data contracts of run {run_id}",
    )


@task(name="check-staged-run", cache_policy=NO_CACHE)
def check_staged_run(uri: str, run_id: str, allow_limited: bool = False) -> int:
    """The staged run passes its contracts again and may reach the board (complete, its name its own);
    returns the number of expectations checked."""
    try:
        return staging.check_staged_run(uri, run_id, allow_limited).expectations
    except ContractError as err:
        path = staging.write_report(err.report, run_id)
        publish_contract_report(err.report, run_id, f"Run {run_id} cannot be published")
        raise ContractError(f"{err} (report: {path})", err.report) from None


@task(name="publish-run-rows", cache_policy=NO_CACHE)
def publish_run_rows(uri: str, run_id: str) -> int:
    """Merge the run into the published tables; returns the published runs version."""
    return publishing.publish_rows(uri, run_id)


@task(name="recompute-leaderboard", cache_policy=NO_CACHE)
def recompute_leaderboard(uri: str) -> Board:
    return publishing.compute_leaderboard(uri, default_spec())


@task(name="check-leaderboard", cache_policy=NO_CACHE)
def check_leaderboard(board: Board) -> int:
    """The leaderboard passes its contract; returns the number of expectations checked."""
    try:
        return publishing.check_leaderboard(board, default_spec()).expectations
    except ContractError as err:
        publish_contract_report(err.report, f"leaderboard-v{board.data_version}", "The leaderboard fails its contract")
        raise


@task(name="write-leaderboard", cache_policy=NO_CACHE)
def write_leaderboard(uri: str, board: Board) -> int | None:
    """A new leaderboard version (none when nothing changed); returns the version holding it."""
    return publishing.write_leaderboard(uri, board, default_spec())


@task(name="update-registry", cache_policy=NO_CACHE)
def update_registry(uri: str) -> int | None:
    return publishing.update_registry(uri)


@task(name="export-site-data", cache_policy=NO_CACHE)
def export_site_data(uri: str, exports: str | None) -> dict[str, str]:
    """``leaderboard.json`` and ``registry.json`` for the site; returns their paths."""
    out_dir = Path(exports) if exports else default_exports_dir(uri)
    return {name: str(path) for name, path in write_exports(uri, out_dir).items()}


def _slug(text: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "run"
