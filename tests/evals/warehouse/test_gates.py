"""What may reach the board beyond the contracts (issue 20): a name is its model's, a smoke test is no result."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from benchmarks.synthetic import run_frames
from evals.warehouse import staging, storage
from evals.warehouse.gates import NotPublishable
from tests.evals.warehouse.steps import publish, stage

LATER = datetime(2025, 2, 1, tzinfo=UTC)


def _as(frames: dict[str, pl.DataFrame], **runs: object) -> dict[str, pl.DataFrame]:
    """The frames with these runs columns set (who submitted it, where its weights are, its limit)."""
    return {**frames, "runs": frames["runs"].with_columns(**{k: pl.lit(v) for k, v in runs.items()})}


def _trained(uri: str, tmp_path: Path) -> None:
    frames = run_frames(run_id="trained", model_name="SLMB-Demo-Trained", level=0.8)
    assert (
        stage(uri, _as(frames, submitted_by="slmbench", local_path="fixture://demo-trained"), tmp_path).status
        == "staged"
    )
    publish(uri, "trained")


def test_the_untrained_weights_published_under_the_trained_models_name_are_refused(tmp_path: Path) -> None:
    """The issue's case: the untrained demo weights as "SLMB-Demo-Trained" by an attacker took over its row."""
    uri = str(tmp_path / "wh")
    _trained(uri, tmp_path)
    board, registry = storage.read_table(uri, "leaderboard"), storage.read_table(uri, "models")
    frames = run_frames(run_id="takeover", model_name="SLMB-Demo-Trained", level=0.0, finished_at=LATER)
    attack = _as(frames, submitted_by="attacker", local_path="fixture://demo-untrained", family=None, license=None)
    assert stage(uri, attack, tmp_path).status == "staged"  # its rows are well formed: the gate is the name
    with pytest.raises(NotPublishable) as refused:
        publish(uri, "takeover")
    message = str(refused.value)
    assert "'SLMB-Demo-Trained' is published already as 'SLMB-Demo-Trained' by another model" in message
    assert "fixture demo-trained" in message and "submitted by slmbench" in message
    assert "submitted by attacker" in message
    assert storage.read_table(uri, "leaderboard").equals(board)
    assert storage.read_table(uri, "models").equals(registry)
    assert storage.read_table(uri, "runs")["run_id"].unique().to_list() == ["trained"]


def test_a_name_differing_only_in_case_is_refused_to_another_model(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    _trained(uri, tmp_path)
    frames = run_frames(run_id="lower", model_name="slmb-demo-trained", finished_at=LATER)
    stage(uri, _as(frames, submitted_by="attacker", local_path="fixture://demo-untrained"), tmp_path)
    with pytest.raises(NotPublishable, match="published already as 'SLMB-Demo-Trained'"):
        publish(uri, "lower")


def test_a_new_run_of_the_same_model_still_updates_its_rows(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    _trained(uri, tmp_path)
    frames = run_frames(run_id="retrained", model_name="SLMB-Demo-Trained", level=0.9, finished_at=LATER)
    stage(uri, _as(frames, submitted_by="slmbench", local_path="fixture://demo-trained"), tmp_path)
    publish(uri, "retrained")
    assert storage.read_table(uri, "leaderboard")["run_id"].to_list() == ["retrained"]
    (row,) = storage.read_table(uri, "models").to_dicts()
    assert row["last_run_id"] == "retrained" and row["submitted_by"] == "slmbench"
    assert "fixture:demo-trained" in row["sources"]


def test_a_limited_run_is_refused_by_publish_saying_why(tmp_path: Path) -> None:
    """``--limit 2`` then publish: it was published with coverage 1.0 and replaced the complete run's row."""
    uri = str(tmp_path / "wh")
    stage(uri, _as(run_frames(run_id="smoke"), limit=2), tmp_path)
    with pytest.raises(NotPublishable, match=r"ran with --limit 2: it scored only the first 2 documents of each task"):
        staging.check_staged_run(uri, "smoke")
    with pytest.raises(NotPublishable, match="--allow-limited"):
        publish(uri, "smoke")
    assert not storage.table_exists(uri, storage.PUBLISHED, "runs")


def test_a_limited_run_published_on_purpose_is_marked_and_never_replaces_a_complete_run(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    stage(uri, run_frames(run_id="complete", model_name="alpha", level=0.5), tmp_path)
    publish(uri, "complete")
    smoke = run_frames(run_id="smoke", model_name="alpha", level=0.9, finished_at=LATER)
    stage(uri, _as(smoke, limit=2), tmp_path)
    stage(uri, _as(run_frames(run_id="beta-smoke", model_name="beta", level=0.9), limit=2), tmp_path)
    for run_id in ("smoke", "beta-smoke"):
        staging.check_staged_run(uri, run_id, allow_limited=True)
        publish(uri, run_id, allow_limited=True)
    board = storage.read_table(uri, "leaderboard").sort("rank")
    assert board.select("model_name", "run_id", "limit").rows() == [
        ("alpha", "complete", None),
        ("beta", "beta-smoke", 2),
    ]
    assert storage.read_table(uri, "models").filter(pl.col("name") == "alpha")["last_run_id"].to_list() == ["complete"]
