"""Run an ASGI app under uvicorn on 127.0.0.1 in a background thread, or wait for one in a subprocess (tests, benchmarks)."""

from __future__ import annotations

import contextvars
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn


@contextmanager
def serving(app: Any, config: uvicorn.Config | None = None) -> Iterator[str]:
    """Yields the base URL. The thread runs in a copy of the caller's context, so the
    receiver talks to the same Prefect API (a context setting) as the test. ``config``
    (for ``app``) replaces the plain settings; its host and port are not used."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(config or uvicorn.Config(app, log_level="warning", lifespan="off", backlog=512))
    thread = threading.Thread(target=contextvars.copy_context().run, args=(server.run, [sock]), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def wait_until_healthy(url: str, process: subprocess.Popen[Any], timeout_s: float = 60) -> None:
    """Return once ``url``/healthz answers; raise if ``process`` exits or ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the server at {url} did not start (exit code {process.poll()})") from None
            time.sleep(0.2)


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
