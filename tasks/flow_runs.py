"""Prefect's record of flow runs, read one way: the unfinished runs of one pull request.

Both the benchmark flow's own check (``tasks.benchmark.check_pull_request_free``)
and the ChatOps receiver (``flows.chatops.runs``) ask "is a benchmark of this PR
still under way?"; this is their one query. A run belongs to a PR through its
``pr_number`` parameter, which every run of a PR carries however it was started
(a PR comment or the Prefect UI).
"""

from __future__ import annotations

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType

# States of a flow run that has not finished.
UNFINISHED = (StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING)


def unfinished_runs(client: SyncPrefectClient, flow_name: str, pr_number: int, tag: str | None = None) -> list[FlowRun]:
    """Runs of flow ``flow_name`` for pull request ``pr_number`` (with ``tag``, when given) not yet finished, oldest first."""
    runs = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(UNFINISHED))),
            tags=FlowRunFilterTags(all_=[tag]) if tag else None,
        ),
    )
    mine = [r for r in runs if (r.parameters or {}).get("pr_number") == pr_number]
    return sorted(mine, key=lambda r: (r.created, str(r.id)))
