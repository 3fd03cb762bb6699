"""The PR check asks the hub (the stand-in) whether anyone can download the model, when the receiver is online.

The online receiver runs as ``slmbench webhook`` in its own process, because ``huggingface_hub``
reads ``HF_HUB_OFFLINE`` and ``HF_ENDPOINT`` once, at import; this test session is offline.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.evals.models.hub_standin import HubStandIn
from tests.flows.chatops.conftest import REPO, SECRET, Receiver, pull_request
from tests.flows.chatops.github_standin import GitHubStandIn
from tests.servers import serving, wait_until_healthy

ROOT = Path(__file__).resolve().parents[3]
NEW_FILE = "models/submissions/hub-model.yaml"
PUBLIC, GATED, PRIVATE, PICKLES, GGUFS = (
    "slmbench-test/public-1b",
    "slmbench-test/gated-1b",
    "slmbench-test/private-1b",
    "slmbench-test/pickles-1b",
    "slmbench-test/public-1b-gguf",
)
WEIGHTS = {"config.json": b"{}", "model.safetensors": b"\0" * 8}


def hub_submission(repo: str, revision: str | None = None, gguf: str | None = None) -> str:
    pin = f'  revision: "{revision}"\n' if revision else ""
    quant = (
        f'    - {{name: Q8_0, format: gguf, source: "{GGUFS}", gguf_file: "{gguf}"}}\n'
        if gguf
        else "    - {name: FP16, format: safetensors}\n"
    )
    return f'model:\n  name: "Hub-1B"\n  hf_repo: "{repo}"\n{pin}  parameters: "1.1B"\n  quantizations:\n{quant}'


@pytest.fixture(scope="module")
def hub() -> Iterator[tuple[HubStandIn, str]]:
    standin = HubStandIn()
    standin.add_repo(PUBLIC, WEIGHTS)
    standin.add_repo(GATED, WEIGHTS, access="gated")
    standin.add_repo(PRIVATE, WEIGHTS, access="private")
    standin.add_repo(PICKLES, {"config.json": b"{}", "pytorch_model.bin": b"\x80\x04K\x01."})
    standin.add_repo(GGUFS, {"public-1b-Q8_0.gguf": b"GGUF"})
    with serving(standin.app()) as url:
        yield standin, url


@pytest.fixture(scope="module")
def online_receiver(
    hub: tuple[HubStandIn, str], github: tuple[GitHubStandIn, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Receiver]:
    standin, github_url = github
    state = tmp_path_factory.mktemp("online")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "0",  # the explicit switch: this receiver may ask the hub
        "HF_ENDPOINT": hub[1],
        "HF_HOME": str(state / "hf"),
        "SLMBENCH_WEBHOOK_SECRET": SECRET.decode(),
        "SLMBENCH_GITHUB_REPO": REPO,
        "SLMBENCH_GITHUB_API_URL": github_url,
        "SLMBENCH_CHATOPS_DIR": str(state),
        "SLMBENCH_WAREHOUSE": str(state / "warehouse"),  # where passing checks land in the submissions queue
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "webhook", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, timeout_s=120)
        yield Receiver(url, standin, github_url, state)
    finally:
        process.terminate()
        process.wait(timeout=30)


CASES = {
    "public-at-a-pinned-commit": (lambda hub: hub_submission(PUBLIC, hub.repos[PUBLIC].commit), None),
    "public-at-main": (lambda hub: hub_submission(PUBLIC, "main"), None),
    "public-gguf": (lambda hub: hub_submission(PUBLIC, gguf="public-1b-Q8_0.gguf"), None),
    "missing-repo": (
        lambda hub: hub_submission("slmbench-test/no-such-model"),
        "model.hf_repo: slmbench-test/no-such-model is not on the hub at http://127.0.0.1:",
    ),
    "missing-revision": (
        lambda hub: hub_submission(PUBLIC, "0" * 40),
        f"model.revision: {PUBLIC} has no revision '{'0' * 40}'; pin a commit sha, branch or tag it has",
    ),
    "gated": (
        lambda hub: hub_submission(GATED),
        f"model.hf_repo: {GATED} is gated (downloads need approval); SLM Bench benchmarks models anyone can download",
    ),
    "private": (lambda hub: hub_submission(PRIVATE), f"model.hf_repo: {PRIVATE} is not on the hub at"),
    "pickle-weights-only": (
        lambda hub: hub_submission(PICKLES),
        f"model.hf_repo: {PICKLES} holds no .safetensors weights; SLM Bench never loads pickle files",
    ),
    "missing-gguf-file": (
        lambda hub: hub_submission(PUBLIC, gguf="nope.gguf"),
        f"model.quantizations[0].gguf_file: {GGUFS} has no file 'nope.gguf'; fix the name",
    ),
}


def test_online_the_pr_check_refuses_what_anyone_could_not_download(online_receiver: Receiver, hub) -> None:
    standin, _ = hub
    gh = online_receiver.github
    for pr, (case, (make, reason)) in enumerate(CASES.items(), start=171):
        pull = gh.add_pull(pr, {NEW_FILE: make(standin)})
        answer = online_receiver.deliver("pull_request", pull_request(pr, pull.head_sha))
        assert answer.status_code == 200, (case, answer.text)
        if reason is None:
            assert answer.json()["result"] == "valid", (case, answer.text)
        else:
            assert answer.json()["result"] == "invalid" and reason in answer.json()["detail"], (case, answer.text)
            assert reason.split(" at http")[0] in gh.comments(pr)[-1], case  # on the PR, for its author


def test_offline_by_default_the_hub_is_never_asked(receiver: Receiver, hub) -> None:
    standin, _ = hub
    before = len(standin.requests)
    pull = receiver.github.add_pull(180, {NEW_FILE: hub_submission("slmbench-test/no-such-model")})
    answer = receiver.deliver("pull_request", pull_request(180, pull.head_sha))
    assert answer.json()["result"] == "valid"  # the contract alone: nothing was asked
    assert len(standin.requests) == before
