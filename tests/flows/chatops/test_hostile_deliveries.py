"""Hostile pull requests and deliveries against the real receiver, each test named after what it tries.

The bot's comments are rendered with a CommonMark parser (markdown-it, HTML allowed as GitHub
allows it) to check what a reader would see, not only which characters were written.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from evals.catalog.suites import load_catalog
from evals.site.leaderboard_changes import leaderboard_change
from tests.flows.chatops.conftest import SUBMISSION, Receiver, comment, flow_runs_of, pull_request

NEW_FILE = "models/submissions/tiny-model.yaml"
# PR numbers 141-149: the session's GitHub stand-in is shared with test_receiver.py and test_end_to_end.py
RLO = "\u202e"


def render(markdown: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


def _with_local_path(path: str) -> str:
    return re.sub(r"(?m)^  local_path: .*$", f'  local_path: "{path}"', SUBMISSION)


def test_5000_nested_brackets_in_a_pr_get_a_refusal_comment_not_a_500(receiver: Receiver) -> None:
    gh = receiver.github
    pull = gh.add_pull(141, {NEW_FILE: "model: " + "[" * 5000})
    opened = receiver.deliver("pull_request", pull_request(141, pull.head_sha))
    assert (opened.status_code, opened.json()["result"]) == (200, "invalid")
    command = receiver.deliver("issue_comment", comment(141, "/test-benchmark"))
    assert command.status_code == 422, command.text
    reason = "line 1, column 23: nested deeper than 16 levels"
    assert reason in command.json()["detail"]
    assert len(gh.comments(141)) == 2 and all(reason in c for c in gh.comments(141))
    assert flow_runs_of(141) == []


def test_a_pr_naming_the_workers_files_is_refused_without_saying_what_exists(receiver: Receiver) -> None:
    gh = receiver.github
    answers = []
    for pr, path in ((142, "/etc"), (143, "/no/such/place-" + uuid.uuid4().hex), (144, "../../../root/.ssh")):
        gh.add_pull(pr, {NEW_FILE: _with_local_path(path)})
        refused = receiver.deliver("issue_comment", comment(pr, "/test-benchmark"))
        assert refused.status_code == 422 and flow_runs_of(pr) == []
        answers.append(refused.json()["detail"])
    assert "a submission from a pull request may not read local files outside models/submissions/" in answers[0]
    assert len(set(answers)) == 1  # word for word the same, whether the path exists or not


def test_a_replayed_body_under_a_new_delivery_id_starts_nothing(receiver: Receiver) -> None:
    receiver.github.add_pull(145, {NEW_FILE: SUBMISSION})
    payload = comment(145, "/test-benchmark --limit 1")
    assert receiver.deliver("issue_comment", payload).status_code == 202
    for _ in range(3):  # captured and re-sent, each time with a fresh X-GitHub-Delivery
        replay = receiver.deliver("issue_comment", payload, delivery=str(uuid.uuid4()))
        assert (replay.status_code, replay.json()["result"]) == (200, "duplicate")
    edited = comment(145, "/test-benchmark --limit 1", action="edited")
    assert receiver.deliver("issue_comment", edited).json()["result"] == "ignored"
    assert len(flow_runs_of(145)) == 1


@pytest.mark.parametrize("status", [404, 500])
def test_github_failing_answers_502_with_an_audit_line_and_a_redelivery_is_handled(
    receiver: Receiver, status: int
) -> None:
    pr = 146 if status == 404 else 147
    gh = receiver.github
    gh.add_pull(pr, {NEW_FILE: SUBMISSION})
    gh.failing[pr] = status
    payload, delivery = comment(pr, "/test-benchmark --limit 1"), f"d-fail-{pr}"
    failed = receiver.deliver("issue_comment", payload, delivery=delivery)
    assert failed.status_code == 502, failed.text
    assert f"GitHubError: GitHub GET /repos/slmbench/slmbench/pulls/{pr}: {status}" in failed.json()["detail"]
    (line,) = [r for r in receiver.audit_records() if r["event"] == "delivery_failed" and r["delivery"] == delivery]
    assert line["github_event"] == "issue_comment" and f": {status} " in line["error"]
    del gh.failing[pr]
    redelivered = receiver.deliver("issue_comment", payload, delivery=delivery)  # GitHub's "Redeliver"
    assert redelivered.status_code == 202, redelivered.text
    assert len(flow_runs_of(pr)) == 1


def test_an_unknown_suite_is_refused_naming_the_known_suites(receiver: Receiver) -> None:
    receiver.github.add_pull(148, {NEW_FILE: SUBMISSION})
    refused = receiver.deliver("issue_comment", comment(148, "/test-benchmark --suite nosuchsuite"))
    assert refused.status_code == 422, refused.text
    known = ", ".join(sorted(load_catalog().suites))
    assert "offline-quick" in known
    assert refused.json()["detail"] == f"--suite nosuchsuite: unknown suite; known suites: {known}"
    assert f"known suites: {known}" in receiver.github.comments(148)[-1]
    assert flow_runs_of(148) == []


def test_file_names_and_commands_cannot_inject_markdown_or_html_into_a_comment(receiver: Receiver) -> None:
    gh = receiver.github
    hostile = f"docs/x`</code><img src=x onerror=alert(1)>`|{RLO}gpj.md"
    gh.add_pull(149, {NEW_FILE: SUBMISSION, hostile: "hi"}, {hostile: "added"})
    refused = receiver.deliver("issue_comment", comment(149, "/test-benchmark"))
    assert refused.status_code == 422
    assert receiver.deliver("issue_comment", comment(149, "/test-benchmark --suite <b>x</b>")).status_code == 422
    for body in gh.comments(149):
        html = render(body)
        assert "<img" not in html and "<b>" not in html and RLO not in body, body
    assert "&lt;img src=x onerror=alert(1)&gt;" in render(gh.comments(149)[0])  # shown as text, in full
    assert "\\u202e" in gh.comments(149)[0]  # the override shown as an escape


def test_model_names_cannot_break_the_leaderboard_table(tmp_path: Path) -> None:
    from benchmarks.synthetic import publish_bulk, run_frames

    names = ["a|b|c", "<b>bold</b><script>alert(1)</script>", f"evil{RLO}fdp.exe", "x`y`` z", "[link](http://evil)"]
    runs = [run_frames(run_id=f"run-{i}", model_name=n, variants=[f"{n}--FP32"]) for i, n in enumerate(names)]
    import polars as pl

    tables = {t: pl.concat([r[t] for r in runs]) for t in ("runs", "scores", "edge")}
    tables["runs"] = tables["runs"].with_columns(status=pl.lit("published"))
    uri = str(tmp_path / "wh")
    publish_bulk(uri, tables)
    from evals.warehouse import storage as wh

    version = wh.table_versions(uri, "leaderboard", wh.PUBLISHED)["version"].max()
    change = leaderboard_change(uri, int(version))
    html = render(change)
    rows = re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)
    assert len(rows) == 1 + len(names)
    assert all(len(re.findall(r"<t[dh]", row)) == 5 for row in rows), html  # no pipe split a cell
    assert "<b>" not in html and "<script>" not in html and "<a " not in html and RLO not in change
    assert "a|b|c" in html and "&lt;b&gt;bold&lt;/b&gt;" in html and "evil\\u202efdp" in html
