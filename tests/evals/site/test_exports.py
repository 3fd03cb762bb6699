"""The site's JSON exports, written at publish time."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.synthetic import run_frames
from evals.site import exports
from tests.evals.warehouse.steps import publish, stage


def test_exports_for_the_site(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    stage(uri, run_frames(), tmp_path)
    publish(uri, "run-1")
    files = exports.export_site_data(uri, tmp_path / "site-data")
    board = json.loads(files["leaderboard.json"].read_text())
    registry = json.loads(files["registry.json"].read_text())
    assert board["rows"][0]["model_name"] == "demo-model" and board["data_version"] == 1
    assert registry["models"][0]["parameters"] == 1_000_000
