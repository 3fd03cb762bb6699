"""The receiver's HTTP server: uvicorn, with deadlines for slow clients and a connection cap.

What uvicorn 0.54 (h11; httptools is not installed) does and does not bound:

- ``timeout_keep_alive`` closes a connection left idle *after a response*. A connection that
  never completes its first request has no deadline at all: 600 clients sending one header
  byte now and then stay connected as long as they like.
- ``limit_concurrency`` answers 503 once a whole request has arrived; connections that never
  finish one are never refused, and each holds a file descriptor.
- ``h11_max_incomplete_event_size`` caps the size of the headers, not the time they take.
- Out of file descriptors, asyncio's accept loop logs "socket.accept() out of system resource"
  with a traceback for every queued connection, every second (196k lines in 80 s).

So :func:`serve` adds:

- :class:`ReceiverProtocol`: a request's headers must arrive within ``header_timeout_s`` of the
  connection opening (or of the first byte of a keep-alive request); else it is closed. The
  body has its own deadline in the app (408, ``app.py``).
- a connection cap kept below the open-files limit (raised to the hard limit at start). At
  the cap, the oldest connection still waiting for its headers is closed to make room, so slow
  clients cannot lock GitHub (or ``/healthz``) out; this is logged once per episode.
- asyncio's out-of-descriptors message logged once a minute, with a count, not per connection.
- a lingering close (:class:`_LingeringTransport`) after a response that ends the connection:
  closing a socket that still holds unread request bytes makes the kernel answer with a reset,
  which can destroy the response in flight (a 413 for a 10 MB body then reaches the client as
  "peer closed connection"). The response is followed by a FIN instead, and what the client
  still sends is read and dropped until it closes too, for at most ``LINGER_S``.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from flows.chatops.config import ChatOpsConfig

log = logging.getLogger("slmbench.chatops")
# Descriptors kept free for what the receiver itself opens (SQLite, the audit log, GitHub and
# Prefect connections) and for the connections accepted in one loop tick before the cap acts.
MIN_RESERVED_FDS = 64
# How long a connection ended after its response keeps draining what the client still sends.
LINGER_S = 2.0


@dataclass
class _Episode:
    """One condition (connections at the cap), logged when it starts and when it ends, not per connection."""

    what: str
    active: bool = False
    count: int = 0

    def hit(self) -> None:
        self.count += 1
        if not self.active:
            self.active = True
            log.warning("%s; closing the oldest connections still sending their headers", self.what)

    def clear(self) -> None:
        if self.active:
            log.warning("%s: over; %d connection(s) closed meanwhile", self.what, self.count)
            self.active, self.count = False, 0


@dataclass
class _Limits:
    header_timeout_s: float
    max_connections: int
    at_cap: _Episode = field(default_factory=lambda: _Episode("connection limit reached"))


class _LingeringTransport:
    """The connection's transport, whose ``close`` sends the response's FIN and drains before closing.

    Everything else is the real transport's (uvicorn writes, pauses and reads through it).
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.real = transport
        self._loop = loop
        self.lingering = False
        self._timer: asyncio.TimerHandle | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def is_closing(self) -> bool:
        return self.lingering or self.real.is_closing()

    def close(self) -> None:
        if self.is_closing():
            return
        if not self.real.can_write_eof():
            self.real.close()
            return
        self.lingering = True
        self.real.write_eof()  # after the buffered response
        self.real.resume_reading()  # drain, even where flow control had paused reading
        self._timer = self._loop.call_later(LINGER_S, self.close_now)

    def close_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.real.is_closing():
            self.real.close()


class ReceiverProtocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline, eviction at the connection cap and a lingering close."""

    limits: ClassVar[_Limits]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_since: float | None = time.monotonic()  # None while a request is being handled
        self._lingering = _LingeringTransport(transport, asyncio.get_running_loop())
        super().connection_made(self._lingering)  # type: ignore[arg-type]
        limits = self.limits
        if len(self.connections) > limits.max_connections:
            limits.at_cap.hit()
            self._close(self._oldest_waiting() or self)
        elif len(self.connections) < limits.max_connections * 0.9:
            limits.at_cap.clear()
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._lingering.lingering:
            return  # the rest of a request already answered: dropped
        if self._waiting_since is not None and self._deadline is None:  # first byte of a keep-alive request
            self._waiting_since = time.monotonic()
            self._arm()
        super().data_received(data)

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # a request's headers are complete: the app's deadlines take over
            self._waiting_since = None
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # arms uvicorn's keep-alive timer for the idle time
        self._waiting_since = time.monotonic()
        self._disarm()

    def eof_received(self) -> bool | None:
        if self._lingering.lingering:
            self._lingering.close_now()  # the client has sent everything: done
            return None
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._lingering.close_now()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None and not self.transport.is_closing():
            self._deadline = self.loop.call_later(self.limits.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if self._waiting_since is not None:
            self._close(self)

    def _oldest_waiting(self) -> ReceiverProtocol | None:
        waiting = [
            c
            for c in self.connections
            if isinstance(c, ReceiverProtocol) and c is not self and c._waiting_since is not None
        ]
        return min(waiting, key=lambda c: c._waiting_since or 0.0, default=None)

    @staticmethod
    def _close(connection: ReceiverProtocol) -> None:
        connection._disarm()
        connection._waiting_since = None
        connection._lingering.close_now()  # a slow or evicted client: no response to protect


class _OncePerMinute(logging.Filter):
    """Lets one record of a kind through per minute, then says how many it held back."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker, self.last, self.held = marker, 0.0, 0

    def filter(self, record: logging.LogRecord) -> bool:
        if self.marker not in record.getMessage():
            return True
        now = time.monotonic()
        if now - self.last < 60:
            self.held += 1
            return False
        if self.held:
            record.msg = f"{record.msg} ({self.held} more like it in the last minute)"
        self.last, self.held = now, 0
        record.exc_info, record.exc_text = None, None  # the errno says it all: no traceback
        return True


def raise_open_files_limit() -> int:
    """The soft RLIMIT_NOFILE raised to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def protocol_for(config: ChatOpsConfig, open_files: int) -> type[ReceiverProtocol]:
    """A protocol class bound to this server's limits (no state shared between servers)."""
    cap = min(config.max_connections, open_files - max(MIN_RESERVED_FDS, open_files // 4))
    limits = _Limits(config.header_timeout_s, max(cap, 8))
    return type("BoundReceiverProtocol", (ReceiverProtocol,), {"limits": limits})


def uvicorn_config(app: Any, config: ChatOpsConfig, host: str, port: int, **options: Any) -> uvicorn.Config:
    """The uvicorn settings of the receiver; ``options`` may add or override (tests: log level)."""
    open_files = raise_open_files_limit()
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, _OncePerMinute) for f in asyncio_log.filters):
        asyncio_log.addFilter(_OncePerMinute("out of system resource"))
    settings: dict[str, Any] = dict(
        host=host,
        port=port,
        http=protocol_for(config, open_files),
        ws="none",  # the receiver has no websocket route
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,  # GitHub's headers are a few hundred bytes
        log_level="info",
        proxy_headers=True,
    )
    return uvicorn.Config(app, **{**settings, **options})


def serve(app: Any, config: ChatOpsConfig, host: str, port: int) -> None:
    server = uvicorn.Server(uvicorn_config(app, config, host, port))
    log.info(
        "receiver limits: headers within %g s, body within %g s, at most %d connections",
        config.header_timeout_s,
        config.body_timeout_s,
        server.config.http.limits.max_connections,  # type: ignore[union-attr]
    )
    server.run()
