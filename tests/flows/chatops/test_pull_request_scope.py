"""A PR's scope is read pinned to one commit, in full, at a bounded cost; each test is named after what it tries.

PR numbers 300-319: the session's GitHub stand-in is shared with the other ChatOps tests.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from flows.chatops.github import GitHub
from flows.chatops.scope import MAX_SUBMISSION_FILES, ScopeError
from tests.flows.chatops.conftest import REPO, SECRET, SUBMISSION, Receiver, comment, flow_runs_of, pull_request
from tests.servers import serving

NEW_FILE = "models/submissions/tiny-model.yaml"
EVIL = "zzz/evil.py"  # sorts after every submission file: the last one a capped list would show


def test_a_code_change_hidden_behind_3000_submission_files_is_refused_before_any_file_is_read(
    receiver: Receiver,
) -> None:
    gh = receiver.github
    files = {f"models/submissions/m-{i:04}.yaml": SUBMISSION for i in range(3000)} | {EVIL: "import os"}
    pull = gh.add_pull(300, files, {EVIL: "modified"})
    since = len(gh.calls)
    opened = receiver.deliver("pull_request", pull_request(300, pull.head_sha))
    assert (opened.status_code, opened.json()["result"]) == (200, "invalid"), opened.text
    assert "this PR changes 3,001 files; a submission PR adds at most 10 submission files" in opened.json()["detail"]
    command = receiver.deliver("issue_comment", comment(300, "/test-benchmark --limit 1"))
    assert command.status_code == 422 and "3,001 files" in command.json()["detail"]
    assert flow_runs_of(300) == []
    new_calls = gh.calls[since:]
    # one read of the PR per delivery, two refusal comments: no file list, no file text
    assert [c["method"] for c in new_calls].count("GET") == 2, [c["path"] for c in new_calls]
    assert not any("/contents/" in c["path"] or "/files" in c["path"] for c in new_calls)


def test_a_file_list_shorter_than_the_prs_changed_files_is_refused(receiver: Receiver) -> None:
    gh = receiver.github
    gh.add_pull(301, {NEW_FILE: SUBMISSION, "models/submissions/b.yaml": SUBMISSION, EVIL: "x"}, {EVIL: "modified"})
    gh.listing_caps[301] = 2  # GitHub cut the list short: the changed code file is not in it
    refused = receiver.deliver("issue_comment", comment(301, "/test-benchmark --limit 1"))
    assert refused.status_code == 422, refused.text
    assert "GitHub listed 2 of the 3 files this PR changes" in refused.json()["detail"]
    assert flow_runs_of(301) == []


def test_a_pr_of_more_submission_files_than_the_cap_is_refused(receiver: Receiver) -> None:
    gh = receiver.github
    files = {f"models/submissions/m-{i}.yaml": SUBMISSION for i in range(MAX_SUBMISSION_FILES + 1)}
    pull = gh.add_pull(302, files)
    since = len(gh.calls)
    checked = receiver.deliver("pull_request", pull_request(302, pull.head_sha))
    assert checked.json()["result"] == "invalid" and "changes 11 files" in checked.json()["detail"]
    assert not any("/contents/" in c["path"] for c in gh.calls[since:])
    assert receiver.deliver("issue_comment", comment(302, "/test-benchmark")).status_code == 422


def test_a_force_push_between_reading_the_head_and_listing_its_files_cannot_swap_the_checked_commit(
    receiver: Receiver,
) -> None:
    """The head read holds a code change; a force-push right after it leaves only the submission file.

    A check that listed "whatever the PR holds now" saw the clean commit and recorded the run
    against the one with the code change.
    """
    gh = receiver.github
    tainted = gh.add_pull(303, {NEW_FILE: SUBMISSION, EVIL: "import os"}, {EVIL: "modified"}).head_sha
    gh.on_pull_read[303] = lambda: gh.push(303, {NEW_FILE: SUBMISSION})
    refused = receiver.deliver("issue_comment", comment(303, "/test-benchmark --limit 1"))
    assert refused.status_code == 422, refused.text
    assert f"`{EVIL}` is outside `models/submissions/`" in refused.json()["detail"]
    assert flow_runs_of(303) == []
    (compared,) = [c for c in gh.calls if c["path"].endswith(f"...{tainted}")]  # the listing pinned to the head read
    assert compared["method"] == "GET"

    gh.on_pull_read[303] = lambda: gh.push(303, {NEW_FILE: SUBMISSION, EVIL: "import os"}, {EVIL: "modified"})
    clean = gh.pulls[303].head_sha
    accepted = receiver.deliver("issue_comment", comment(303, "/test-benchmark --limit 1"))
    assert accepted.status_code == 202, accepted.text
    (run,) = flow_runs_of(303)
    assert run.parameters["head_sha"] == clean  # the commit whose files were seen, not the one pushed after


def test_push_results_reads_the_scope_again_and_refuses_a_pr_that_grew(receiver: Receiver) -> None:
    gh = receiver.github
    head = gh.add_pull(304, {NEW_FILE: SUBMISSION}).head_sha
    assert receiver.ops is not None
    store = receiver.ops.store
    store.record_benchmark("fr-304", REPO, 304, head, NEW_FILE, "/test-benchmark")
    store.finish_benchmark("fr-304", "completed", "run-304", None)
    gh.pulls[304].files[EVIL] = "modified"  # the same head now shows one more file (its base moved, say)
    gh.listing_caps[304] = 1
    refused = receiver.deliver("issue_comment", comment(304, "/push-results"))
    assert refused.status_code == 422, refused.text
    assert "GitHub listed 1 of the 2 files this PR changes" in refused.json()["detail"]
    assert flow_runs_of(304) == []


def test_the_merge_reads_the_scope_again_right_before_it(receiver: Receiver) -> None:
    from flows.chatops.reporting import _check_scope_before_merge

    gh = receiver.github
    tested = gh.add_pull(305, {NEW_FILE: SUBMISSION}).head_sha
    github = GitHub(receiver.github_url, "t0ken")
    try:
        _check_scope_before_merge(github, REPO, 305, tested)  # unchanged: it may merge
        gh.push(305, {NEW_FILE: SUBMISSION, EVIL: "import os"}, {EVIL: "modified"})
        with pytest.raises(ScopeError, match="is outside"):
            _check_scope_before_merge(github, REPO, 305, tested)
        gh.push(305, {NEW_FILE: SUBMISSION})
        with pytest.raises(ScopeError, match=f"not the benchmarked {tested[:7]}"):
            _check_scope_before_merge(github, REPO, 305, tested)
    finally:
        github.close()


@pytest.mark.parametrize(
    ("full_name", "status"), [("someone-else/fork", 403), ("../../user", 400), ("a/b/c", 400), ("own/..", 400)]
)
def test_a_delivery_for_a_repository_not_served_or_not_a_name_is_refused(
    receiver: Receiver, full_name: str, status: int
) -> None:
    receiver.github.add_pull(306, {NEW_FILE: SUBMISSION})
    since = len(receiver.github.calls)
    payload = comment(306, "/test-benchmark --limit 1")
    payload["repository"]["full_name"] = full_name
    refused = receiver.deliver("issue_comment", payload)
    assert refused.status_code == status, refused.text
    assert receiver.github.calls[since:] == [] and flow_runs_of(306) == []


def test_a_receiver_without_its_repository_refuses_to_start() -> None:
    from flows.chatops.config import ChatOpsConfig, ConfigError

    with pytest.raises(ConfigError, match="SLMBENCH_GITHUB_REPO is not set"):
        ChatOpsConfig.from_env({"SLMBENCH_WEBHOOK_SECRET": "s"})
    with pytest.raises(ConfigError, match="'not a repo' is not a repository"):
        ChatOpsConfig.from_env({"SLMBENCH_WEBHOOK_SECRET": "s", "SLMBENCH_GITHUB_REPO": "not a repo"})


def test_pushes_past_a_prs_hourly_checks_are_answered_429_without_calling_github(
    receiver: Receiver, tmp_path: Path
) -> None:
    from flows.chatops.app import create_app
    from flows.chatops.config import ChatOpsConfig
    from flows.chatops.dispatch import new_chatops

    config = ChatOpsConfig.from_env(
        {
            "SLMBENCH_WEBHOOK_SECRET": SECRET.decode(),
            "SLMBENCH_GITHUB_REPO": REPO,
            "SLMBENCH_GITHUB_API_URL": receiver.github_url,
            "SLMBENCH_CHATOPS_DIR": str(tmp_path),
            "SLMBENCH_WAREHOUSE": str(tmp_path / "warehouse"),
            "SLMBENCH_PR_CHECKS_PER_HOUR": "2",
        }
    )
    gh = receiver.github
    gh.add_pull(307, {NEW_FILE: SUBMISSION})
    gh.add_pull(308, {NEW_FILE: SUBMISSION})
    with serving(create_app(config, new_chatops(config))) as url:
        limited = Receiver(url, gh, receiver.github_url, tmp_path)
        answers = []
        for _ in range(4):
            head = gh.push(307)
            answers.append(limited.deliver("pull_request", pull_request(307, head, "synchronize")))
        since = len(gh.calls)
        late = limited.deliver("issue_comment", comment(307, "/test-benchmark"))
        other = limited.deliver("pull_request", pull_request(308, gh.pulls[308].head_sha))
    assert [a.json()["result"] for a in answers] == ["valid", "valid", "rate limited", "rate limited"]
    assert answers[2].status_code == 429 and "had its 2 checks of the last hour" in answers[2].json()["detail"]
    assert late.status_code == 429
    assert [c for c in gh.calls[since:] if "/307" in c["path"]] == []  # nothing asked of GitHub for it
    assert other.json()["result"] == "valid"  # another PR has its own budget
    audit = [r for r in limited.audit_records() if r["event"] == "rate_limited"]
    assert len(audit) == 3 and {r["pr"] for r in audit} == {307}


def test_a_signed_deeply_nested_body_is_answered_400_not_500(receiver: Receiver) -> None:
    body = b"[" * 200_000  # past the JSON parser's recursion limit, under the body cap
    answer = receiver.deliver("issue_comment", None, raw=body, delivery=str(uuid.uuid4()))
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"result": "rejected", "detail": "body is JSON nested too deeply to read"}
