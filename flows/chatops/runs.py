"""The Prefect side of ChatOps: start deployment runs, find a PR's active runs, link to the UI.

A run's parameters are checked against its flow's signature before it is created
(:func:`flow_parameters`), so a renamed or mistyped parameter fails in the receiver,
with the command, rather than in a run.

One sync client (and its connection pool) per receiver, shared by its worker threads: opening
a client per call costs a handshake each time, which dominated latency under load.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import httpx
from prefect import Flow
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.exceptions import PrefectException

from contracts.errors import UserError
from tasks.flow_runs import unfinished_runs

# Flow runs created at once. Prefect's server serializes writes to its database, so more
# concurrent creates only add lock contention: 100 creates from 40 threads took 15-34 s
# ungated and 7-16 s gated at 4, never more than ungated (the embedded server on 2 cores;
# python -m benchmarks.flow_run_creates).
CONCURRENT_CREATES = 4


def flow_parameters(flow: Flow[..., Any], **values: Any) -> dict[str, Any]:
    """``values`` checked by name and type against ``flow``'s signature, as the Prefect UI's form checks them.

    Only the given values are passed on: the deployment's own defaults still apply to the rest.
    """
    checked = flow.validate_parameters(values)
    return {name: checked[name] for name in values}


class OrchestratorError(UserError):
    """The Prefect API failed or could not be reached: our side, not the PR's (the receiver answers 502)."""


@contextmanager
def _prefect_call(what: str) -> Iterator[None]:
    try:
        yield
    except (httpx.HTTPError, PrefectException) as exc:
        raise OrchestratorError(f"Prefect: {what} failed: {type(exc).__name__}: {exc}") from None


def pr_tag(repo: str, pr: int) -> str:
    return f"pr:{repo}#{pr}"


class Orchestrator:
    def __init__(self) -> None:
        self._client: SyncPrefectClient | None = None
        self._deployment_ids: dict[str, UUID] = {}
        self._lock = threading.Lock()
        self._creates = threading.BoundedSemaphore(CONCURRENT_CREATES)

    def _api(self) -> SyncPrefectClient:
        with self._lock:
            if self._client is None:
                self._client = get_client(sync_client=True)
                self._client.__enter__()
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.__exit__(None, None, None)

    def start(self, deployment: str, parameters: dict[str, Any], tags: list[str], idempotency_key: str) -> str:
        """Create a flow run of ``deployment``; returns its id at once.

        What ``run_deployment(name, timeout=0, as_subflow=False)`` does, on the shared client.
        The idempotency key (delivery id + file) makes a redelivery that slipped past the
        receiver's own replay check return the same flow run instead of a second one.
        """
        client = self._api()
        with _prefect_call(f"starting a run of {deployment}"):
            if deployment not in self._deployment_ids:
                self._deployment_ids[deployment] = client.read_deployment_by_name(deployment).id
            with self._creates:
                flow_run = client.create_flow_run_from_deployment(
                    self._deployment_ids[deployment], parameters=parameters, tags=tags, idempotency_key=idempotency_key
                )
        return str(flow_run.id)

    def active_runs(self, deployment: str, repo: str, pr: int) -> list[str]:
        """Ids of the unfinished runs of ``deployment``'s flow for PR ``pr`` of ``repo``, oldest first."""
        flow_name = deployment.partition("/")[0]
        with _prefect_call(f"listing the active runs of {deployment}"):
            return [str(r.id) for r in unfinished_runs(self._api(), flow_name, pr, tag=pr_tag(repo, pr))]


def run_url(flow_run_id: str) -> str:
    """The flow run in the Prefect UI, or its id where no UI URL is known (embedded mode)."""
    from prefect.settings import PREFECT_UI_URL

    ui = PREFECT_UI_URL.value()
    return f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}" if ui else f"flow run {flow_run_id}"
