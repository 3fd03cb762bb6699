"""The steps of ``benchmark_submission``: thin Prefect tasks over ``evals``.

Tasks pass paths, ids and small frozen values; models live in Ray actors and
never cross a task boundary. Our own content-addressed cache (evals.cache)
decides what reruns, so Prefect's input cache is off (``NO_CACHE``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run, task_run

from contracts.errors import UserError
from contracts.submission import Submission, load_submission, parse_submission
from evals import paths
from evals.cache import UnitCache
from evals.execution import UnitReport, execute_unit
from evals.planning import Plan, PlanOptions, WorkUnit, make_plan
from evals.pool import PoolOptions, WorkerPool, ensure_ray
from evals.progress import Progress
from evals.results import (
    RunInfo,
    edge_frame,
    new_run_id,
    retention_frame,
    runs_frame,
    scores_frame,
    summary_markdown,
)
from evals.variants import Variant


@dataclass(frozen=True)
class EdgeReport:
    """The edge unit of one variant: its EDGE rows, or why there are none."""

    name: str
    variant_id: str
    rows: list[dict[str, object]]
    error: str | None = None


@dataclass(frozen=True)
class RunFrames:
    """The run's rows, as written to its folder (parquet) and staged."""

    runs: Path
    scores: Path
    edge: Path
    summary: str
    failures: list[UnitReport] = field(default_factory=list)

    def read(self) -> dict[str, pl.DataFrame]:
        return {name: pl.read_parquet(getattr(self, name)) for name in ("runs", "scores", "edge")}


class PullRequestBusy(UserError):
    """Another benchmark of the same pull request is already under way."""


# States of a flow run that has not finished.
_UNFINISHED = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING")


