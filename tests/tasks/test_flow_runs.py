"""The one query for "unfinished runs of this PR", on a real Prefect API."""

from __future__ import annotations

import uuid

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Cancelled, Completed, Running

from tasks.flow_runs import unfinished_runs, unfinished_runs_tagged


@flow(name="flow-runs-probe")
def probe(pr_number: int | None = None, submission_path: str = "") -> None:
    """Never executed: its runs are created in Prefect with the parameters a benchmark run carries."""


def test_unfinished_runs_of_one_pr_oldest_first_and_tag_narrows() -> None:
    name = f"flow-runs-probe-{uuid.uuid4().hex[:8]}"
    named = probe.with_options(name=name)
    with get_client(sync_client=True) as client:
        first = client.create_flow_run(named, parameters={"pr_number": 5}, tags=["pr:a/b#5"])
        second = client.create_flow_run(named, parameters={"pr_number": 5})
        client.set_flow_run_state(second.id, Running(), force=True)
        done = client.create_flow_run(named, parameters={"pr_number": 5})
        client.set_flow_run_state(done.id, Completed(), force=True)
        cancelled = client.create_flow_run(named, parameters={"pr_number": 5})
        client.set_flow_run_state(cancelled.id, Cancelled(), force=True)
        other_pr = client.create_flow_run(named, parameters={"pr_number": 6})
        try:
            assert [r.id for r in unfinished_runs(client, name, 5)] == [first.id, second.id]
            assert [r.id for r in unfinished_runs(client, name, 5, tag="pr:a/b#5")] == [first.id]
            assert [r.id for r in unfinished_runs(client, name, 6)] == [other_pr.id]
            assert unfinished_runs(client, name, 7) == []
        finally:
            for run in (first, second, other_pr):
                client.set_flow_run_state(run.id, Cancelled(), force=True)


def test_every_unfinished_run_is_found_past_one_page_and_tags_select_several_prs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tasks.flow_runs

    monkeypatch.setattr(tasks.flow_runs, "PAGE", 2)  # the API's cap is 200: the same paging, fewer runs
    name = f"flow-runs-probe-{uuid.uuid4().hex[:8]}"
    named = probe.with_options(name=name)
    with get_client(sync_client=True) as client:
        runs = [
            client.create_flow_run(named, parameters={"pr_number": pr}, tags=[f"pr:a/b#{pr}"]) for pr in (1, 1, 2, 3, 3)
        ]
        try:
            assert {r.id for r in unfinished_runs_tagged(client, name, None)} == {r.id for r in runs}
            assert [r.id for r in unfinished_runs(client, name, 3)] == [runs[3].id, runs[4].id]
            both = unfinished_runs_tagged(client, name, ["pr:a/b#1", "pr:a/b#3", "pr:a/b#9"])
            assert sorted(r.id for r in both) == sorted(r.id for r in runs if r.tags != ["pr:a/b#2"])
        finally:
            for run in runs:
                client.set_flow_run_state(run.id, Cancelled(), force=True)
