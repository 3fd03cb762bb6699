"""A PR from comment to merge with nothing simulated but GitHub: receiver -> Prefect -> served flows -> warehouse.

``slmbench serve`` runs in its own process against the session's Prefect API and executes
the flow runs the receiver creates: a real benchmark (Ray, the demo model, lm-eval, the
contracts, staging) and a real publish, whose hooks post the summary and the leaderboard
change to the GitHub stand-in and merge the PR there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from evals import paths
from tests.flows.chatops.conftest import REPO, SECRET, Receiver, comment, flow_runs_of
from tests.flows.chatops.github_standin import GitHubStandIn
from tests.servers import serving

ROOT = Path(__file__).resolve().parents[3]
PR = 41
SUBMISSION_PATH = "models/submissions/slmb-demo-untrained-pr.yaml"
WAIT_S = 420  # a cold flow-run process, Ray, the model and the contracts on 2 busy cores


@pytest.fixture
def pipeline(
    deployments: list[str],
    github: tuple[GitHubStandIn, str],
    demo_models: dict,
    tmp_path: Path,
) -> Iterator[tuple[Receiver, Path, Callable[[], str]]]:
    """A receiver and a ``slmbench serve`` process sharing one state folder and warehouse."""
    from prefect.settings import get_current_settings

    from flows.chatops.app import create_app
    from flows.chatops.config import ChatOpsConfig
    from flows.chatops.dispatch import new_chatops

    _cancel_waiting_runs()  # runs other tests created but never executed must not run here
    standin, github_url = github
    state_dir, warehouse = tmp_path / "chatops", tmp_path / "warehouse"
    env = {
        "SLMBENCH_WEBHOOK_SECRET": SECRET.decode(),
        "SLMBENCH_GITHUB_REPO": REPO,
        "SLMBENCH_GITHUB_API_URL": github_url,
        "SLMBENCH_GITHUB_TOKEN": "t0ken",
        "SLMBENCH_CHATOPS_DIR": str(state_dir),
        "SLMBENCH_WAREHOUSE": str(warehouse),
    }
    served_env = {
        **os.environ,
        **env,
        "PREFECT_API_URL": str(get_current_settings().api.url),
        "PYTHONPATH": str(ROOT),
        "SLMBENCH_HOME": str(paths.home()),  # where the demo fixtures were built
        "SLMBENCH_CACHE_DIR": str(tmp_path / "cache"),  # evaluated here, not taken from another test's cache
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        served = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "serve", "--warehouse", str(warehouse), "--concurrent-benchmarks", "1"],
            cwd=tmp_path,
            env=served_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        config = ChatOpsConfig.from_env(env)
        ops = new_chatops(config)
        with serving(create_app(config, ops)) as url:
            receiver = Receiver(url, standin, github_url, state_dir, ops, str(warehouse))
            yield receiver, warehouse, lambda: log.read_text(errors="replace")
    finally:
        os.killpg(served.pid, signal.SIGTERM)
        try:
            served.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(served.pid, signal.SIGKILL)


def test_a_pr_is_benchmarked_published_and_merged_by_served_flows(pipeline) -> None:
    receiver, warehouse, serve_log = pipeline
    gh = receiver.github
    text = (ROOT / "models" / "submissions" / "demo-untrained.yaml").read_text()
    pull = gh.add_pull(PR, {SUBMISSION_PATH: text})

    # every document: a --limit run is a smoke test, and /push-results refuses it (tests/evals/warehouse/test_gates.py)
    started = receiver.deliver("issue_comment", comment(PR, "/test-benchmark --suite offline-quick"))
    assert started.status_code == 202, started.text
    report = _wait_for_comment(gh, "### Benchmark", serve_log)
    assert report.startswith("### Benchmark passed: run `"), report
    run_id = report.split("`")[1]
    assert f"Commit {pull.head_sha[:7]}" in report and SUBMISSION_PATH in report
    assert "| slmb_facts |" in report and "| slmb_yesno |" in report  # the run's own summary table

    published = receiver.deliver("issue_comment", comment(PR, "/push-results"))
    assert published.status_code == 202, published.text
    change = _wait_for_comment(gh, "Published run", serve_log)
    assert f"Published run `{run_id}`" in change and "Merged" in change
    merges = [c for c in gh.calls if c["method"] == "PUT" and c["path"].endswith(f"/pulls/{PR}/merge")]
    assert len(merges) == 1 and merges[0]["json"]["sha"] == pull.head_sha

    from evals.warehouse.storage import read_table

    runs = read_table(str(warehouse), "runs").filter(pl.col("run_id") == run_id)
    assert runs.select("status", "pr_number", "head_sha", "submission_path").rows() == [
        ("published", PR, pull.head_sha, SUBMISSION_PATH)
    ]
    board = read_table(str(warehouse), "leaderboard")
    assert board["run_id"].to_list() == [run_id] and board["model_name"].to_list() == ["SLMB-Demo-Untrained"]
    assert {r.state_type.value for r in flow_runs_of(PR)} == {"COMPLETED"}  # the benchmark and the publish

    # the submissions queue followed it: queued by the receiver, running in the served flow, then published
    from evals.warehouse.queue import read_queue, submission_states

    events, staged, _, _ = read_queue(str(warehouse))
    assert events.sort("at")["state"].unique(maintain_order=True).to_list() == ["queued", "running"]
    (entry,) = submission_states(events, staged, runs).to_dicts()
    assert (entry["submission_path"], entry["state"], entry["run_id"]) == (SUBMISSION_PATH, "published", run_id)


def _wait_for_comment(gh: GitHubStandIn, marker: str, serve_log: Callable[[], str]) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = [c for c in gh.comments(PR) if marker in c]
        if found:
            return found[-1]
        time.sleep(1.0)
    raise AssertionError(f"no comment with {marker!r} on PR {PR} after {WAIT_S} s; serve log:\n{serve_log()[-6000:]}")


def _cancel_waiting_runs() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled

    waiting = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING]))
    )
    with get_client(sync_client=True) as client:
        for run in client.read_flow_runs(flow_run_filter=waiting):
            client.set_flow_run_state(run.id, Cancelled(), force=True)
