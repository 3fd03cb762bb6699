"""One Prefect API, one GitHub stand-in and one receiver under uvicorn for the ChatOps tests."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from flows.chatops.signature import sign
from tests.flows.chatops.github_standin import GitHubStandIn
from tests.servers import serving

if TYPE_CHECKING:
    from flows.chatops.dispatch import ChatOps

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
SECRET = b"test-secret"
REPO = "slmbench/slmbench"
SUBMISSION = (Path(__file__).parents[3] / "models/submissions/demo-trained.yaml").read_text()


@pytest.fixture(scope="session")
def prefect_api(prefect_server: None) -> None:
    """The session's one Prefect test server (tests/conftest.py)."""


@pytest.fixture(scope="session")
def deployments(prefect_api: None) -> list[str]:
    from flows.chatops.deployments import build_deployments

    names = []
    for deployment in build_deployments(concurrent_benchmarks=2):
        deployment.apply()  # registered, not served: flow runs are created but nothing executes them
        names.append(f"{deployment.flow_name}/{deployment.name}")
    return names


@pytest.fixture(scope="session")
def github() -> Iterator[tuple[GitHubStandIn, str]]:
    standin = GitHubStandIn(repo=REPO)
    with serving(standin.app()) as url:
        yield standin, url


@dataclass
class Receiver:
    url: str
    github: GitHubStandIn
    github_url: str
    state_dir: Path
    ops: ChatOps | None = None  # the receiver's own: to wait for the runs it creates after answering, its queue writer
    warehouse: str = "warehouse"  # where the receiver writes the submissions queue

    def audit_records(self) -> list[dict[str, Any]]:
        from flows.chatops.audit import AuditLog

        return AuditLog(self.state_dir / "audit.jsonl").records()

    def deliver(
        self,
        event: str,
        payload: Any,
        delivery: str | None = None,
        signature: str | None = "sign",
        raw: bytes | None = None,
        settle: bool = True,
    ) -> httpx.Response:
        """Deliver one request; with ``settle``, return once the runs it was answered for exist in Prefect."""
        body = raw if raw is not None else httpx.Request("POST", "/", json=payload).content
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "Content-Type": "application/json",
        }
        if signature == "sign":
            headers["X-Hub-Signature-256"] = sign(SECRET, body)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        response = httpx.post(f"{self.url}/webhook", content=body, headers=headers, timeout=30)
        if settle and self.ops is not None:
            self.ops.drain()
        return response


@pytest.fixture(scope="session")
def receiver(
    deployments: list[str], github: tuple[GitHubStandIn, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Receiver]:
    from flows.chatops.app import create_app
    from flows.chatops.config import ChatOpsConfig
    from flows.chatops.dispatch import new_chatops
    from flows.chatops.server import uvicorn_config

    standin, github_url = github
    state_dir = tmp_path_factory.mktemp("chatops")
    warehouse = str(tmp_path_factory.mktemp("receiver-warehouse"))
    config = ChatOpsConfig.from_env(
        {
            "SLMBENCH_WEBHOOK_SECRET": SECRET.decode(),
            "SLMBENCH_GITHUB_REPO": REPO,
            "SLMBENCH_GITHUB_API_URL": github_url,
            "SLMBENCH_GITHUB_TOKEN": "t0ken",
            "SLMBENCH_MAINTAINERS": "Trusted-Outsider",
            "SLMBENCH_CHATOPS_DIR": str(state_dir),
            "SLMBENCH_WAREHOUSE": warehouse,
        }
    )
    ops = new_chatops(config)
    app = create_app(config, ops)
    # the receiver's own server settings (header deadline, connection cap), as `slmbench webhook` runs it
    with serving(app, uvicorn_config(app, config, "127.0.0.1", 0, log_level="warning", lifespan="off")) as url:
        yield Receiver(url, standin, github_url, state_dir, ops, warehouse)


_COMMENT_IDS = itertools.count(1)


def comment(
    pr: int, body: str, author: str = "alice", association: str = "MEMBER", action: str = "created"
) -> dict[str, Any]:
    """A new comment, as GitHub sends it: its own id each time (a resent payload is a replay)."""
    return {
        "action": action,
        "repository": {"full_name": REPO},
        "issue": {"number": pr, "pull_request": {"url": f"https://example.invalid/pulls/{pr}"}},
        "comment": {
            "id": next(_COMMENT_IDS),
            "body": body,
            "user": {"login": author},
            "author_association": association,
            "created_at": "2026-01-02T03:04:05Z",
            "updated_at": "2026-01-02T03:04:05Z",
        },
    }


def pull_request(pr: int, head_sha: str, action: str = "opened") -> dict[str, Any]:
    return {
        "action": action,
        "repository": {"full_name": REPO},
        "pull_request": {"number": pr, "head": {"sha": head_sha}},
    }


def queue_events(receiver: Receiver, pr: int) -> list[dict[str, Any]]:
    """The submissions queue's events of one PR, oldest first, once the receiver has written what it was given."""
    import polars as pl

    from evals.warehouse.queue import read_queue

    assert receiver.ops is not None and receiver.ops.queue.flush()
    events, _, _, _ = read_queue(receiver.warehouse)
    return events.filter(pl.col("pr_number") == pr).sort("at").to_dicts()


def flow_runs_of(pr: int) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    from flows.chatops.runs import pr_tag

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[pr_tag(REPO, pr)])))
