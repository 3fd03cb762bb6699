"""The submissions queue: events appended to a real Delta table, and each submission's state derived from them."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from benchmarks.synthetic import run_frames
from contracts.tables import QUEUE, RUNS
from evals.warehouse.queue import QueueEvent, QueueWriter, attempts, read_queue, record, submission_states
from evals.warehouse.storage import STAGING, merge, table_versions

T0 = datetime(2026, 3, 1, tzinfo=UTC)
FILE = "models/submissions/model-a.yaml"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def runs_row(run_id: str, flow_run: str | None, status: str, minutes: int, error: str | None = None) -> pl.DataFrame:
    frame = run_frames(run_id=run_id, model_name="Model-A", variants=["model-a--FP32", "model-a--Q8_0"])["runs"]
    return frame.with_columns(
        status=pl.lit(status),
        flow_run_id=pl.lit(flow_run, pl.String),
        submission_path=pl.lit(FILE),
        error=pl.lit(error, pl.String),
        started_at=pl.lit(at(minutes)),
        finished_at=pl.lit(at(minutes + 5)),
    )


def states_of(uri: str, published: pl.DataFrame | None = None) -> dict[str, dict]:
    events, staged, _, _ = read_queue(uri)
    frame = submission_states(events, staged, RUNS.empty() if published is None else published)
    return {r["submission_path"]: r for r in frame.iter_rows(named=True)}


def test_a_submission_moves_from_validated_to_published(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    assert record(uri, QueueEvent("validated", FILE, model_name="Model-A", pr_number=4, at=at(0)))
    assert states_of(uri)[FILE]["state"] == "validated"

    record(uri, QueueEvent("queued", FILE, flow_run_id="fr-1", pr_number=4, at=at(1)))
    assert states_of(uri)[FILE]["state"] == "queued"

    # "./x" and "x" name one file; progress events: the latest count shows
    record(uri, QueueEvent("running", "./" + FILE, flow_run_id="fr-1", run_id="run-1", units_total=8, at=at(2)))
    record(uri, QueueEvent("running", FILE, flow_run_id="fr-1", run_id="run-1", units_done=4, units_total=8, at=at(3)))
    running = states_of(uri)[FILE]
    assert (running["state"], running["units_done"], running["units_total"]) == ("running", 4, 8)
    assert running["started_at"] == at(1) and running["updated_at"] == at(3)

    merge(uri, STAGING, RUNS, runs_row("run-1", "fr-1", "staged", 2), "run-1", "stage")
    assert states_of(uri)[FILE]["state"] == "staged"
    published = runs_row("run-1", "fr-1", "published", 2)
    entry = states_of(uri, published)[FILE]
    assert (entry["state"], entry["run_id"], entry["model_name"], entry["earlier"]) == (
        "published",
        "run-1",
        "Model-A",
        0,
    )


def test_a_failed_run_stays_until_the_file_is_run_again(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    record(uri, QueueEvent("running", FILE, flow_run_id="fr-1", at=at(0)))
    record(uri, QueueEvent("failed", FILE, flow_run_id="fr-1", detail="locate-weights: no such file", at=at(1)))
    # a later validation (a new commit on the PR) is no rerun: the failure stays
    record(uri, QueueEvent("validated", FILE, pr_number=4, at=at(2)))
    failed = states_of(uri)[FILE]
    assert (failed["state"], failed["detail"]) == ("failed", "locate-weights: no such file")

    # the rerun's contracts fail too: the warehouse's reason, the run's own id
    record(uri, QueueEvent("running", FILE, flow_run_id="fr-2", run_id="run-2", units_total=2, at=at(10)))
    merge(uri, STAGING, RUNS, runs_row("run-2", None, "failed", 10, "2 of 40 expectations failed"), "run-2", "stage")
    again = states_of(uri)[FILE]
    assert (again["state"], again["attempt"], again["detail"]) == ("failed", "fr-2", "2 of 40 expectations failed")
    assert (again["earlier"], again["earlier_failed"]) == (1, ["fr-1"])

    # a third run that is only queued: the failures move to its history
    record(uri, QueueEvent("queued", FILE, flow_run_id="fr-3", at=at(20)))
    latest = states_of(uri)[FILE]
    assert (latest["state"], latest["earlier"], latest["earlier_failed"]) == ("queued", 2, ["fr-1", "fr-2"])


def test_the_run_ids_flow_run_joins_rows_that_name_only_one(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    record(uri, QueueEvent("running", FILE, flow_run_id="fr-9", run_id="run-9", units_total=3, at=at(0)))
    merge(uri, STAGING, RUNS, runs_row("run-9", None, "staged", 0), "run-9", "stage")
    events, staged, _, _ = read_queue(uri)
    (only,) = attempts(events, staged, RUNS.empty()).iter_rows(named=True)
    assert (only["attempt"], only["state"], only["run_id"]) == ("fr-9", "staged", "run-9")


def test_prefect_runs_join_as_events(tmp_path: Path) -> None:
    """A run Prefect knows crashed (no hook ran) is failed, though the queue last heard it running."""
    uri = str(tmp_path / "wh")
    record(uri, QueueEvent("running", FILE, flow_run_id="fr-5", run_id="run-5", units_done=1, units_total=4, at=at(0)))
    live = pl.DataFrame(
        [
            {"event_id": "p1", "at": at(9), "state": "failed", "submission_path": FILE, "flow_run_id": "fr-5",
             "detail": "Prefect: Crashed: the process was killed"},
            {"event_id": "p2", "at": at(8), "state": "queued", "submission_path": "models/submissions/b.yaml",
             "flow_run_id": "fr-6"},
        ],
        schema=QUEUE.schema,
    )  # fmt: skip
    events, staged, _, _ = read_queue(uri)
    states = {r["submission_path"]: r for r in submission_states(events, staged, RUNS.empty(), live).to_dicts()}
    assert (states[FILE]["state"], states[FILE]["units_done"]) == ("failed", 1)
    assert states["models/submissions/b.yaml"]["state"] == "queued"


def test_a_queue_write_that_fails_is_a_warning_not_an_error(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert not record(str(blocker / "wh"), QueueEvent("running", FILE, at=at(0)))
    assert "could not record running" in caplog.text


def test_events_are_one_append_each_and_checked_when_made(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    for i in range(3):
        record(uri, QueueEvent("running", FILE, flow_run_id="fr", units_done=i, units_total=3, at=at(i)))
    history = table_versions(uri, "queue", STAGING)
    assert history["operation"].to_list()[-3:] == ["WRITE"] * 3 and history["rows_added"].to_list()[-3:] == [1] * 3
    with pytest.raises(ValueError, match="not one of"):
        QueueEvent("published", FILE)
    with pytest.raises(ValueError, match=r"head_sha: 'main' does not match"):
        QueueEvent("validated", FILE, head_sha="main")
    with pytest.raises(ValueError, match=r"units_done: -1 is out of range"):
        QueueEvent("running", FILE, units_done=-1)
    # the event's fields are the queue table's columns, declared there once
    assert {f.name for f in dataclasses.fields(QueueEvent)} == set(QUEUE.names)


def test_the_queue_as_it_stood_before_a_moment(tmp_path: Path) -> None:
    uri = str(tmp_path / "wh")
    record(uri, QueueEvent("running", FILE, flow_run_id="fr-1", at=at(0)))
    moment = table_versions(uri, "queue", STAGING)["timestamp"][-1] + timedelta(milliseconds=1)
    time.sleep(0.01)  # the next commit's timestamp (milliseconds) comes after the moment
    record(uri, QueueEvent("failed", FILE, flow_run_id="fr-1", detail="later", at=at(1)))
    then, _, version, _ = read_queue(uri, until=moment)
    now, _, _, _ = read_queue(uri)
    assert (then.height, version, now.height) == (1, 0, 2)


def test_a_writer_takes_events_from_many_threads_and_writes_them_all(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    """The receiver's writer: put() hands over, one thread appends; flush() waits for all of it."""
    from concurrent.futures import ThreadPoolExecutor

    uri = str(tmp_path / "wh")
    writer = QueueWriter(uri)
    files = [f"models/submissions/m{i}.yaml" for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda f: writer.put(QueueEvent("validated", f, pr_number=1)), files))
    assert writer.flush()
    events, _, _, _ = read_queue(uri)
    assert sorted(events["submission_path"].to_list()) == sorted(files)
    assert table_versions(uri, "queue", STAGING).height <= len(files)  # batched when they come together

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    broken = QueueWriter(str(blocker / "wh"))
    broken.put(QueueEvent("validated", FILE))  # nothing raised here, or in flush: a warning
    assert broken.flush() and "could not record validated" in caplog.text
