"""Staging a run's frames: contracts first, then the staging Delta tables."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.benchmark import RunFrames


@task(name="stage-results", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def stage_results(frames: RunFrames, warehouse: str, expected_units: int) -> None:
    from evals.warehouse import stage_run

    stage_run(warehouse, frames.read(), expected_units=expected_units)
