"""The receiver under uvicorn, against a real Prefect API and the GitHub stand-in.

Flow runs are created on registered (not served) deployments and not executed here: the
created flow run already shows everything the receiver decides (deployment, parameters,
tags), and the reporting hooks are called with the real flow run and a final state, which
covers the failure paths cheaply. test_end_to_end.py executes the runs with served flows.
"""

from __future__ import annotations

import re
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from flows.chatops.reporting import report_benchmark, report_publish
from flows.chatops.runs import CONCURRENT_CREATES, pr_tag
from flows.publish import PublishSummary
from tests.flows.chatops.conftest import (
    REPO,
    SECRET,
    SUBMISSION,
    Receiver,
    comment,
    flow_runs_of,
    pull_request,
    queue_events,
)
from tests.servers import serving

NEW_FILE = "models/submissions/tiny-model.yaml"


@pytest.fixture
def hook_env(receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The environment the served flows (and so their hooks) run with; returns SLMBENCH_HOME."""
    for name, value in {
        "SLMBENCH_HOME": str(tmp_path / "home"),
        "SLMBENCH_GITHUB_API_URL": receiver.github_url,
        "SLMBENCH_GITHUB_TOKEN": "t0ken",
        "SLMBENCH_CHATOPS_DIR": str(receiver.state_dir),
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path / "home"


def finish(run: Any, state: State, hook: Callable[[Any, Any, State], None]) -> None:
    """End a flow run in Prefect and call its hook, as the engine does at the end of a run."""
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run.id, state.model_copy(update={"data": None}), force=True)
    hook(None, run, state)


def test_rejections_start_nothing(receiver: Receiver) -> None:
    gh = receiver.github
    gh.add_pull(11, {NEW_FILE: SUBMISSION})
    gh.add_pull(12, {NEW_FILE: SUBMISSION, "flows/cli.py": "import os\n"}, {"flows/cli.py": "modified"})
    valid = comment(11, "/test-benchmark --limit 2")

    assert receiver.deliver("issue_comment", valid, signature="sha256=" + "0" * 64).status_code == 401
    assert receiver.deliver("issue_comment", valid, signature=None).status_code == 401
    assert receiver.deliver("issue_comment", None, raw=b'{"action": "created", ').status_code == 400
    big = b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    assert receiver.deliver("issue_comment", None, raw=big).status_code == 413
    assert (
        receiver.deliver("issue_comment", comment(11, "/test-benchmark", "mallory", "CONTRIBUTOR")).status_code == 403
    )
    unknown = receiver.deliver("issue_comment", comment(11, "/benchmark-now"))
    assert unknown.status_code == 422 and "unknown command" in unknown.json()["detail"]
    outside = receiver.deliver("issue_comment", comment(12, "/test-benchmark"))
    assert outside.status_code == 422 and "flows/cli.py" in outside.json()["detail"]
    assert receiver.deliver("issue_comment", comment(11, "nice work!")).json()["result"] == "ignored"
    assert receiver.deliver("push", {"ref": "main"}).json()["result"] == "ignored"
    assert (
        receiver.deliver("pull_request", {**pull_request(11, gh.pulls[11].head_sha), "action": "closed"}).status_code
        == 200
    )

    assert flow_runs_of(11) == [] and flow_runs_of(12) == []
    assert any("flows/cli.py" in c for c in gh.comments(12))


def test_pull_request_opened_validates_only(receiver: Receiver) -> None:
    gh = receiver.github
    pull = gh.add_pull(13, {NEW_FILE: SUBMISSION})
    ok = receiver.deliver("pull_request", pull_request(13, pull.head_sha))
    assert (ok.status_code, ok.json()["result"]) == (200, "valid")
    broken = gh.add_pull(14, {NEW_FILE: re.sub(r"(?m)^  parameters: .*$", '  parameters: "lots"', SUBMISSION)})
    bad = receiver.deliver("pull_request", pull_request(14, broken.head_sha, "synchronize"))
    assert bad.json()["result"] == "invalid" and "model.parameters" in bad.json()["detail"]
    assert flow_runs_of(13) == [] and flow_runs_of(14) == []
    # the passing check is the submission's first line in the queue; the failing one is only a PR comment
    (validated,) = queue_events(receiver, 13)
    assert (validated["state"], validated["submission_path"], validated["model_name"]) == (
        "validated",
        NEW_FILE,
        "SLMB-Demo-Trained",
    )
    assert validated["head_sha"] == pull.head_sha and queue_events(receiver, 14) == []


def test_test_benchmark_starts_one_run_reports_and_push_results_checks_the_head(
    receiver: Receiver, hook_env: Path
) -> None:
    gh = receiver.github
    pull = gh.add_pull(21, {NEW_FILE: SUBMISSION})
    payload = comment(
        21, "/test-benchmark --limit 3 --suite offline", author="trusted-outsider", association="CONTRIBUTOR"
    )
    first = receiver.deliver("issue_comment", payload, delivery="d-21")
    assert first.status_code == 202, first.text
    assert receiver.deliver("issue_comment", payload, delivery="d-21").json()["result"] == "duplicate"
    # the same signed body under a new delivery id is a replay, not a second command
    assert receiver.deliver("issue_comment", payload).json()["result"] == "duplicate"
    again = comment(
        21, "/test-benchmark --limit 3 --suite offline", author="trusted-outsider", association="CONTRIBUTOR"
    )
    busy = receiver.deliver("issue_comment", again)  # a second command while the first is queued
    assert busy.status_code == 409

    (run,) = flow_runs_of(21)
    (started,) = [r for r in receiver.audit_records() if r["event"] == "benchmark_started" and r["pr"] == 21]
    assert started["flow_run_id"] == str(run.id) and first.json()["result"] == "accepted"
    assert run.parameters["limit"] == 3 and run.parameters["suite"] == "offline"
    assert run.parameters["pr_number"] == 21 and run.parameters["head_sha"] == pull.head_sha
    assert run.parameters["submission_path"] == NEW_FILE and run.parameters["submission_yaml"] == SUBMISSION
    assert pr_tag(REPO, 21) in run.tags
    (queued,) = queue_events(receiver, 21)  # the replays and the refused second command add nothing
    assert (queued["state"], queued["flow_run_id"], queued["submission_path"]) == ("queued", str(run.id), NEW_FILE)

    # The run finishes: its hook posts the summary (the engine would call it in the flow-run process).
    home = hook_env
    (home / "runs" / "run-abc").mkdir(parents=True)
    (home / "runs" / "run-abc" / "summary.md").write_text("| task | score |\n|---|---|\n| arc | 41.0 |\n")
    finish(run, Completed(data="run-abc"), report_benchmark)
    report = gh.comments(21)[-1]
    assert "run `run-abc`" in report and "| arc | 41.0 |" in report and str(run.id) in report

    # A commit pushed after the benchmark: refused, nothing published.
    gh.push(21)
    late = receiver.deliver("issue_comment", comment(21, "/push-results"))
    assert late.status_code == 409 and "pushed after the benchmark" in late.json()["detail"]
    assert "pushed after the benchmark" in gh.comments(21)[-1]
    assert [r.id for r in flow_runs_of(21)] == [run.id]


def test_push_results_publishes_the_tested_head_then_merges(receiver: Receiver, hook_env: Path) -> None:
    gh = receiver.github
    pull = gh.add_pull(31, {NEW_FILE: SUBMISSION})
    started = receiver.deliver("issue_comment", comment(31, "/test-benchmark --limit 1"))
    (bench,) = flow_runs_of(31)
    assert receiver.deliver("issue_comment", comment(31, "/push-results")).status_code == 409  # not finished yet
    finish(bench, Failed(message="2 of 8 units failed"), report_benchmark)
    assert "Reason:" in gh.comments(31)[-1] and "\n2 of 8 units failed\n" in gh.comments(31)[-1]
    assert started.status_code == 202

    receiver.deliver("issue_comment", comment(31, "/test-benchmark --limit 1"))
    rerun = next(r for r in flow_runs_of(31) if r.id != bench.id)
    finish(rerun, Completed(data="run-31"), report_benchmark)
    published = receiver.deliver("issue_comment", comment(31, "/push-results"))
    assert published.status_code == 202, published.text
    publish_run = next(r for r in flow_runs_of(31) if r.parameters.get("run_id") == "run-31")
    assert publish_run.parameters["run_id"] == "run-31"

    finish(publish_run, Completed(data=PublishSummary("run-31", 1, None, None, {})), report_publish)
    merge = [c for c in gh.calls if c["method"] == "PUT" and c["path"].endswith("/pulls/31/merge")]
    assert len(merge) == 1 and merge[0]["json"]["sha"] == pull.head_sha and merge[0]["auth"] == "Bearer t0ken"
    assert "Published run `run-31`" in gh.comments(31)[-1] and "Merged" in gh.comments(31)[-1]

    events = [r["event"] for r in receiver.audit_records() if r.get("pr") == 31]
    assert events[:3] == ["command", "benchmark_accepted", "benchmark_started"] and "published_and_merged" in events


def test_a_second_command_before_the_first_run_exists_is_refused(receiver: Receiver) -> None:
    """The answer comes before the create; the PR's reservation covers the gap between them."""
    assert receiver.ops is not None
    gh = receiver.github
    gh.add_pull(51, {NEW_FILE: SUBMISSION})
    gate = receiver.ops.prefect._creates  # the receiver's own create gate, held so the create waits
    held = [gate.acquire(timeout=30) for _ in range(CONCURRENT_CREATES)]
    try:
        first = receiver.deliver("issue_comment", comment(51, "/test-benchmark --limit 1"), settle=False)
        assert (first.status_code, first.json()["result"]) == (202, "accepted")
        second = receiver.deliver("issue_comment", comment(51, "/test-benchmark --limit 2"), settle=False)
        assert second.status_code == 409 and "being started" in second.json()["detail"], second.text
        assert flow_runs_of(51) == []  # answered, not yet created
    finally:
        for _ in held:
            gate.release()
    receiver.ops.drain()
    (run,) = flow_runs_of(51)
    assert run.parameters["limit"] == 1
    third = receiver.deliver("issue_comment", comment(51, "/test-benchmark --limit 3"))
    assert third.status_code == 409 and "already running" in third.json()["detail"]
    (told,) = [c for c in gh.comments(51) if "started for" in c]
    assert str(run.id) in told


def test_a_create_that_fails_after_the_answer_is_told_on_the_pr_and_audited(receiver: Receiver, tmp_path: Path) -> None:
    from flows.chatops.app import create_app
    from flows.chatops.config import ChatOpsConfig
    from flows.chatops.dispatch import new_chatops

    config = ChatOpsConfig.from_env(
        {
            "SLMBENCH_WEBHOOK_SECRET": SECRET.decode(),
            "SLMBENCH_GITHUB_REPO": REPO,
            "SLMBENCH_GITHUB_API_URL": receiver.github_url,
            "SLMBENCH_CHATOPS_DIR": str(tmp_path),
            "SLMBENCH_BENCHMARK_DEPLOYMENT": "benchmark-submission/no-such-deployment",
        }
    )
    ops = new_chatops(config)
    receiver.github.add_pull(52, {NEW_FILE: SUBMISSION})
    with serving(create_app(config, ops)) as url:
        broken = Receiver(url, receiver.github, receiver.github_url, tmp_path, ops)
        payload = comment(52, "/test-benchmark --limit 1")
        accepted = broken.deliver("issue_comment", payload, delivery="d-52")
        assert accepted.status_code == 202, accepted.text
        (failed,) = [r for r in broken.audit_records() if r["event"] == "benchmark_start_failed"]
        assert failed["delivery"] == "d-52" and "no-such-deployment" in failed["error"]
        assert "could not be started" in receiver.github.comments(52)[-1]
        assert flow_runs_of(52) == []
        # forgotten, and the PR released: GitHub's "Redeliver" is handled, not taken for a replay
        again = broken.deliver("issue_comment", payload, delivery="d-52")
        assert (again.status_code, again.json()["result"]) == (202, "accepted")


def test_an_oversized_body_still_being_sent_gets_its_whole_413(receiver: Receiver) -> None:
    """The 413 goes out while the client is still sending its body. Closing a socket that holds unread
    bytes makes the kernel reset the connection and drop what it has not sent yet, which can be the
    answer's body (a clean-clone run once got "peer closed connection without sending complete message
    body"); the lingering close (flows/chatops/server.py) sends the answer, then a FIN, and drains.
    The race depends on timing, so it is tried several times."""
    host, port = receiver.url.removeprefix("http://").split(":")
    for _ in range(8):
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            head = f"POST /webhook HTTP/1.1\r\nHost: {host}\r\nX-GitHub-Event: issue_comment\r\n"
            head += f"X-GitHub-Delivery: {uuid.uuid4()}\r\nContent-Length: {10 * 1024 * 1024}\r\n\r\n"
            conn.sendall(head.encode() + b"x" * (2 * 1024 * 1024))  # declared past the cap: answered at once
            time.sleep(0.2)  # it has answered and ended the connection, with bytes of ours unread
            try:
                conn.sendall(b"x" * (1024 * 1024))  # the client, unaware, goes on sending
            except OSError:
                pass
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        status, _, rest = answer.partition(b"\r\n")
        assert status == b"HTTP/1.1 413 Request Entity Too Large" and b'"result":"rejected"' in rest, answer[:300]
