"""The Prefect side of ChatOps: start deployment runs, find a PR's active runs, link to the UI.

A run's parameters are checked against its flow's signature before it is created
(:func:`flow_parameters`), so a renamed or mistyped parameter fails in the receiver,
with the command, rather than in a run.

One sync client (and its connection pool) per receiver, shared by its worker threads: opening
a client per call costs a handshake each time, which dominated latency under load.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import httpx
import pydantic
from prefect import Flow
from prefect._internal.pydantic.validated_func import ValidatedFunction
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import ParameterTypeError, PrefectException
from prefect.utilities.callables import parameters_to_args_kwargs

from contracts.errors import UserError
from tasks.flow_runs import unfinished_runs_tagged

# Flow runs created at once. Prefect's server serializes writes to its database, so more
# concurrent creates only add lock contention: 100 creates from 40 threads took 15-34 s
# ungated and 7-16 s gated at 4, never more than ungated (the embedded server on 2 cores;
# python -m benchmarks.flow_run_creates).
CONCURRENT_CREATES = 4
# How long a create waits for the deliveries being answered before going ahead anyway. Creates
# run after the answer, and compete with the answers for the Prefect server (the active-runs
# read) and for the receiver's CPU (a created run's response is parsed in full).
CREATE_YIELD_S = 2.0


def flow_parameters(flow: Flow[..., Any], **values: Any) -> dict[str, Any]:
    """``values`` checked by name and type against ``flow``'s signature, as the Prefect UI's form checks them.

    Only the given values are passed on: the deployment's own defaults still apply to the rest.
    What ``Flow.validate_parameters`` does for plain values, with its pydantic model built once
    per flow: building it per call cost ~3.5 ms, 16% of the receiver's CPU in a burst.
    """
    args, kwargs = parameters_to_args_kwargs(flow.fn, values)  # SignatureMismatchError for unknown names
    try:
        checked = _validator(flow.fn).validate_call_args(args, kwargs)
    except pydantic.ValidationError as exc:
        raise ParameterTypeError.from_validation_error(exc) from None
    return {name: checked[name] for name in values}


@functools.cache
def _validator(fn: Callable[..., Any]) -> ValidatedFunction:
    return ValidatedFunction(fn, config=pydantic.ConfigDict(arbitrary_types_allowed=True))


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
        self._unfinished = _SharedReads(lambda flow, tags: unfinished_runs_tagged(self._api(), flow, tags))
        self._answering = 0  # deliveries being handled before their answer
        self._none_answering = threading.Condition()

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
                self._yield_to_answers()
                flow_run = client.create_flow_run_from_deployment(
                    self._deployment_ids[deployment], parameters=parameters, tags=tags, idempotency_key=idempotency_key
                )
        return str(flow_run.id)

    def active_runs(self, deployment: str, repo: str, pr: int) -> list[str]:
        """Ids of the unfinished runs of ``deployment``'s flow for PR ``pr`` of ``repo``, oldest first.

        Commands checked at the same time share one read (``_SharedReads``).
        """
        flow_name = deployment.partition("/")[0]
        tag = pr_tag(repo, pr)
        with _prefect_call(f"listing the active runs of {deployment}"):
            runs = self._unfinished.get(flow_name, tag)
        mine = [r for r in runs if tag in r.tags and (r.parameters or {}).get("pr_number") == pr]
        return [str(r.id) for r in sorted(mine, key=lambda r: (r.created, str(r.id)))]

    @contextmanager
    def answering(self) -> Iterator[None]:
        """A delivery that a sender waits for: creates hold back while any is in flight (``_yield_to_answers``)."""
        with self._none_answering:
            self._answering += 1
        try:
            yield
        finally:
            with self._none_answering:
                self._answering -= 1
                if not self._answering:
                    self._none_answering.notify_all()

    def _yield_to_answers(self, most_s: float = CREATE_YIELD_S) -> bool:
        """Wait until no delivery is being answered, for at most ``most_s``; True if none was.

        Bounded so that a steady stream of commands delays the creates but never starves them.
        """
        deadline = time.monotonic() + most_s
        with self._none_answering:
            while self._answering:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._none_answering.wait(left)
        return True


class _Batch:
    def __init__(self) -> None:
        self.tags: set[str] = set()
        self.done = threading.Event()
        self.runs: list[FlowRun] = []
        self.error: BaseException | None = None


class _SharedReads:
    """Unfinished runs by tag, for many callers at once: one read per flow in flight, the rest batched.

    A caller joins the batch not yet sent, and the batch's first caller sends it once the read
    before it has come back, with every tag that joined meanwhile. So each answer comes from a
    read sent after its caller asked (after its PR was reserved), and a burst of 100 commands
    makes a few reads instead of 100 on a server that answers them one at a time (on
    PostgreSQL, the 202's p99 in a burst of 100: 1.11 s with a read each, 0.73-0.85 s batched).
    """

    def __init__(self, read: Callable[[str, list[str]], list[FlowRun]]) -> None:
        self._read = read
        self._guard = threading.Lock()
        self._open: dict[str, _Batch] = {}  # per flow, the batch still taking callers
        self._sending: dict[str, threading.Lock] = {}  # per flow, held while its read is out

    def get(self, flow: str, tag: str) -> list[FlowRun]:
        with self._guard:
            batch = self._open.get(flow)
            first = batch is None
            if batch is None:
                batch = self._open[flow] = _Batch()
            batch.tags.add(tag)
            sending = self._sending.setdefault(flow, threading.Lock())
        if first:
            with sending:  # the read before this one comes back; callers keep joining meanwhile
                with self._guard:
                    del self._open[flow]  # closed: later callers start the next batch
                try:
                    batch.runs = self._read(flow, sorted(batch.tags))
                except BaseException as exc:  # every caller of the batch sees the failure
                    batch.error = exc
                finally:
                    batch.done.set()
        batch.done.wait()
        if batch.error is not None:
            raise batch.error
        return batch.runs


def run_url(flow_run_id: str) -> str:
    """The flow run in the Prefect UI, or its id where no UI URL is known (embedded mode)."""
    from prefect.settings import PREFECT_UI_URL

    ui = PREFECT_UI_URL.value()
    return f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}" if ui else f"flow run {flow_run_id}"
