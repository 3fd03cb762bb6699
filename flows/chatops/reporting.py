"""Flow-run hooks that report back to the PR: the benchmark summary, the publish, the merge.

They run where the flow run runs (the served process or a worker), read the PR from the
ChatOps store (or the flow's ``pr_number`` + ``SLMBENCH_GITHUB_REPO`` for runs started from
the Prefect UI), and never raise: a failed report is audited, it does not fail the run.

Values that came from outside (model names, paths, failure reasons) are escaped with
``flows.chatops.markdown``. The run summary (``summary.md``) is posted as written: the run
wrote it from slugged variant ids, catalog task and suite names and numbers.
"""

from __future__ import annotations

import os
from typing import Any

from evals.results.run_folder import RunFolder, run_dir
from evals.site.leaderboard_changes import leaderboard_change
from flows.chatops import markdown as md
from flows.chatops import runs
from flows.chatops.audit import open_record
from flows.chatops.config import ChatOpsConfig
from flows.chatops.github import GitHub, GitHubError
from flows.chatops.scope import ScopeError, pinned_scope


def _context() -> tuple[ChatOpsConfig, Any, Any, GitHub]:
    config = ChatOpsConfig.from_env(require_secret=False)
    store, audit = open_record(config.state_dir)
    return config, store, audit, GitHub(config.github_api_url, config.github_token)


def _result(state: Any) -> Any:
    try:
        return state.result(raise_on_failure=False)
    except Exception:  # a result that cannot be read back is reported as missing, not as a crash of the hook
        return None


def report_benchmark(flow: Any, flow_run: Any, state: Any) -> None:
    """on_completion / on_failure / on_crashed of ``benchmark-submission``."""
    config, store, audit, github = _context()
    flow_run_id, params = str(flow_run.id), dict(flow_run.parameters or {})
    row = store.benchmark(flow_run_id)
    repo = row["repo"] if row else os.environ.get("SLMBENCH_GITHUB_REPO")
    pr = row["pr"] if row else params.get("pr_number")
    if not repo or pr is None:
        return  # not a PR run
    link = runs.run_url(flow_run_id)
    if state.is_completed():
        run_id = _result(state)
        folder = RunFolder(run_dir(str(run_id), params.get("output_dir")))
        summary = folder.summary() or "(no summary.md found)"
        raw = f"{config.results_url.rstrip('/')}/{run_id}/" if config.results_url else md.code(folder.path)
        body = (
            f"### Benchmark passed: run {md.code(run_id)}\n\nCommit {str(params.get('head_sha') or '?')[:7]}, "
            f"{md.code(params.get('submission_path'))}\n\n{summary}\n\nPrefect run: {link}\nRaw results: {raw}\n\n"
            "A maintainer can publish it with `/push-results`."
        )
        status, message = "completed", None
    else:
        run_id, status, message = None, state.type.value.lower(), state.message or state.name
        body = f"### Benchmark {md.text(status)}\n\nReason:\n\n{md.block(message)}\n\nPrefect run: {link}"
    store.finish_benchmark(flow_run_id, status, run_id, message)
    _post(github, audit, repo, int(pr), body, flow_run_id=flow_run_id, run_id=run_id, outcome=f"benchmark_{status}")


def report_publish(flow: Any, flow_run: Any, state: Any) -> None:
    """on_completion / on_failure / on_crashed of ``publish-results``: merge the PR, post the leaderboard change."""
    config, store, audit, github = _context()
    flow_run_id = str(flow_run.id)
    row = store.publish(flow_run_id)
    if row is None:
        return  # published from the UI or the CLI, not for a PR
    repo, pr, run_id = row["repo"], int(row["pr"]), row["run_id"]
    link = runs.run_url(flow_run_id)
    if not state.is_completed():
        message = state.message or state.name
        store.finish_publish(flow_run_id, state.type.value.lower(), message)
        _post(
            github,
            audit,
            repo,
            pr,
            f"### Publishing {md.code(run_id)} failed\n\nReason:\n\n{md.block(message)}\n\nPrefect run: {link}",
            flow_run_id=flow_run_id,
            run_id=run_id,
            outcome="publish_failed",
        )
        return
    store.finish_publish(flow_run_id, "completed", None)
    summary = _result(state)
    change = leaderboard_change(config.warehouse, getattr(summary, "leaderboard_version", None))
    body = f"### Published run {md.code(run_id)}\n\n{change}\n\nPrefect run: {link}"
    try:
        _check_scope_before_merge(github, repo, pr, row["head_sha"])
        github.merge(repo, pr, row["head_sha"], f"Add benchmark results for run {run_id} (#{pr})")
        body += f"\n\nMerged at {row['head_sha'][:7]}."  # a sha the receiver checked (scope.SHA_RE)
        outcome = "published_and_merged"
    except (GitHubError, ScopeError) as exc:  # e.g. 409: a commit was pushed meanwhile; the tables keep the run
        body += f"\n\nNot merged:\n\n{md.block(exc)}"
        outcome = "published_not_merged"
    _post(github, audit, repo, pr, body, flow_run_id=flow_run_id, run_id=run_id, outcome=outcome)


def _check_scope_before_merge(github: GitHub, repo: str, pr: int, tested_sha: str) -> None:
    """The PR's scope read again, pinned, just before the merge: only new submission files, at the tested head.

    GitHub's merge takes the head SHA (and answers 409 if it moved); this makes sure that the
    commit being merged is one whose whole file list was seen, however long the run took.
    """
    scope = pinned_scope(github, repo, pr)
    if scope.head_sha != tested_sha:
        raise ScopeError(
            f"the PR's head is {scope.head_sha[:7]}, not the benchmarked {tested_sha[:7]}; "
            "run `/test-benchmark` on the new head"
        )


def _post(github: GitHub, audit: Any, repo: str, pr: int, body: str, **trail: Any) -> None:
    try:
        github.comment(repo, pr, body)
        audit.write(trail.pop("outcome"), repo=repo, pr=pr, reported=True, **trail)
    except GitHubError as exc:
        audit.write(trail.pop("outcome"), repo=repo, pr=pr, reported=False, error=str(exc), **trail)
    finally:
        github.close()
