"""What a delivery makes happen: permission, command, PR scope, contract, then a deployment run.

Every check runs before the answer; only creating the flow runs comes after it. A command
that passed every check is answered 202 at once and its runs are created right after, on
a small pool of threads (``ChatOps._starter``): GitHub gives a delivery 10 s, and creating
runs is the one slow step (Prefect serializes writes). A create that then fails is audited
and reported on the PR. A ``/test-benchmark`` reserves its PR in the store before it looks
for the PR's runs in Prefect, and releases it once its runs exist there, so a second command
is refused whichever it meets first, in this process or another.

Every decision returns an :class:`Outcome` (the HTTP answer) and writes one audit line;
refusals that a PR author can act on are also posted on the PR. Whatever in a comment came
from outside (names, paths, refusal reasons) is escaped by ``flows.chatops.markdown``.

A PR's submission is untrusted: it is read with the pull-request rules (hub weights, a
fixture, or files in its own folder; nothing on the worker's disk) and, when the receiver
is online, checked to be publicly on the hub, all before a run can start.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from contracts.errors import UserError
from contracts.submission import SubmissionError, parse_submission
from evals.models.hub_access import hub_problems
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
from flows.chatops.scope import PinnedScope, ScopeError, ScopeUnreadable, pinned_scope
from flows.publish import publish_results

# How long an accepted /test-benchmark holds its PR before its runs exist in Prefect. Creating them
# takes seconds; a receiver that dies in between leaves the reservation, which lapses after this.
RESERVATION_S = 600.0


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


@dataclass(frozen=True)
class Start:
    """A flow run an accepted command will create: which deployment, for which file, with which parameters."""

    deployment: str
    path: str
    parameters: dict[str, Any]


class ChatOps:
    def __init__(self, config: ChatOpsConfig, github: GitHub, store: Store, audit: AuditLog) -> None:
        self.config, self.github, self.store, self.audit = config, github, store, audit
        self.prefect = runs.Orchestrator()
        self.queue = QueueWriter(config.warehouse)  # the submissions queue, written off the request path
        self._pr_locks: dict[tuple[str, int], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        # Flow runs are created here, after the answer: as many at once as Prefect takes well.
        self._starter = ThreadPoolExecutor(runs.CONCURRENT_CREATES, thread_name_prefix="chatops-start")

    def drain(self) -> None:
        """Wait for the runs of accepted commands to be created (shutdown, tests)."""
        self._starter.shutdown(wait=True)
        self._starter = ThreadPoolExecutor(runs.CONCURRENT_CREATES, thread_name_prefix="chatops-start")

    def handle(self, delivery: str, event: Event) -> Outcome:
        with self.prefect.answering():  # earlier commands' runs are created after this answer
            return self._handle(delivery, event)

    def _handle(self, delivery: str, event: Event) -> Outcome:
        if isinstance(event, Ignored):
            return Outcome(200, "ignored", event.reason)
        if not self.config.serves(event.repo):
            self.audit.write("delivery_refused", delivery=delivery, repo=event.repo, reason="repository not served")
            return Outcome(403, "forbidden", f"this receiver does not serve {event.repo}")
        if isinstance(event, PullRequestChanged):
            return self._validate_pr(delivery, event)
        return self._command(delivery, event)

    def _over_budget(self, delivery: str, repo: str, pr: int) -> Outcome | None:
        """429 once PR ``pr`` had its checks for the hour: each costs GitHub calls from one shared budget."""
        if self.store.take_pr_check(repo, pr, self.config.pr_checks_per_hour, 3600.0):
            return None
        limit = self.config.pr_checks_per_hour
        self.audit.write("rate_limited", delivery=delivery, repo=repo, pr=pr, limit_per_hour=limit)
        return Outcome(429, "rate limited", f"PR #{pr} had its {limit} checks of the last hour; try again later")

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
        if limited := self._over_budget(trail["delivery"], event.repo, event.pr):
            return limited
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
        """Every check, then the PR reserved and 202; the runs are created right after, in the background.

        Reserve, then look in Prefect: a reservation another receiver process holds refuses this
        command, and one released after its runs were created leaves them in Prefect to be seen.
        """
        _check_suite(command.suite)
        head_sha, submissions = self._checked_submissions(event.repo, event.pr, self._open_pull(event.repo, event.pr))
        holder = self.store.reserve_pr(event.repo, event.pr, trail["delivery"], RESERVATION_S)
        if holder is not None:
            raise Refused(f"a benchmark of this PR is being started (delivery {holder}); wait for it to finish", 409)
        try:
            active = self.prefect.active_runs(self.config.benchmark_deployment, event.repo, event.pr)
        except Exception:
            self.store.release_pr(event.repo, event.pr, trail["delivery"])
            raise
        if active:
            self.store.release_pr(event.repo, event.pr, trail["delivery"])
            raise Refused(
                f"a benchmark of this PR is already running ({runs.run_url(active[0])}); wait for it to finish", 409
            )
        starts = [
            Start(
                self.config.benchmark_deployment,
                repo_path,
                runs.flow_parameters(
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
                ),
            )
            for repo_path, text in submissions.items()
        ]
        self.audit.write("benchmark_accepted", **trail, head_sha=head_sha, paths=list(submissions))
        self._starter.submit(self._start_benchmarks, event, command, head_sha, starts, trail)
        return Outcome(202, "accepted", str(command))

    def _start_benchmarks(
        self, event: PullRequestComment, command: Command, head_sha: str, starts: list[Start], trail: dict[str, Any]
    ) -> None:
        """The accepted command's runs, created now; then the PR is told, and its reservation released."""
        try:
            started = self._create(event, head_sha, starts, trail, "benchmark")
            if started is not None:
                for start, flow_run_id in zip(starts, started, strict=True):
                    self.store.record_benchmark(flow_run_id, event.repo, event.pr, head_sha, start.path, str(command))
                    self._queue(
                        "queued",
                        start.path,
                        start.parameters["submission_yaml"],
                        event.pr,
                        head_sha,
                        flow_run_id,
                        f"{command} by {event.author}",
                    )
                links = "\n".join(
                    f"- {md.code(s.path)}: {runs.run_url(r)}" for s, r in zip(starts, started, strict=True)
                )
                self._tell(
                    event,
                    f"{md.code(command)} started for {head_sha[:7]}:\n{links}\n"
                    "The summary is posted here when it finishes.",
                    trail,
                )
        finally:
            self.store.release_pr(event.repo, event.pr, trail["delivery"])

    def _create(
        self, event: PullRequestComment, head_sha: str, starts: list[Start], trail: dict[str, Any], what: str
    ) -> list[str] | None:
        """Create the flow runs of an accepted command; None, reported on the PR and audited, if one fails.

        The idempotency key is the signed content of the delivery plus the file: a redelivery
        (or a retry after a failure) returns the run already created instead of a second one.
        """
        tags = [runs.pr_tag(event.repo, event.pr), f"sha:{head_sha[:12]}", "chatops"]
        started: list[str] = []
        try:
            for start in starts:
                key = f"{event.replay_key}:{start.path}"  # signed content, not the unsigned delivery id
                flow_run_id = self.prefect.start(start.deployment, start.parameters, tags, key)
                self.audit.write(
                    f"{what}_started",
                    **trail,
                    flow_run_id=flow_run_id,
                    head_sha=head_sha,
                    path=start.path,
                    parameters=start.parameters,
                )
                started.append(flow_run_id)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.audit.write(f"{what}_start_failed", **trail, head_sha=head_sha, error=error, flow_runs=started)
            # GitHub was answered 202 and will not send it again by itself; its "Redeliver" button
            # (or the same comment once more) must be handled, not taken for a replay.
            self.store.forget_delivery(trail["delivery"], event.replay_key)
            self._tell(
                event,
                f"{md.mention(event.author)} the {what} could not be started:\n\n{md.block(error)}\n\n"
                "Comment the command again to retry.",
                trail,
            )
            return None
        return started

    def _tell(self, event: PullRequestComment, body: str, trail: dict[str, Any]) -> None:
        """A comment posted after the answer was sent: a failure is audited, there is nobody to answer 502 to."""
        try:
            self._reply(event, body)
        except Exception as exc:
            self.audit.write("comment_failed", **trail, error=f"{type(exc).__name__}: {exc}")

    def _push_results(self, event: PullRequestComment, trail: dict[str, Any]) -> Outcome:
        pull = self._open_pull(event.repo, event.pr)
        head_sha = self._scope(event.repo, event.pr, pull).head_sha  # the scope again: the merge is what counts
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
        starts = [
            Start(
                self.config.publish_deployment,
                path,
                runs.flow_parameters(publish_results, run_id=row["run_id"], warehouse=self.config.warehouse),
            )
            for path, row in newest.items()
        ]
        self.audit.write("publish_accepted", **trail, head_sha=head_sha, runs=[r["run_id"] for r in newest.values()])
        self._starter.submit(self._start_publishes, event, head_sha, starts, trail)
        return Outcome(202, "accepted", PUSH_RESULTS)

    def _start_publishes(
        self, event: PullRequestComment, head_sha: str, starts: list[Start], trail: dict[str, Any]
    ) -> None:
        started = self._create(event, head_sha, starts, trail, "publish")
        if started is None:
            return
        run_ids = [s.parameters["run_id"] for s in starts]
        for run_id, flow_run_id in zip(run_ids, started, strict=True):
            self.store.record_publish(flow_run_id, event.repo, event.pr, run_id, head_sha)
        links = "\n".join(f"- run {md.code(r)}: {runs.run_url(f)}" for r, f in zip(run_ids, started, strict=True))
        self._tell(
            event,
            f"Publishing the results of {head_sha[:7]}:\n{links}\nThe PR is merged once they are published.",
            trail,
        )

    def _validate_pr(self, delivery: str, event: PullRequestChanged) -> Outcome:
        """Opened or pushed to: check scope and contract only, no model run.

        The check reads the PR as it is now: after a quick second push the head differs from the
        event's, and the newer head is the one to check (its own event follows).
        """
        trail = {"delivery": delivery, "repo": event.repo, "pr": event.pr, "head_sha": event.head_sha}
        if limited := self._over_budget(delivery, event.repo, event.pr):
            return limited
        head_sha = event.head_sha
        try:
            pull = self.github.pull(event.repo, event.pr)
            head_sha, texts = self._checked_submissions(event.repo, event.pr, pull)
        except Refused as exc:
            self.audit.write("validation_failed", **trail, reason=str(exc))
            self.github.comment(
                event.repo, event.pr, f"Submission check failed for {md.code(head_sha[:7])}:\n\n{md.block(exc)}"
            )
            return Outcome(200, "invalid", str(exc))
        paths = list(texts)
        self.audit.write("validation_passed", **trail, checked_sha=head_sha, paths=paths)
        for path, text in texts.items():
            self._queue("validated", path, text, event.pr, head_sha, None, "the pull request's check passed")
        if event.action == "opened":
            self.github.comment(
                event.repo,
                event.pr,
                f"Submission check passed: {', '.join(md.code(p) for p in paths)}. "
                "A maintainer can start the benchmark with `/test-benchmark`.",
            )
        return Outcome(200, "valid", ", ".join(paths))

    def _open_pull(self, repo: str, pr: int) -> dict[str, Any]:
        pull = self.github.pull(repo, pr)
        if pull.get("state") != "open":
            raise Refused(f"PR #{pr} is {pull.get('state')}", 409)
        return pull

    def _scope(self, repo: str, pr: int, pull: dict[str, Any]) -> PinnedScope:
        try:
            return pinned_scope(self.github, repo, pr, pull)
        except ScopeUnreadable as exc:
            raise Refused(str(exc), 502) from None
        except ScopeError as exc:
            raise Refused(str(exc)) from None

    def _checked_submissions(self, repo: str, pr: int, pull: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """The PR's head and its new submission files (repo path -> text at that head), each passing its contract."""
        scope = self._scope(repo, pr, pull)
        texts: dict[str, str] = {}
        problems = []
        for path in scope.paths:
            text = self.github.file_text(repo, path, scope.head_sha)
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
        return scope.head_sha, texts

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
    from evals.catalog.suites import load_catalog

    suites = load_catalog().suites
    if suite not in suites:
        raise Refused(f"--suite {suite}: unknown suite; known suites: {', '.join(sorted(suites))}")


def new_chatops(config: ChatOpsConfig) -> ChatOps:
    from flows.chatops.audit import open_record

    store, audit = open_record(config.state_dir)
    return ChatOps(config, GitHub(config.github_api_url, config.github_token), store, audit)


__all__ = ["ChatOps", "Event", "Outcome", "Refused", "new_chatops"]