@task(name="check-pull-request-free", cache_policy=NO_CACHE)
def check_pull_request_free(pr_number: int, submission_path: str) -> None:
    """Refuse a second benchmark of one PR's submission, however it was started (ChatOps or the UI).

    The receiver already refuses a second ``/test-benchmark`` while the PR has runs (one per
    submission file it adds); a run started from the UI with a ``pr_number`` meets this check
    instead. The earliest-created unfinished run goes ahead, so two that start together do
    not both give up.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    me = flow_run.get_id()
    unfinished = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in _UNFINISHED]))
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[str(flow_run.flow_name)])),
            flow_run_filter=FlowRunFilter(state=unfinished),
        )
    mine = next((r for r in runs if str(r.id) == me), None)
    earlier = [
        r
        for r in runs
        if str(r.id) != me
        and (r.parameters or {}).get("pr_number") == pr_number
        and (r.parameters or {}).get("submission_path") == submission_path
        and (mine is None or (r.created, str(r.id)) < (mine.created, me))
    ]
    if earlier:
        raise PullRequestBusy(
            f"pr_number: a benchmark of {submission_path} for PR #{pr_number} is already under way "
            f"(flow run {earlier[0].id}, {earlier[0].state_name}); wait for it to finish or cancel it first"
        )


@task(name="validate-submission", cache_policy=NO_CACHE)
def validate_submission(path: str, text: str | None = None, from_pull_request: bool = False) -> Submission:
    """The submission file at ``path``, or ``text`` (named ``path``) when the caller passes the text.

    ``from_pull_request`` applies the rules for PR files (hub weights or the PR's own folder only),
    from the text alone, before anything looks at this machine's disk.
    """
    if text is None:
        return load_submission(path, from_pull_request=from_pull_request)
    return parse_submission(text, path, from_pull_request=from_pull_request)


@task(name="plan-benchmark", cache_policy=NO_CACHE)
def plan_benchmark(submission: Submission, path: str, options: PlanOptions) -> Plan:
    return make_plan(submission, path, options)


@task(name="start-run", cache_policy=NO_CACHE)
def start_run(
    plan: Plan,
    submission: Submission,
    output_dir: str | None,
    pr_number: int | None,
    head_sha: str | None,
    submission_text: str | None = None,
) -> RunInfo:
    run_id = new_run_id(submission.model.name)
    run_dir = Path(output_dir) if output_dir else paths.runs_dir() / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "plan.md").write_text(plan.table() + "\n")
    (run_dir / "plan.json").write_text(
        json.dumps(
            {
                "submission": plan.submission_path,
                "suite": plan.suite,
                "units": [{"name": u.name, "cache_key": u.cache_key, "cost": u.cost} for u in plan.units],
            },
            indent=1,
        )
    )
    raw = Path(plan.submission_path).read_bytes() if submission_text is None else submission_text.encode()
    (run_dir / "submission.yaml").write_bytes(raw)  # the run folder keeps what it evaluated
    return RunInfo(
        run_id,
        run_dir,
        datetime.now(UTC),
        submission_sha256=hashlib.sha256(raw).hexdigest(),
        flow_run_id=_flow_run_id(),
        pr_number=pr_number,
        head_sha=head_sha,
    )


def _flow_run_id() -> str | None:
    run_id = flow_run.get_id()
    return str(run_id) if run_id else None


@task(name="start-workers", cache_policy=NO_CACHE)
def start_workers(plan: Plan, variant: Variant, options: PoolOptions) -> WorkerPool:
    """A pool for the variant; actors start on the first unit that misses the cache."""
    cache = UnitCache()
    if plan.measure_edge or any(cache.get(u.cache_key) is None for u in plan.units_of(variant)):
        # Ray here, in the flow's own thread, not in a unit's: Ray's daemons are bound
        # (PR_SET_PDEATHSIG) to the thread that starts them and die when it ends.
        ensure_ray()
    return WorkerPool(variant, plan.include_paths, plan.needs_builtin_tasks, options, seed=plan.seed)


def _unit_run_name() -> str:
    return f"unit {task_run.parameters['unit'].name}"


UNIT_RETRIES = 2


def _transient(exc: BaseException) -> bool:
    """Errors worth another try: the cluster or the network, not the unit itself.

    A worker process that dies is already restarted and its call retried by Ray
    (``max_restarts``/``max_task_retries``); what reaches here has outlived that.
    """
    from ray.exceptions import ObjectLostError, RaySystemError

    return isinstance(exc, RaySystemError | ObjectLostError | ConnectionError | TimeoutError)


@task(name="run-unit", task_run_name=_unit_run_name, cache_policy=NO_CACHE, retries=UNIT_RETRIES, retry_delay_seconds=2)
def run_unit(unit: WorkUnit, pool: WorkerPool, run_dir: Path, progress: Progress) -> UnitReport:
    try:
        report = execute_unit(unit, pool, UnitCache(), run_dir)
    except Exception as exc:  # a failed unit is recorded as data; the run goes on
        if _transient(exc) and task_run.run_count <= UNIT_RETRIES:
            raise  # Prefect retries the unit
        report = UnitReport(unit.name, "failed", None, 0.0, error=_cause(exc))
        get_run_logger().error("unit %s failed: %s", unit.name, report.error)
    print(progress.done(unit, report))
    return report


def _cause(exc: BaseException) -> str:
    """The root error of a (possibly Ray-wrapped) exception, in one line."""
    cause = getattr(exc, "cause", None) or exc.__cause__ or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"[:500]


@task(name="measure-edge", task_run_name="edge {pool.variant.variant_id}", cache_policy=NO_CACHE)
def measure_edge(pool: WorkerPool, run: RunInfo, progress: Progress) -> EdgeReport:
    """Edge figures of the variant, on one of its actors, after its units: nothing else runs meanwhile.

    Never cached: they describe the machine as much as the model.
    """
    name = f"{pool.variant.variant_id}/edge"
    try:
        measured = pool.measure_edge(run.run_id)
    except Exception as exc:  # recorded as data, like a unit
        get_run_logger().error("edge unit %s failed: %s", name, _cause(exc))
        report = EdgeReport(name, pool.variant.variant_id, [], error=_cause(exc))
    else:
        report = EdgeReport(name, pool.variant.variant_id, measured["rows"])
    print(progress.edge_done(report.name, report.error))
    return report


@task(name="stop-workers", cache_policy=NO_CACHE)
def stop_workers(pool: WorkerPool) -> None:
    pool.shutdown()


@task(name="collect-results", cache_policy=NO_CACHE)
def collect_results(
    info: RunInfo, plan: Plan, submission: Submission, reports: list[UnitReport], edge: list[EdgeReport]
) -> RunFrames:
    failures = [r for r in reports if r.status == "failed"]
    failures += [UnitReport(e.name, "failed", None, 0.0, e.error) for e in edge if e.error]
    error = "; ".join(f"{r.name}: {r.error}" for r in failures) or None
    scores = scores_frame(info.run_id, plan, reports)
    edge_rows = edge_frame([row for e in edge for row in e.rows])
    runs = runs_frame(info, plan, submission, reports, "failed" if failures else "staged", error)
    kept = retention_frame(runs, scores)
    for name, frame in (("scores", scores), ("edge", edge_rows), ("runs", runs), ("retention", kept)):
        frame.write_parquet(info.run_dir / f"{name}.parquet")
    summary = summary_markdown(info, plan, scores, reports, edge_rows, kept)
    (info.run_dir / "summary.md").write_text(summary)
    return RunFrames(
        info.run_dir / "runs.parquet", info.run_dir / "scores.parquet", info.run_dir / "edge.parquet", summary, failures
    )


@task(name="report-summary", cache_policy=NO_CACHE)
def report_summary(info: RunInfo, frames: RunFrames) -> None:
    create_markdown_artifact(
        key="benchmark-summary", markdown=frames.summary, description=f"SLM Bench run {info.run_id}"
    )
