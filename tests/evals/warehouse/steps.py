"""Staging and publishing as the flows do them, for the warehouse tests and the site-export test."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from benchmarks.synthetic import plan_of
from evals.scoring import default_spec
from evals.warehouse import publishing, staging

SPEC = default_spec()


def stage(uri: str, frames: dict[str, pl.DataFrame], tmp_path: Path) -> staging.StageResult:
    return staging.stage_run(uri, frames, plan_of(frames).units, report_dir=tmp_path / "reports")


def publish(uri: str, run_id: str, allow_limited: bool = False) -> None:
    staging.check_staged_run(uri, run_id, allow_limited)
    publishing.publish_rows(uri, run_id)
    board = publishing.compute_leaderboard(uri, SPEC)
    publishing.check_leaderboard(board, SPEC)
    publishing.write_leaderboard(uri, board, SPEC)
    publishing.update_registry(uri)
