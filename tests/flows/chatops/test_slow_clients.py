"""Slow clients against the receiver's real server settings, on 127.0.0.1, in seconds.

Deadlines are short here (1 s) and the waits generous (15 s), so a loaded machine cannot fail
the test; what is checked is that the connections end, not how fast. The 600-connection
version with figures is ``python -m benchmarks.webhook_slow_clients``.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flows.chatops.app import create_app
from flows.chatops.config import ChatOpsConfig
from flows.chatops.server import uvicorn_config
from tests.servers import serving

WAIT_S = 15.0
PARTIAL_HEADERS = b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@pytest.fixture
def receiver_url(tmp_path: Path) -> Iterator[str]:
    config = ChatOpsConfig.from_env(
        {
            "SLMBENCH_WEBHOOK_SECRET": "s",
            "SLMBENCH_GITHUB_REPO": "slmbench/slmbench",
            "SLMBENCH_CHATOPS_DIR": str(tmp_path / "chatops"),
            "SLMBENCH_WEBHOOK_HEADER_TIMEOUT": "1",
            "SLMBENCH_WEBHOOK_BODY_TIMEOUT": "1",
            "SLMBENCH_WEBHOOK_MAX_CONNECTIONS": "16",
        }
    )
    app = create_app(config)
    with serving(app, uvicorn_config(app, config, "127.0.0.1", 0, log_level="warning", lifespan="off")) as url:
        yield url


def _slow_socket(url: str, first: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=WAIT_S)
    sock.sendall(first)
    return sock


def _closed_by_server(sock: socket.socket) -> bytes:
    """What the server sent before closing; raises ``TimeoutError`` if it kept the connection open."""
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def test_slow_headers_are_cut_off_and_cannot_lock_out_healthz(
    receiver_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="slmbench.chatops")
    slow = [_slow_socket(receiver_url, PARTIAL_HEADERS) for _ in range(40)]  # 40 > the cap of 16
    try:
        started = time.monotonic()
        assert httpx.get(f"{receiver_url}/healthz", timeout=WAIT_S).status_code == 200
        for sock in slow:  # each is closed: evicted at the cap, or at its header deadline
            try:
                sock.sendall(b"x")  # still trickling
            except (BrokenPipeError, ConnectionResetError):
                pass  # already closed
            assert _closed_by_server(sock) == b""
        assert time.monotonic() - started < 2 * WAIT_S
    finally:
        for sock in slow:
            sock.close()
    cap_lines = [r for r in caplog.records if "connection limit reached" in r.getMessage()]
    assert len(cap_lines) == 1, [r.getMessage() for r in caplog.records]  # once, not once per connection


def test_a_slow_body_gets_a_408(receiver_url: str) -> None:
    sock = _slow_socket(
        receiver_url, PARTIAL_HEADERS.replace(b"X-Slow: ", b"Content-Length: 1000\r\n\r\n") + b'{"action": '
    )
    try:
        answer = _closed_by_server(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"body not received within 1 s" in answer
