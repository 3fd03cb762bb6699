"""How the receiver keeps a burst of commands fast: shared active-run reads, and creates after answers.

Both are plain thread coordination in ``flows.chatops.runs``; the reads here are functions
that record when they were sent, so each test can check the order the receiver relies on.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from flows.chatops.runs import Orchestrator, _SharedReads


class Run:
    """The two fields of a Prefect flow run that the reads look at."""

    def __init__(self, tag: str) -> None:
        self.tags = [tag]


def test_callers_during_a_read_share_the_next_one_sent_after_they_asked() -> None:
    sent: list[tuple[float, list[str]]] = []
    first_out, release = threading.Event(), threading.Event()

    def read(flow: str, tags: list[str]) -> list[Any]:
        sent.append((time.monotonic(), tags))
        first_out.set()
        release.wait(10)
        return [Run(t) for t in tags]

    reads = _SharedReads(read)
    asked: dict[str, float] = {}

    def get(tag: str) -> list[str]:
        asked[tag] = time.monotonic()
        return [r.tags[0] for r in reads.get("benchmark", tag)]

    with ThreadPoolExecutor(12) as pool:
        first = pool.submit(get, "pr:a/b#0")
        assert first_out.wait(10)
        later = {f"pr:a/b#{i}": pool.submit(get, f"pr:a/b#{i}") for i in range(1, 11)}
        deadline = time.monotonic() + 10
        while len(asked) < 11 and time.monotonic() < deadline:  # every caller waiting on the first read
            time.sleep(0.01)
        release.set()
        assert first.result(10) == ["pr:a/b#0"]
        for tag, future in later.items():
            assert tag in future.result(10)
    assert [tags for _, tags in sent] == [["pr:a/b#0"], sorted(later)]  # two reads for eleven callers
    assert all(asked[tag] <= sent[1][0] for tag in later)  # each answer was read after its caller asked


def test_a_failed_read_fails_every_caller_of_its_batch_and_the_next_batch_reads_again() -> None:
    calls = 0

    def read(flow: str, tags: list[str]) -> list[Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("Prefect went away")
        return [Run(t) for t in tags]

    reads = _SharedReads(read)
    with pytest.raises(ConnectionError, match="went away"):
        reads.get("benchmark", "pr:a/b#1")
    assert [r.tags for r in reads.get("benchmark", "pr:a/b#1")] == [["pr:a/b#1"]]


def test_creates_wait_for_the_deliveries_being_answered_but_not_for_ever() -> None:
    orchestrator = Orchestrator()  # no Prefect call is made: only its gate is used
    with orchestrator.answering():
        started = time.monotonic()
        assert orchestrator._yield_to_answers(most_s=0.3) is False  # a steady stream never starves creates
        assert time.monotonic() - started >= 0.3
    assert orchestrator._yield_to_answers(most_s=0.3) is True

    finished: list[float] = []

    def create() -> None:
        orchestrator._yield_to_answers(most_s=10)
        finished.append(time.monotonic())

    with orchestrator.answering():
        creator = threading.Thread(target=create)
        creator.start()
        time.sleep(0.2)
        assert not finished  # held back while the answer is being made
        answered_at = time.monotonic()
    creator.join(10)
    assert finished and finished[0] >= answered_at
