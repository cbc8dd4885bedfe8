"""ASGI middleware: request ids, client addresses, access log and metrics, body limits,
content types, security headers."""

from __future__ import annotations

import ipaddress
import os
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gullak.kit.audit import RequestMeta, request_meta
from gullak.kit.ids import uuid7
from gullak.kit.problems import on_unexpected, problem

if TYPE_CHECKING:
    from gullak.settings import Settings

log = structlog.get_logger("gullak.http")
REQUEST_ID_HEADER = "x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
BODY_METHODS = {"POST", "PUT", "PATCH"}
# Media types a body may have; anything else is refused before a route sees it.
ACCEPTED_MEDIA = ("application/json", "multipart/form-data", "text/csv")
# The browser pages' forms (the console and the merchant portal) post as HTML forms do.
FORM_PATHS = ("/console/", "/merchant/")

REQUESTS = Counter("gullak_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "gullak_http_request_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


# What a browser app may send and read across origins (when GULLAK_CORS_ORIGINS lists it).
CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CORS_HEADERS = ["authorization", "content-type", "idempotency-key", "x-request-id"]
CORS_EXPOSED = ["x-request-id", "retry-after"]


class App(FastAPI):
    """FastAPI with a second list of middleware, `outer` (outermost first), that wraps FastAPI's
    own (its error, telemetry and body-limit layers) as well as the app's: every answer, a 500
    of Starlette's own included, passes the layers listed there, and a request answered there
    (the express lane's) passes no other."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outer: list[Middleware] = []

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        for cls, args, kwargs in reversed(self.outer):
            stack = cls(stack, *args, **kwargs)
        return stack


def install(app: App, settings: Settings) -> None:
    """The middleware, innermost first: body limits, CORS (only when origins are listed, so
    that by default no origin is allowed and no request pays for it), then, outermost, the
    security headers and the request context, which sees every response and settles the
    client's address first."""
    app.add_middleware(ErrorBoundary)
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        # Bearer tokens travel in a header, never in cookies: no credentialed CORS.
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=CORS_METHODS, allow_headers=CORS_HEADERS,
                           expose_headers=CORS_EXPOSED, max_age=600)
    app.outer = [
        Middleware(RequestContext, trusted_proxies=settings.networks("trusted_proxies")),
        Middleware(SecurityHeaders, https=settings.https),
    ]


class ErrorBoundary:
    """Answers an unexpected error with a 500 problem inside our middleware, so that the answer
    carries the request id and the security headers like any other (Starlette's own handler
    sits outside every middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except BodyTooLarge:
            raise  # BodyGuard, just outside, answers it (the express lane reads bodies too)
        except Exception as exc:
            if started:  # too late for an answer of our own: let the server close it
                raise
            response = await on_unexpected(Request(scope), exc)
            await response(scope, receive, send)


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException so FastAPI's body parsing lets it
    through as a 413 instead of wrapping it into a generic 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The body may be at most {max_bytes} bytes.")


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(peer: str | None, forwarded: str | None,
                   trusted: Sequence[Network]) -> str | None:
    """The client's address: the socket peer, unless the peer is a trusted proxy; then the
    right-most address in X-Forwarded-For that is not a trusted proxy. Entries left of it were
    written by the client and prove nothing."""
    if not trusted or not forwarded or not _within(peer, trusted):
        return peer
    nearest = peer
    for hop in reversed(forwarded.split(",")):
        hop = hop.strip().strip("[]")
        if not _is_address(hop):
            # A proxy we trust appends a real address; garbage came from the client.
            return nearest
        if not _within(hop, trusted):
            return hop
        nearest = hop
    return nearest


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _within(address: str | None, networks: Sequence[Network]) -> bool:
    if address is None:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


class RequestContext:
    """Gives every request an id (or keeps a sane one the client sent), settles the client's
    address, logs and measures the request."""

    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[Network] = ()) -> None:
        self.app = app
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = header(scope, REQUEST_ID_HEADER)
        request_id = sent if sent and _VALID_ID.match(sent) else uuid7().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        client = scope.get("client")
        peer = client[0] if client else None
        address = client_address(peer, _forwarded(scope), self.trusted_proxies)
        if address != peer:
            # Every reader of the client's address (per-IP limits, sessions, the audit) sees
            # this one, as with uvicorn's proxy headers, which `gullak serve` turns off.
            scope["client"] = (address, 0)
        meta = request_meta.set(RequestMeta(address, header(scope, "user-agent"), request_id))
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
            # pid: which of the API processes answered (`gullak serve --workers`).
            log.info(
                "request", method=scope["method"], path=scope["path"], status=status,
                ms=round(elapsed * 1000, 2), pid=os.getpid(),
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
        length = header(scope, "content-length")
        if length is not None and not length_within(length, self.max_bytes):
            await self._refuse(scope, receive, send, 413, "payload_too_large",
                               "Request body too large",
                               f"The body may be at most {self.max_bytes} bytes.")
            return
        media = media_type(scope)
        has_body = length not in (None, "0") or header(scope, "transfer-encoding") is not None
        if has_body and not _accepted(media) and not (
                media == "application/x-www-form-urlencoded"
                and scope["path"].startswith(FORM_PATHS)):
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


class SecurityHeaders:
    """Headers every response carries; `no-store` on answers that may hold credentials or
    personal data (the request carried credentials, or it is a sign-in or refresh)."""

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        self.headers: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
        ]
        if https:
            self.headers.append((b"strict-transport-security",
                                 b"max-age=31536000; includeSubDomains"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = header(scope, "authorization") is not None or "/auth/" in scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if not (private and k.lower() == b"cache-control")]
                headers.extend(self.headers)
                if private:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _forwarded(scope: Scope) -> str | None:
    hops = [v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-forwarded-for"]
    return ",".join(hops) if hops else None


def _accepted(media: str) -> bool:
    return media in ACCEPTED_MEDIA or (media.startswith("application/") and media.endswith("+json"))


def length_within(length: str, max_bytes: int) -> bool:
    """A Content-Length of ASCII digits ("²", latin-1 0xB2, passes isdigit() but not int())
    and at most `max_bytes`."""
    return length.isascii() and length.isdigit() and int(length) <= max_bytes


def media_type(scope: Scope) -> str:
    """The request body's media type, without its parameters, in lower case ("" if none)."""
    return (header(scope, "content-type") or "").split(";")[0].strip().lower()


def header(scope: Scope, name: str) -> str | None:
    """The first value of a request header, by its lower-case name."""
    key = name.encode()
    for k, v in scope.get("headers", []):
        if k == key:
            value: Any = v.decode("latin-1")
            return str(value)
    return None
