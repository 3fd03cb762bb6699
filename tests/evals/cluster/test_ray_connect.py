"""Connecting to a cluster through Ray Client survives the head's per-driver server dying as it starts.

ray-project/ray#63202 (open): the proxier forks a specific server per driver and
that fork sometimes dies at once; ``ray.init`` then raises ConnectionAbortedError
("Initialization failure from server"). A new connection gets a new server, so
``ensure_ray`` tries again. Ray's ``init`` is replaced here by one that fails the
way Ray fails: the race cannot be caused on demand.
"""

from __future__ import annotations

from typing import Any

import pytest

from evals.cluster import pool


def failing_init(failures: int, calls: list[dict[str, Any]]) -> Any:
    def init(**kwargs: Any) -> None:
        calls.append(kwargs)
        if len(calls) <= failures:
            raise ConnectionAbortedError("Initialization failure from server:\nTraceback ...")

    return init


@pytest.fixture
def ray_init(monkeypatch: pytest.MonkeyPatch) -> Any:
    import ray

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(pool.time, "sleep", lambda s: None)

    def install(failures: int) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = []
        monkeypatch.setattr(ray, "init", failing_init(failures, calls))
        return calls

    return install


def test_a_ray_client_connection_aborted_by_the_server_is_tried_again(ray_init, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RAY_ADDRESS", "ray://127.0.0.1:10001")
    calls = ray_init(failures=2)
    pool.ensure_ray()
    assert len(calls) == 3 and all(c["address"] == "ray://127.0.0.1:10001" for c in calls)
    assert "trying again (2)" in capsys.readouterr().out


def test_it_gives_up_after_its_attempts_with_rays_error(ray_init, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RAY_ADDRESS", "ray://127.0.0.1:10001")
    calls = ray_init(failures=pool.CLIENT_CONNECT_ATTEMPTS)
    with pytest.raises(ConnectionAbortedError, match="Initialization failure"):
        pool.ensure_ray()
    assert len(calls) == pool.CLIENT_CONNECT_ATTEMPTS


def test_other_addresses_are_not_tried_again(ray_init, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")  # a GCS address: not Ray Client's race
    calls = ray_init(failures=1)
    with pytest.raises(ConnectionAbortedError):
        pool.ensure_ray()
    assert len(calls) == 1
