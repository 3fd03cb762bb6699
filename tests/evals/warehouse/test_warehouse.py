"""The warehouse: staging through contracts, idempotent merges, time travel, crashes, concurrency."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import polars as pl
import pytest

from benchmarks.synthetic import run_frames
from evals.warehouse import publishing, staging, storage
from tests.evals.warehouse.steps import SPEC, publish, stage


def versions(uri: str) -> dict[tuple[str, str], int]:
    return {(zone, name): v for zone, name, v in storage.list_tables(uri)}


def test_a_failed_run_is_recorded_with_its_report_and_nothing_else(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    frames = run_frames()
    frames["scores"] = frames["scores"].with_columns(value=pl.lit(float("nan")))
    result = stage(uri, frames, tmp_path)
    assert result.status == "failed"
    report = json.loads(result.report_path.read_text())
    assert not report["success"] and any(f["column"] == "value is NaN" for f in report["failures"])
    assert (result.report_path.parent / "contracts.md").is_file()
    runs = storage.read_table(uri, "runs", storage.STAGING)
    assert runs["status"].to_list() == ["failed"] and "value is NaN" in runs["error"][0]
    assert storage.read_table(uri, "scores", storage.STAGING).is_empty()
    with pytest.raises(storage.WarehouseError, match="failed"):
        staging.check_staged_run(uri, "run-1")


def test_publishing_twice_changes_nothing(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    assert stage(uri, run_frames(variants=("FP32", "Q8_0")), tmp_path).status == "staged"
    publish(uri, "run-1")
    first = {name: storage.read_table(uri, name) for name in ("runs", "scores", "edge", "models", "leaderboard")}
    before = versions(uri)
    publish(uri, "run-1")
    assert versions(uri) == before
    for name, frame in first.items():
        assert storage.read_table(uri, name).equals(frame), name
    assert first["scores"].height == 2 * 5 * 2 and first["leaderboard"].height == 2


def test_versions_and_time_travel(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    stage(uri, run_frames(run_id="run-1", model_name="a"), tmp_path)
    stage(uri, run_frames(run_id="run-2", model_name="b", level=0.8), tmp_path)
    publish(uri, "run-1")
    v1 = storage.current_version(uri, storage.PUBLISHED, "leaderboard")
    publish(uri, "run-2")
    assert storage.read_table(uri, "leaderboard", version=v1)["model_name"].to_list() == ["a"]
    assert storage.read_table(uri, "leaderboard")["model_name"].to_list() == ["b", "a"]
    history = storage.table_versions(uri, "runs")
    assert history["run_id"].drop_nulls().to_list() == ["run-1", "run-2"]
    with pytest.raises(storage.WarehouseError):
        storage.read_table(uri, "leaderboard", version=99)


def test_a_crash_inside_the_publish_leaves_nothing_visible_and_a_rerun_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = str(tmp_path / "wh")
    stage(uri, run_frames(run_id="run-1", model_name="a"), tmp_path)
    stage(uri, run_frames(run_id="run-2", model_name="b"), tmp_path)
    publish(uri, "run-1")
    board_before = storage.read_table(uri, "leaderboard")

    real_merge = publishing.merge

    def crash_on_runs(uri_: str, zone: str, table, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if zone == storage.PUBLISHED and table.name == "runs":
            raise RuntimeError("injected crash")
        real_merge(uri_, zone, table, *args, **kwargs)

    monkeypatch.setattr(publishing, "merge", crash_on_runs)
    with pytest.raises(RuntimeError, match="injected"):
        publish(uri, "run-2")
    monkeypatch.setattr(publishing, "merge", real_merge)
    # Run-2's scores landed but its runs rows did not: the leaderboard ignores them.
    assert storage.read_table(uri, "scores")["run_id"].unique().sort().to_list() == ["run-1", "run-2"]
    assert publishing.compute_leaderboard(uri, SPEC).frame.equals(board_before)
    publish(uri, "run-2")
    assert sorted(storage.read_table(uri, "leaderboard")["model_name"].to_list()) == ["a", "b"]
    assert storage.read_table(uri, "scores").height == 2 * 5 * 2


def test_concurrent_publishes_of_different_runs_both_land(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    run_ids = [f"run-{i}" for i in range(3)]
    for i, run_id in enumerate(run_ids):
        stage(uri, run_frames(run_id=run_id, model_name=f"m{i}", level=0.5 + 0.1 * i), tmp_path)
    errors: list[BaseException] = []

    def worker(run_id: str) -> None:
        try:
            publish(uri, run_id)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(run_id,)) for run_id in run_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(storage.read_table(uri, "runs")["run_id"].to_list()) == run_ids
    board = storage.read_table(uri, "leaderboard")
    assert sorted(board["model_name"].to_list()) == ["m0", "m1", "m2"]
    assert board["data_version"][0] == storage.current_version(uri, storage.PUBLISHED, "runs")
    assert storage.read_table(uri, "models").height == 3


def test_a_table_written_before_a_new_column_still_reads_and_takes_new_runs(tmp_path: Path) -> None:
    """Contracts gain nullable columns (``head_sha`` did); an existing warehouse keeps working."""
    uri = str(tmp_path / "wh")
    old = run_frames(run_id="run-old", model_name="old-model")
    for name in ("scores", "edge"):
        old[name].write_delta(storage.table_uri(uri, storage.PUBLISHED, name))
    old["runs"].drop("head_sha").with_columns(status=pl.lit("published")).write_delta(
        storage.table_uri(uri, storage.PUBLISHED, "runs")
    )
    assert storage.read_table(uri, "runs")["head_sha"].to_list() == [None]

    new = run_frames(run_id="run-new", model_name="new-model")
    new["runs"] = new["runs"].with_columns(head_sha=pl.lit("a" * 40))
    assert stage(uri, new, tmp_path).status == "staged"
    publish(uri, "run-new")
    runs = storage.read_table(uri, "runs").sort("run_id")
    assert runs.select("run_id", "head_sha").rows() == [("run-new", "a" * 40), ("run-old", None)]
    assert storage.read_table(uri, "runs", version=0)["head_sha"].to_list() == [None]
    assert set(storage.read_table(uri, "leaderboard")["run_id"]) == {"run-new", "run-old"}


def test_a_head_sha_that_is_not_a_commit_fails_the_contract(tmp_path: Path) -> None:
    frames = run_frames()
    frames["runs"] = frames["runs"].with_columns(head_sha=pl.lit("main"))
    result = stage(str(tmp_path / "wh"), frames, tmp_path)
    assert result.status == "failed" and "head_sha" in result.report_path.read_text()


def test_tables_are_named_by_their_contracts(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    assert storage.read_table(uri, "leaderboard").columns == [c for c in storage.TABLES["leaderboard"].names]
    with pytest.raises(storage.WarehouseError, match="did you mean 'scores'"):
        storage.read_table(uri, "score")


def test_a_run_s_items_are_staged_then_published_with_it_in_a_partition_of_their_own(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    with_items = run_frames(run_id="run-1", model_name="a", variants=("FP32", "Q4_K_M"), samples=3)
    assert stage(uri, with_items, tmp_path).status == "staged"
    assert storage.read_table(uri, "samples").is_empty()  # staged, not visible yet
    publish(uri, "run-1")
    published = storage.read_table(uri, "samples", run_id="run-1")
    keys = ["variant_id", "task", "doc_id"]
    assert published.sort(keys).equals(with_items["samples"].sort(keys))
    assert published.height == 2 * 5 * 3  # variants x tasks x items
    assert [p.name for p in (tmp_path / "wh" / "published" / "samples").glob("run_id=*")] == ["run_id=run-1"]
    before = versions(uri)
    publish(uri, "run-1")  # idempotent: no new version of any table, items included
    assert versions(uri) == before

    # a run staged without items (before they were kept) still publishes
    assert stage(uri, run_frames(run_id="run-2", model_name="b"), tmp_path).status == "staged"
    publish(uri, "run-2")
    assert storage.read_table(uri, "samples", run_id="run-2").is_empty()
    assert set(storage.read_table(uri, "leaderboard")["model_name"]) == {"a", "b"}


def test_items_of_a_task_the_run_did_not_plan_fail_its_contract(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    frames = run_frames(samples=2)
    frames["samples"] = frames["samples"].with_columns(task=pl.lit("slmb_bbq"))
    result = stage(uri, frames, tmp_path)
    assert result.status == "failed"
    assert "planned unit (variant/task) of a sample" in result.report.summary()
    assert storage.read_table(uri, "samples", storage.STAGING).is_empty()
