"""Staging a run's frames: contracts first, then the staging Delta tables."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from evals.plan.units import Plan
from evals.results.run_folder import RunFrames, RunInfo
from evals.warehouse.staging import stage_run


@task(name="stage-results", cache_policy=NO_CACHE)
def stage_results(frames: RunFrames, warehouse: str, plan: Plan, run: RunInfo) -> str:
    """Validate and stage the run; returns its status ("staged" or "failed")."""
    result = stage_run(warehouse, frames.read(), plan.expected_units(), report_dir=run.run_dir)
    if result.status == "failed" and result.report_path:
        create_markdown_artifact(
            key="contract-report",
            markdown=result.report_path.with_suffix(".md").read_text(),
            description=f"Failed expectations of run {run.run_id}",
        )
    return result.status
