"""Run an ASGI app under uvicorn on 127.0.0.1 in a background thread (tests and the load benchmark)."""

from __future__ import annotations

import contextvars
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
