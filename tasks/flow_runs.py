"""Prefect's record of flow runs, read one way: the unfinished runs of one pull request.

Both the benchmark flow's own check (``tasks.benchmark.check_pull_request_free``)
and the ChatOps receiver (``flows.chatops.runs``) ask "is a benchmark of this PR
still under way?"; this is their one query (the receiver asks it for the PRs of
many commands at once, by their tags). A run belongs to a PR through its
``pr_number`` parameter, which every run of a PR carries however it was started
(a PR comment or the Prefect UI).
"""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

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
from prefect.client.schemas.sorting import FlowRunSort

# States of a flow run that has not finished.
UNFINISHED = (StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING)


# The most runs one read returns (the API's own cap, PREFECT_API_DEFAULT_LIMIT).
PAGE = 200


def unfinished_runs(client: SyncPrefectClient, flow_name: str, pr_number: int, tag: str | None = None) -> list[FlowRun]:
    """Runs of flow ``flow_name`` for pull request ``pr_number`` (with ``tag``, when given) not yet finished, oldest first."""
    runs = unfinished_runs_tagged(client, flow_name, [tag] if tag else None)
    mine = [r for r in runs if (r.parameters or {}).get("pr_number") == pr_number]
    return sorted(mine, key=lambda r: (r.created, str(r.id)))


def unfinished_runs_tagged(client: SyncPrefectClient, flow_name: str, tags: Collection[str] | None) -> list[FlowRun]:
    """Every unfinished run of flow ``flow_name`` that carries any of ``tags`` (every one when None).

    Read page by page: one read stops at the API's cap, and a burst of commands leaves more
    unfinished runs than that. A run that finishes between two pages can move another out of
    the next one; that takes over ``PAGE`` unfinished runs of one flow and a change meanwhile.
    """
    flow_run_filter = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(UNFINISHED))),
        tags=FlowRunFilterTags(any_=sorted(set(tags))) if tags else None,
    )
    found: dict[UUID, FlowRun] = {}
    offset = 0
    while True:
        page = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
            flow_run_filter=flow_run_filter,
            sort=FlowRunSort.ID_DESC,
            limit=PAGE,
            offset=offset,
        )
        offset += len(page)
        found.update((r.id, r) for r in page)  # a run moved into the next page is not counted twice
        if len(page) < PAGE:
            return list(found.values())
