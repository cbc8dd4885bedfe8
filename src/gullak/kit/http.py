"""ASGI middleware: request ids, access log and metrics, body limits, content types."""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gullak.kit.audit import RequestMeta, request_meta
from gullak.kit.ids import uuid7
from gullak.kit.problems import problem

log = structlog.get_logger("gullak.http")
REQUEST_ID_HEADER = "x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
BODY_METHODS = {"POST", "PUT", "PATCH"}
# Media types a body may have; anything else is refused before a route sees it.
ACCEPTED_MEDIA = ("application/json", "multipart/form-data", "text/csv")

REQUESTS = Counter("gullak_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "gullak_http_request_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException so FastAPI's body parsing lets it
    through as a 413 instead of wrapping it into a generic 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The body may be at most {max_bytes} bytes.")


class RequestContext:
    """Gives every request an id (or keeps a sane one the client sent), logs and measures it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = _header(scope, REQUEST_ID_HEADER)
        request_id = sent if sent and _VALID_ID.match(sent) else uuid7().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        client = scope.get("client")
        meta = request_meta.set(RequestMeta(client[0] if client else None,
                                            _header(scope, "user-agent"), request_id))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            log.info(
                "request", method=scope["method"], path=scope["path"], status=status,
                ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id", "subject")
            request_meta.reset(meta)


class BodyGuard:
    """Refuses bodies over the size limit (413) and of media types we do not read (415)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        length = _header(scope, "content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send, 413, "payload_too_large",
                               "Request body too large",
                               f"The body may be at most {self.max_bytes} bytes.")
            return
        media = (_header(scope, "content-type") or "").split(";")[0].strip().lower()
        has_body = length not in (None, "0") or _header(scope, "transfer-encoding") is not None
        if has_body and not _accepted(media):
            await self._refuse(scope, receive, send, 415, "unsupported_media_type",
                               "Unsupported media type",
                               f"Send the body as application/json, not {media or 'untyped'}.")
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._refuse(scope, receive, send, 413, "payload_too_large",
                                   "Request body too large",
                                   f"The body may be at most {self.max_bytes} bytes.")

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str,
                      title: str, detail: str) -> None:
        response = problem(Request(scope), status, code, title, detail)
        await response(scope, receive, send)


def _accepted(media: str) -> bool:
    return media in ACCEPTED_MEDIA or (media.startswith("application/") and media.endswith("+json"))


def _header(scope: Scope, name: str) -> str | None:
    key = name.encode()
    for k, v in scope.get("headers", []):
        if k == key:
            value: Any = v.decode("latin-1")
            return str(value)
    return None
