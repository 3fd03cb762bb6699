"""The benchmark flow's entries in the submissions queue (``evals.warehouse.queue``), and Prefect's view of it.

The flow says when it starts, when its run is named (with its unit count) and, through the
progress counter, each tenth of its units; its failure hook says why it failed. Every write
goes through ``queue.record``, which never raises: a queue that cannot be written costs the
page a line, never the run its result.

At site build time :func:`prefect_queue` adds what only Prefect knows: runs still waiting
for a slot, and runs that crashed without their hook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.runtime import flow_run

from contracts.submission import Submission
from contracts.tables import QUEUE
from evals.cluster.progress import Progress
from evals.plan.units import Plan
from evals.results.run_folder import RunInfo
from evals.warehouse.queue import QueueEvent, record, submission_key
from tasks.benchmark import PullRequestBusy

BENCHMARK_FLOW = "benchmark-submission"
# Flow runs read from Prefect when the site is built: the newest 200 (the API's largest page).
PREFECT_RUNS = 200
_FAILURE_PREFIX = "Flow run encountered an exception: "
_QUEUED = {StateType.SCHEDULED, StateType.PENDING, StateType.PAUSED}
_FAILED = {StateType.FAILED, StateType.CRASHED, StateType.CANCELLED, StateType.CANCELLING}


def _flow_run_id() -> str | None:
    current = flow_run.get_id()
    return str(current) if current else None


@task(name="queue-started", cache_policy=NO_CACHE)
def note_started(
    warehouse: str, submission_path: str, model_name: str, pr_number: int | None, head_sha: str | None
) -> None:
    """The run has started and read its submission: it locates the weights next (a hub download can take long)."""
    record(
        warehouse,
        QueueEvent(
            "running",
            submission_path,
            model_name=model_name,
            flow_run_id=_flow_run_id(),
            pr_number=pr_number,
            head_sha=head_sha,
            detail="locating the weights and planning the run",
        ),
    )


@task(name="queue-progress", cache_policy=NO_CACHE)
def track_progress(warehouse: str, plan: Plan, submission: Submission, run: RunInfo) -> Progress:
    """A progress counter for the run's units that records each tenth of them in the queue (0 now)."""

    def running(done: int, total: int) -> None:
        event = QueueEvent(
            "running",
            plan.submission_path,
            model_name=submission.model.name,
            flow_run_id=run.flow_run_id,
            run_id=run.run_id,
            pr_number=run.pr_number,
            head_sha=run.head_sha,
            units_done=done,
            units_total=total,
            run_dir=str(run.run_dir),
        )
        record(warehouse, event)

    running(0, len(plan.units))
    return Progress(plan.units, on_milestone=running)


def note_failure(flow: Any, run: Any, state: Any) -> None:
    """Flow hook (failed, crashed, cancelled): the run failed, and why, in the queue.

    A run refused because the same PR's benchmark is already under way is not an attempt of
    its own: it is left out, so the queue keeps showing the run that goes on.
    """
    try:
        refused = isinstance(state.result(raise_on_failure=False), PullRequestBusy)
    except Exception:  # a result that cannot be read back is not a refusal
        refused = False
    params = dict(run.parameters or {})
    if refused or not params.get("submission_path"):
        return
    reason = (state.message or state.name or "failed").removeprefix(_FAILURE_PREFIX)
    if state.is_cancelled() or state.type == StateType.CANCELLING:
        reason = f"cancelled: {reason}"
    record(
        params.get("warehouse") or "warehouse",
        QueueEvent(
            "failed",
            str(params["submission_path"]),
            flow_run_id=str(run.id),
            pr_number=params.get("pr_number"),
            head_sha=params.get("head_sha"),
            detail=reason,
        ),
    )


@task(name="read-prefect-queue", cache_policy=NO_CACHE)
def prefect_queue(warehouse: str, version: int | None) -> pl.DataFrame | None:
    """The benchmark runs Prefect knows, as queue events, for the site's latest version; else None.

    Runs of another warehouse are left out (their ``warehouse`` parameter names another place);
    completed runs too: the runs tables say what became of them. None when a past version is
    built (Prefect knows only the present) or Prefect does not answer.
    """
    if version is not None:
        return None
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[BENCHMARK_FLOW])),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=PREFECT_RUNS,
            )
    except Exception as exc:  # Prefect is optional here: the warehouse alone makes the page
        from prefect import get_run_logger

        get_run_logger().warning("the queue is built without Prefect's runs: %s", exc)
        return None
    rows = []
    for run in runs:
        params = dict(run.parameters or {})
        if run.state is None or not params.get("submission_path"):
            continue
        if not _same_warehouse(str(params.get("warehouse") or "warehouse"), warehouse):
            continue
        base = {
            "submission_path": submission_key(str(params["submission_path"])),
            "flow_run_id": str(run.id),
            "pr_number": params.get("pr_number") if isinstance(params.get("pr_number"), int) else None,
        }
        if run.created is not None:
            rows.append(_row(base, "queued", run.created, "created in Prefect"))
        if run.state.type in _QUEUED:
            rows.append(_row(base, "queued", run.state.timestamp, f"Prefect: {run.state.name}"))
        elif run.state.type == StateType.RUNNING:
            rows.append(_row(base, "running", run.state.timestamp, None))
        elif run.state.type in _FAILED:
            reason = (run.state.message or run.state.name or "").removeprefix(_FAILURE_PREFIX)
            rows.append(_row(base, "failed", run.state.timestamp, f"Prefect: {run.state.name}: {reason}"))
    return QUEUE.conform(pl.DataFrame(rows, schema=QUEUE.schema)) if rows else QUEUE.empty()


def _row(base: dict[str, Any], state: str, at: Any, detail: str | None) -> dict[str, Any]:
    return {**base, "event_id": f"prefect:{base['flow_run_id']}:{state}", "state": state, "at": at, "detail": detail}


def _same_warehouse(a: str, b: str) -> bool:
    if "://" in a or "://" in b:
        return a.rstrip("/") == b.rstrip("/")
    return Path(a).resolve() == Path(b).resolve()
