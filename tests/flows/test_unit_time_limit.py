"""A benchmark whose units run past their time limit: each fails with its reason, and the run still ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.benchmark import BenchmarkFailed, benchmark_submission

ROOT = Path(__file__).resolve().parents[2]
# about 100 s on 2 cores (each unit waits for a new worker); tests/evals/cluster/test_unit_time_limit.py is the quick one
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]


def test_units_past_their_time_limit_fail_with_the_reason_and_the_run_ends(
    ray_local, demo_models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLMBENCH_CACHE_DIR", str(tmp_path / "cache"))  # evaluated here, not found cached
    monkeypatch.setenv("SLMBENCH_UNIT_TIME_SCALE", "1e-6")  # limits under a second: loading the model takes longer
    with pytest.raises(BenchmarkFailed) as info:
        benchmark_submission(
            submission_path=str(ROOT / "models" / "submissions" / "demo-untrained.yaml"),
            suite="offline-quick",
            limit=2,
            output_dir=str(tmp_path / "run"),
            warehouse=str(tmp_path / "wh"),
        )
    message = str(info.value)
    assert "ran past its time limit" in message and "its worker was replaced" in message, message
    assert "SLMBENCH_UNIT_TIME_SCALE=1e-06" in message
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert summary.count("ran past its time limit") >= 2, summary  # every unit ran (and failed): the run went on
