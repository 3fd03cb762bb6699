"""The run folder: one id, one path rule, the files written and read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.synthetic import run_frames
from evals.plan.units import Plan
from evals.results.run_folder import RunFolder, new_run_id, run_dir, start_run


def test_run_ids_sort_by_start_and_name_the_model() -> None:
    early = new_run_id("SLMB Demo (trained)", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    late = new_run_id("SLMB Demo (trained)", datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC))
    assert early.startswith("20260102T030405-slmb-demo-trained-") and early < late


def test_the_path_rule_is_the_given_folder_else_the_runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLMBENCH_HOME", str(tmp_path / "home"))
    assert run_dir("r1") == tmp_path / "home" / "runs" / "r1"
    assert run_dir("r1", tmp_path / "mine") == tmp_path / "mine"


def test_a_run_folder_keeps_what_it_evaluated_and_reads_its_frames_back(tmp_path: Path) -> None:
    plan = Plan("models/submissions/m.yaml", "offline", (), (), (), False)
    info = start_run(plan, "m", b"model: {}\n", output_dir=str(tmp_path / "run"), pr_number=3)
    folder = RunFolder(info.run_dir)
    assert (folder.path / "submission.yaml").read_bytes() == b"model: {}\n" and info.pr_number == 3
    assert json.loads((folder.path / "plan.json").read_text())["submission"] == "models/submissions/m.yaml"
    assert folder.summary() is None  # no results yet

    frames = run_frames()
    written = folder.write_results({**frames, "retention": frames["runs"].clear()}, "## summary\n", [])
    assert folder.summary() == "## summary\n"
    for name, frame in written.read().items():
        assert frame.equals(frames[name]), name
