"""What a delivery makes happen: permission, command, PR scope, contract, then a deployment run.

Every decision returns an :class:`Outcome` (the HTTP answer) and writes one audit line;
refusals that a PR author can act on are also posted on the PR. Whatever in a comment came
from outside (names, paths, refusal reasons) is escaped by ``flows.chatops.markdown``.

A PR's submission is untrusted: it is read with the pull-request rules (hub weights, a
fixture, or files in its own folder; nothing on the worker's disk) and, when the receiver
is online, checked to be publicly on the hub, all before a run can start.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from contracts.errors import UserError
from contracts.submission import SubmissionError, parse_submission
from contracts.tables import GIT_SHA
from evals.hub_access import hub_problems
from evals.warehouse.queue import QueueEvent, QueueWriter
from flows.benchmark import benchmark_submission
from flows.chatops import markdown as md
from flows.chatops import runs
from flows.chatops.audit import AuditLog, Store
from flows.chatops.commands import PUSH_RESULTS, Command, CommandError, parse_command
from flows.chatops.config import ChatOpsConfig
from flows.chatops.events import (
    TRUSTED_ASSOCIATIONS,
    Event,
    Ignored,
    PullRequestChanged,
    PullRequestComment,
)
from flows.chatops.github import GitHub
from flows.chatops.scope import ScopeError, submission_files
from flows.publish import publish_results

SHA_RE = re.compile(GIT_SHA)


@dataclass(frozen=True)
class Outcome:
    status: int
    result: str
    detail: str = ""
    flow_runs: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {"result": self.result, "detail": self.detail, "flow_runs": self.flow_runs}


class Refused(UserError):
    """A command that cannot go ahead; ``status`` is the HTTP answer, the message goes on the PR."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class ChatOps:
    def __init__(self, config: ChatOpsConfig, github: GitHub, store: Store, audit: AuditLog) -> None:
        self.config, self.github, self.store, self.audit = config, github, store, audit
        self.prefect = runs.Orchestrator()
        self.queue = QueueWriter(config.warehouse)  # the submissions queue, written off the request path
        self._pr_locks: dict[tuple[str, int], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def handle(self, delivery: str, event: Event) -> Outcome:
        if isinstance(event, Ignored):
            return Outcome(200, "ignored", event.reason)
        if isinstance(event, PullRequestChanged):
            return self._validate_pr(delivery, event)
        return self._command(delivery, event)

    def _command(self, delivery: str, event: PullRequestComment) -> Outcome:
        trail = {"delivery": delivery, "repo": event.repo, "pr": event.pr, "author": event.author}
        try:
            command = parse_command(event.body)
        except CommandError as exc:
            command, error = None, exc
        else:
            error = None
            if command is None:
                return Outcome(200, "ignored", "not a command")
        if not self._allowed(event):
            self.audit.write("command_refused", **trail, reason="author not allowed", association=event.association)
            return Outcome(403, "forbidden", f"{event.author} may not run commands")
        if error is not None or command is None:
            self.audit.write("command_refused", **trail, reason=str(error))
            self._reply(event, f"{md.mention(event.author)} {md.text(error)}")
            return Outcome(422, "invalid command", str(error))
        self.audit.write("command", **trail, command=str(command))
        try:
            with self._pr_lock(event.repo, event.pr):  # one decision per PR at a time (check, then start)
                if command.name == PUSH_RESULTS:
                    return self._push_results(event, trail)
                return self._test_benchmark(event, command, trail)
        except Refused as exc:
            self.audit.write("command_refused", **trail, command=str(command), reason=str(exc))
            self._reply(event, f"{md.mention(event.author)} {md.code(command)} refused:\n\n{md.block(exc)}")
            return Outcome(exc.status, "refused", str(exc))

    def _allowed(self, event: PullRequestComment) -> bool:
        return event.association in TRUSTED_ASSOCIATIONS or event.author.lower() in self.config.maintainers

    def _test_benchmark(self, event: PullRequestComment, command: Command, trail: dict[str, Any]) -> Outcome:
        _check_suite(command.suite)
        head_sha = self._open_head(event.repo, event.pr)
        submissions = self._checked_submissions(event.repo, event.pr, head_sha)
        tag = runs.pr_tag(event.repo, event.pr)
        active = self.prefect.active_runs(self.config.benchmark_deployment, event.repo, event.pr)
        if active:
            raise Refused(
                f"a benchmark of this PR is already running ({runs.run_url(active[0])}); wait for it to finish", 409
            )
        started = []
        for repo_path, text in submissions.items():
            parameters = runs.flow_parameters(
                benchmark_submission,
                # The file as it was at the tested commit travels with the run, so a worker on any
                # machine reads exactly that, not whatever its checkout holds.
                submission_path=repo_path,
                submission_yaml=text,
                suite=command.suite,
                limit=command.limit,
                warehouse=self.config.warehouse,
                pr_number=event.pr,
                head_sha=head_sha,
            )
            flow_run_id = self.prefect.start(
                self.config.benchmark_deployment,
                parameters,
                [tag, f"sha:{head_sha[:12]}", "chatops"],
                f"{event.replay_key}:{repo_path}",  # signed content, not the unsigned delivery id
            )
            self.store.record_benchmark(flow_run_id, event.repo, event.pr, head_sha, repo_path, str(command))
            self._queue("queued", repo_path, text, event.pr, head_sha, flow_run_id, f"{command} by {event.author}")
            self.audit.write(
                "benchmark_started",
                **trail,
                flow_run_id=flow_run_id,
                head_sha=head_sha,
                path=repo_path,
                parameters=parameters,
            )
            started.append(flow_run_id)
        links = "\n".join(f"- {md.code(p)}: {runs.run_url(r)}" for p, r in zip(submissions, started, strict=True))
        self._reply(
            event,
            f"{md.code(command)} started for {head_sha[:7]}:\n{links}\nThe summary is posted here when it finishes.",
        )
        return Outcome(202, "started", str(command), started)

    def _push_results(self, event: PullRequestComment, trail: dict[str, Any]) -> Outcome:
        head_sha = self._open_head(event.repo, event.pr)
        history = self.store.latest_benchmarks(event.repo, event.pr)
        if not history:
            raise Refused("this PR has no benchmark run yet; run `/test-benchmark` first", 409)
        tested_sha = history[0]["head_sha"]
        if tested_sha != head_sha:
            raise Refused(
                f"commit {head_sha[:7]} was pushed after the benchmark of {tested_sha[:7]}; "
                "run `/test-benchmark` again on the current head",
                409,
            )
        newest: dict[str, dict[str, Any]] = {}
        for row in history:
            if row["head_sha"] == head_sha:
                newest.setdefault(row["path"], row)
        not_done = [
            f"`{p}` is {r['status']}" for p, r in newest.items() if r["status"] != "completed" or not r["run_id"]
        ]
        if not_done:
            raise Refused("the benchmark of the current head has not passed: " + "; ".join(not_done), 409)
        started = []
        for path, row in newest.items():
            parameters = runs.flow_parameters(publish_results, run_id=row["run_id"], warehouse=self.config.warehouse)
            tags = [runs.pr_tag(event.repo, event.pr), f"sha:{head_sha[:12]}", "chatops"]
            flow_run_id = self.prefect.start(
                self.config.publish_deployment, parameters, tags, f"{event.replay_key}:{path}"
            )
            self.store.record_publish(flow_run_id, event.repo, event.pr, row["run_id"], head_sha)
            self.audit.write(
                "publish_started", **trail, flow_run_id=flow_run_id, run_id=row["run_id"], head_sha=head_sha
            )
            started.append(flow_run_id)
        links = "\n".join(
            f"- run {md.code(r['run_id'])}: {runs.run_url(f)}" for r, f in zip(newest.values(), started, strict=True)
        )
        self._reply(
            event, f"Publishing the results of {head_sha[:7]}:\n{links}\nThe PR is merged once they are published."
        )
        return Outcome(202, "started", PUSH_RESULTS, started)

    def _validate_pr(self, delivery: str, event: PullRequestChanged) -> Outcome:
        """Opened or pushed to: check scope and contract only, no model run."""
        trail = {"delivery": delivery, "repo": event.repo, "pr": event.pr, "head_sha": event.head_sha}
        try:
            texts = self._checked_submissions(event.repo, event.pr, event.head_sha)
        except Refused as exc:
            self.audit.write("validation_failed", **trail, reason=str(exc))
            self.github.comment(
                event.repo, event.pr, f"Submission check failed for {md.code(event.head_sha[:7])}:\n\n{md.block(exc)}"
            )
            return Outcome(200, "invalid", str(exc))
        paths = list(texts)
        self.audit.write("validation_passed", **trail, paths=paths)
        for path, text in texts.items():
            self._queue("validated", path, text, event.pr, event.head_sha, None, "the pull request's check passed")
        if event.action == "opened":
            self.github.comment(
                event.repo,
                event.pr,
                f"Submission check passed: {', '.join(md.code(p) for p in paths)}. "
                "A maintainer can start the benchmark with `/test-benchmark`.",
            )
        return Outcome(200, "valid", ", ".join(paths))

    def _open_head(self, repo: str, pr: int) -> str:
        pull = self.github.pull(repo, pr)
        if pull.get("state") != "open":
            raise Refused(f"PR #{pr} is {pull.get('state')}", 409)
        head_sha = str(pull.get("head", {}).get("sha", ""))
        if not SHA_RE.match(head_sha):
            raise Refused(f"PR #{pr} has no readable head commit", 502)
        return head_sha

    def _checked_submissions(self, repo: str, pr: int, head_sha: str) -> dict[str, str]:
        """The PR's new submission files (repo path -> text at ``head_sha``), each passing its contract."""
        try:
            paths = submission_files(self.github.pull_files(repo, pr))
        except ScopeError as exc:
            raise Refused(str(exc)) from None
        texts: dict[str, str] = {}
        problems = []
        for path in paths:
            text = self.github.file_text(repo, path, head_sha)
            try:
                submission = parse_submission(text, path, from_pull_request=True)
                if self.config.hub_check and (missing := hub_problems(submission.model, self.config.hub_endpoint)):
                    raise SubmissionError(path, missing)
            except SubmissionError as exc:
                problems.append(f"{path}:\n" + "\n".join(f"  - {p}" for p in exc.problems))
                continue
            texts[path] = text
        if problems:
            raise Refused("the submission does not pass its contract:\n" + "\n".join(problems))
        return texts

    def _queue(
        self, state: str, path: str, text: str, pr: int, head_sha: str, flow_run_id: str | None, detail: str
    ) -> None:
        """A line in the submissions queue (``evals.warehouse.queue``); it neither fails nor delays the delivery."""
        name = parse_submission(text, path, from_pull_request=True).model.name  # it passed this check already
        event = QueueEvent(
            state, path, model_name=name, flow_run_id=flow_run_id, pr_number=pr, head_sha=head_sha, detail=detail
        )
        self.queue.put(event)

    def _pr_lock(self, repo: str, pr: int) -> threading.Lock:
        with self._locks_guard:
            return self._pr_locks.setdefault((repo, pr), threading.Lock())

    def _reply(self, event: PullRequestComment, body: str) -> None:
        self.github.comment(event.repo, event.pr, body)


def _check_suite(suite: str) -> None:
    """A suite a PR comment names must be one of the catalog's (a comment never reaches a suite file)."""
    from evals.catalog import load_catalog

    suites = load_catalog().suites
    if suite not in suites:
        raise Refused(f"--suite {suite}: unknown suite; known suites: {', '.join(sorted(suites))}")


def new_chatops(config: ChatOpsConfig) -> ChatOps:
    from flows.chatops.audit import open_record

    store, audit = open_record(config.state_dir)
    return ChatOps(config, GitHub(config.github_api_url, config.github_token), store, audit)


__all__ = ["ChatOps", "Event", "Outcome", "Refused", "new_chatops"]
