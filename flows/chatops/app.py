"""The webhook receiver: an ASGI app for GitHub deliveries.

    POST /webhook   body deadline (408) and size cap (413) -> signature (401) -> headers, JSON
                    (also nested too deep), event fields, repository name (400) -> replay check
                    (200 duplicate) -> repository allow-list (403), rate limit per PR (429),
                    dispatch (2xx/4xx, see dispatch.py); GitHub, Prefect or the hub failing: 502
    GET  /healthz

The checks run in that order so an unsigned request costs no parsing and leaves no trace in
the replay store. The replay check claims the delivery id and the signed content's replay key
together (``events``): a captured body re-sent with a new ``X-GitHub-Delivery`` is a duplicate.
Dispatch (GitHub and Prefect calls) runs in a worker thread. Slow clients are cut off by the
server itself (``flows.chatops.server``).
"""

from __future__ import annotations

import json
import logging
import re

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from evals.models.hub_access import HubUnreachable
from flows.chatops.config import ChatOpsConfig
from flows.chatops.dispatch import ChatOps, new_chatops
from flows.chatops.events import Ignored, PayloadError, read_event
from flows.chatops.github import GitHubError
from flows.chatops.runs import OrchestratorError
from flows.chatops.signature import verify

log = logging.getLogger("slmbench.chatops")
DELIVERY_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
EVENT_RE = re.compile(r"^[a-z_]{1,64}$")
# Services we call on a delivery's behalf: their failure is a 502, not the sender's fault.
UPSTREAM_ERRORS = (GitHubError, OrchestratorError, HubUnreachable)


class BodyTooLarge(Exception):
    pass


async def _read_capped(request: Request, limit: int) -> bytes:
    """The body, reading no more than ``limit`` bytes whatever Content-Length claims."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, result: str, detail: str = "", close: bool = False) -> JSONResponse:
    """The JSON answer; ``close`` ends the connection after it (its body was not read to the end)."""
    headers = {"connection": "close"} if close else None
    return JSONResponse({"result": result, "detail": detail}, status_code=status, headers=headers)


def create_app(config: ChatOpsConfig, chatops: ChatOps | None = None) -> Starlette:
    ops = chatops or new_chatops(config)

    async def webhook(request: Request) -> JSONResponse:
        try:
            with anyio.fail_after(config.body_timeout_s):
                body = await _read_capped(request, config.max_body_bytes)
        except BodyTooLarge:
            return _answer(413, "rejected", f"body larger than {config.max_body_bytes} bytes", close=True)
        except TimeoutError:
            return _answer(408, "rejected", f"body not received within {config.body_timeout_s:g} s", close=True)
        except ClientDisconnect:
            return _answer(400, "rejected", "client went away before sending the body", close=True)
        if not verify(config.webhook_secret, body, request.headers.get("x-hub-signature-256")):
            return _answer(401, "rejected", "missing or wrong X-Hub-Signature-256")
        delivery = request.headers.get("x-github-delivery", "")
        event = request.headers.get("x-github-event", "")
        if not DELIVERY_RE.match(delivery) or not EVENT_RE.match(event):
            return _answer(400, "rejected", "missing or malformed X-GitHub-Delivery / X-GitHub-Event")
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _answer(400, "rejected", "body is not JSON")
        except RecursionError:  # signed, but nested past the parser's stack: no event of GitHub's looks so
            return _answer(400, "rejected", "body is JSON nested too deeply to read")
        if not isinstance(payload, dict):
            return _answer(400, "rejected", "body is not a JSON object")
        try:
            typed = read_event(event, payload)
        except PayloadError as exc:
            return _answer(400, "rejected", str(exc))
        keys = [delivery] if isinstance(typed, Ignored) else [delivery, typed.replay_key]
        if not ops.store.claim_delivery(*keys):  # one small SQLite write: cheaper inline than via a thread
            return _answer(200, "duplicate", f"delivery {delivery} (or the same signed content) was already handled")
        try:
            outcome = await anyio.to_thread.run_sync(ops.handle, delivery, typed)
        except Exception as exc:
            # Our side failed: forget the delivery so GitHub's redelivery is handled.
            await anyio.to_thread.run_sync(ops.store.forget_delivery, *keys)
            error = f"{type(exc).__name__}: {exc}"
            ops.audit.write("delivery_failed", delivery=delivery, github_event=event, error=error)
            if isinstance(exc, UPSTREAM_ERRORS):
                log.warning("delivery %s failed upstream: %s", delivery, error)
                return _answer(502, "error", error)
            log.exception("delivery %s failed", delivery)
            return _answer(500, "error", error)
        return JSONResponse(outcome.body(), status_code=outcome.status)

    async def healthz(request: Request) -> JSONResponse:
        return _answer(200, "ok")

    return Starlette(routes=[Route("/webhook", webhook, methods=["POST"]), Route("/healthz", healthz)])


def run(host: str = "127.0.0.1", port: int = 8085) -> None:
    """``slmbench webhook``: the receiver under uvicorn with its connection limits, settings from the environment."""
    from flows.chatops.server import serve

    config = ChatOpsConfig.from_env()
    serve(create_app(config), config, host=host, port=port)


def app_from_env() -> Starlette:
    """An app factory for other ASGI servers; they must bound slow clients themselves (docs/operations.md)."""
    return create_app(ChatOpsConfig.from_env())
