"""The webhook receiver: an ASGI app for GitHub deliveries.

    POST /webhook   size cap (413) -> signature (401) -> headers, JSON (400)
                    -> replay check (200 duplicate) -> dispatch (2xx/4xx, see dispatch.py)
    GET  /healthz

The checks run in that order so an unsigned request costs no parsing and leaves no trace in
the replay store. Dispatch (GitHub and Prefect calls) runs in a worker thread.
"""

from __future__ import annotations

import json
import logging
import re

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from flows.chatops.config import ChatOpsConfig
from flows.chatops.dispatch import ChatOps, new_chatops
from flows.chatops.events import PayloadError
from flows.chatops.github import GitHubError
from flows.chatops.signature import verify

log = logging.getLogger("slmbench.chatops")
DELIVERY_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
EVENT_RE = re.compile(r"^[a-z_]{1,64}$")


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


def _answer(status: int, result: str, detail: str = "", **extra: object) -> JSONResponse:
    return JSONResponse({"result": result, "detail": detail, **extra}, status_code=status)


def create_app(config: ChatOpsConfig, chatops: ChatOps | None = None) -> Starlette:
    ops = chatops or new_chatops(config)

    async def webhook(request: Request) -> JSONResponse:
        try:
            body = await _read_capped(request, config.max_body_bytes)
        except BodyTooLarge:
            return _answer(413, "rejected", f"body larger than {config.max_body_bytes} bytes")
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
        if not isinstance(payload, dict):
            return _answer(400, "rejected", "body is not a JSON object")
        if not ops.store.claim_delivery(delivery):  # one small SQLite write: cheaper inline than via a thread
            return _answer(200, "duplicate", f"delivery {delivery} was already handled")
        try:
            outcome = await anyio.to_thread.run_sync(ops.handle, delivery, event, payload)
        except PayloadError as exc:
            return _answer(400, "rejected", str(exc))
        except Exception as exc:
            # Our side failed (GitHub, Prefect): forget the delivery so GitHub's redelivery is handled.
            await anyio.to_thread.run_sync(ops.store.forget_delivery, delivery)
            ops.audit.write("delivery_failed", delivery=delivery, event=event, error=f"{type(exc).__name__}: {exc}")
            log.exception("delivery %s failed", delivery)
            status = 502 if isinstance(exc, GitHubError) else 500
            return _answer(status, "error", f"{type(exc).__name__}: {exc}")
        return JSONResponse(outcome.body(), status_code=outcome.status)

    async def healthz(request: Request) -> JSONResponse:
        return _answer(200, "ok")

    return Starlette(routes=[Route("/webhook", webhook, methods=["POST"]), Route("/healthz", healthz)])


def run(host: str = "127.0.0.1", port: int = 8085) -> None:
    """``slmbench webhook``: the receiver under uvicorn, settings from the environment."""
    import uvicorn

    config = ChatOpsConfig.from_env()
    uvicorn.run(create_app(config), host=host, port=port, log_level="info", proxy_headers=True)


def app_from_env() -> Starlette:
    """An app factory for ASGI servers: ``uvicorn --factory flows.chatops.app:app_from_env``."""
    return create_app(ChatOpsConfig.from_env())
