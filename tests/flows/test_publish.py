"""The publish flow: end to end, idempotent, resumable after a crash between any two steps, concurrent."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import polars as pl
import pytest

import flows.publish as publish_module
from benchmarks.synthetic import plan_of, run_frames
from evals.warehouse import staging, storage
from flows.publish import publish_results

# Flow runs talk to the session's one Prefect test server (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("prefect_server")

STEPS = [
    "check_staged_run",
    "publish_run_rows",
    "recompute_leaderboard",
    "check_leaderboard",
    "write_leaderboard",
    "update_registry",
    "export_site_data",
]
PUBLISHED = ("runs", "scores", "edge", "models", "leaderboard")


class InjectedCrash(RuntimeError):
    pass


def stage(uri: str, run_id: str, model: str, tmp_path: Path, level: float = 0.6) -> None:
    frames = run_frames(run_id=run_id, model_name=model, level=level)
    result = staging.stage_run(uri, frames, plan_of(frames).units, report_dir=tmp_path / "reports" / run_id)
    assert result.status == "staged", result.report.summary()


def snapshot(uri: str) -> dict[str, pl.DataFrame]:
    return {name: storage.read_table(uri, name) for name in PUBLISHED}


def test_publish_flow_end_to_end_and_twice(tmp_path: Path) -> None:
    uri, exports = str(tmp_path / "wh"), tmp_path / "exports"
    stage(uri, "run-1", "alpha", tmp_path)
    summary = publish_results("run-1", warehouse=uri, exports=str(exports))
    assert summary.leaderboard_version == 0 and summary.runs_version == 1
    board = json.loads((exports / "leaderboard.json").read_text())
    assert [row["model_name"] for row in board["rows"]] == ["alpha"]
    assert json.loads((exports / "registry.json").read_text())["models"][0]["name"] == "alpha"

    before, versions = snapshot(uri), storage.list_tables(uri)
    again = publish_results("run-1", warehouse=uri, exports=str(exports))
    assert again == summary
    assert storage.list_tables(uri) == versions
    for name, frame in snapshot(uri).items():
        assert frame.equals(before[name]), name


def test_a_failed_staged_run_is_refused(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    frames = run_frames(run_id="bad")
    frames["edge"] = frames["edge"].with_columns(mean=pl.lit(-1.0))
    assert staging.stage_run(uri, frames, plan_of(frames).units, report_dir=tmp_path).status == "failed"
    with pytest.raises(storage.WarehouseError, match="failed"):
        publish_results("bad", warehouse=uri, exports=str(tmp_path / "exports"))
    assert not storage.table_exists(uri, storage.PUBLISHED, "runs")


def test_a_crash_between_any_two_steps_leaves_the_previous_version_and_a_rerun_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, exports = str(tmp_path / "wh"), str(tmp_path / "exports")
    stage(uri, "run-0", "base", tmp_path)
    publish_results("run-0", warehouse=uri, exports=exports)
    for k, step in enumerate(STEPS[1:], start=1):
        run_id, model = f"run-{k}", f"model-{k}"
        stage(uri, run_id, model, tmp_path, level=0.3 + 0.05 * k)
        before = snapshot(uri)
        board_version = storage.current_version(uri, storage.PUBLISHED, "leaderboard")

        def crash(*args: object, _step: str = step) -> None:
            raise InjectedCrash(f"crash before {_step}")

        with monkeypatch.context() as patch:
            patch.setattr(publish_module, step, crash)
            with pytest.raises(InjectedCrash):
                publish_results(run_id, warehouse=uri, exports=exports)

        # The version before the crash is still readable, unchanged.
        assert storage.read_table(uri, "leaderboard", version=board_version).equals(before["leaderboard"]), step
        # A run's rows are all visible or not at all: the leaderboard never shows part of a run.
        board = storage.read_table(uri, "leaderboard")
        assert board.filter(pl.col("model_name") == model).height in (0, 1), step
        if board.filter(pl.col("model_name") == model).height == 0:
            assert board.equals(before["leaderboard"]), step

        publish_results(run_id, warehouse=uri, exports=exports)
        board = storage.read_table(uri, "leaderboard")
        assert model in board["model_name"].to_list(), step
        assert storage.read_table(uri, "scores").filter(pl.col("run_id") == run_id).height == 10, step
    exported = json.loads(Path(exports, "leaderboard.json").read_text())
    assert len(exported["rows"]) == len(STEPS)


def test_two_concurrent_publishes_of_different_runs_both_land(tmp_path: Path) -> None:
    uri, exports = str(tmp_path / "wh"), str(tmp_path / "exports")
    stage(uri, "run-a", "alpha", tmp_path)
    stage(uri, "run-b", "beta", tmp_path, level=0.7)
    errors: list[BaseException] = []

    def worker(run_id: str) -> None:
        try:
            publish_results(run_id, warehouse=uri, exports=exports)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(run_id,)) for run_id in ("run-a", "run-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(storage.read_table(uri, "runs")["run_id"].unique().to_list()) == ["run-a", "run-b"]
    assert sorted(storage.read_table(uri, "leaderboard")["model_name"].to_list()) == ["alpha", "beta"]
    assert sorted(storage.read_table(uri, "models")["name"].to_list()) == ["alpha", "beta"]
