"""Secrets never reach a log line, and an unhandled error neither floods the log nor stalls
the server. Errors are forced through the HTTP app, in both log formats."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import secrets
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
import structlog
from fastapi import APIRouter, FastAPI, Request

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.kit import logging as app_logging
from gullak.settings import Settings
from tests.helpers.http import http_client, uvicorn_served

API_HOLDER = "gk_0123456789abcdef"
API_KEY = secrets.token_urlsafe(32)
BASIC = base64.b64encode(f"{API_HOLDER}:{API_KEY}".encode()).decode()
DEPTH = 400  # deep enough that a traceback with locals took most of a minute

probe = APIRouter(prefix="/v1/probe")


def descend(settings: Settings, credentials: str, nested: dict[str, Any], depth: int) -> None:
    # Locals on every frame: the signing key, the caller's credentials, a big structure.
    signing_key = settings.secret("secret_key")
    if depth == 0:
        raise RuntimeError(f"cannot use {credentials} with {signing_key} for "
                           f"{API_HOLDER}:{API_KEY}")
    descend(settings, credentials, nested["next"], depth - 1)


@probe.get("/explode")
async def explode(request: Request) -> None:
    nested: dict[str, Any] = {"leaf": "x" * 1000}
    for _ in range(DEPTH):
        nested = {"next": nested, "payload": list(range(50))}
    descend(request.app.state.settings, request.headers["authorization"], nested, DEPTH)


@pytest.fixture
def captured() -> Iterator[Callable[[str], io.StringIO]]:
    """Configures the app's logging in a format and returns what every line is written to."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def configure(fmt: str) -> io.StringIO:
        app_logging.configure("info", fmt)
        buffer = io.StringIO()
        ours = logging.StreamHandler(buffer)
        ours.setFormatter(root.handlers[0].formatter)
        root.handlers[:] = [*handlers, ours]
        return buffer

    try:
        yield configure
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**saved)


def probe_app(settings: Settings, db: Database) -> FastAPI:
    app = create_app(settings, db)
    app.include_router(probe)
    return app


def assert_clean(logs: str, settings: Settings, *credentials: str) -> None:
    for secret in (settings.secret("secret_key"), settings.secret("encryption_key"), API_KEY,
                   BASIC, *credentials):
        assert secret not in logs
    # No local variable is rendered: the big structure every frame held is absent.
    assert "[0, 1, 2, 3" not in logs and "'payload'" not in logs


def user_token() -> str:
    # Any bearer value: it must not appear, whether valid or not.
    return jwt.encode({"sub": "u", "kind": "user"}, "another-key-" + "0" * 32, algorithm="HS256")


@pytest.mark.parametrize("fmt", ["console", "json"])
async def test_an_internal_error_logs_no_secret(
        fmt: str, settings: Settings, db: Database,
        captured: Callable[[str], io.StringIO]) -> None:
    buffer = captured(fmt)
    token = user_token()
    async with http_client(probe_app(settings, db)) as client:
        for header in (f"Bearer {token}", f"Basic {BASIC}"):
            started = time.perf_counter()
            r = await client.get("/v1/probe/explode", headers={"authorization": header})
            assert r.status_code == 500 and r.json()["code"] == "internal_error"
            assert time.perf_counter() - started < 5
            assert_clean(r.text, settings, token)
    logs = buffer.getvalue()
    # The error is logged, with where it happened, and the log stays small.
    assert logs.count("unhandled_error") == 2
    assert "RuntimeError: cannot use" in logs and "in descend" in logs
    assert len(logs) < 2 * (app_logging.MAX_TRACEBACK + 4000)
    assert_clean(logs, settings, token)
    if fmt == "json":
        lines = [json.loads(line) for line in logs.splitlines()]
        errors = [line for line in lines if line["event"] == "unhandled_error"]
        assert all("RuntimeError" in line["exception"] for line in errors)


@pytest.fixture
async def served(settings: Settings, db: Database) -> AsyncIterator[str]:
    """The app on a real socket, served by uvicorn in this event loop."""
    async with uvicorn_served(probe_app(settings, db), proxy_headers=False) as base:
        yield base


@pytest.mark.parametrize("fmt", ["console", "json"])
async def test_health_answers_while_an_error_is_handled(
        fmt: str, settings: Settings, served: str,
        captured: Callable[[str], io.StringIO]) -> None:
    buffer = captured(fmt)
    token = user_token()
    async with httpx.AsyncClient(base_url=served, timeout=30) as client:

        async def timed(path: str, **kwargs: Any) -> tuple[httpx.Response, float]:
            started = time.perf_counter()
            response = await client.get(path, **kwargs)
            return response, time.perf_counter() - started

        async def health_soon() -> tuple[httpx.Response, float]:
            await asyncio.sleep(0.02)  # once the failing request is in
            return await timed("/health")

        failures = [timed("/v1/probe/explode", headers={"authorization": f"Bearer {token}"})
                    for _ in range(3)]
        *errors, (health, waited) = await asyncio.gather(*failures, health_soon())
    # Generous bounds for a busy test machine; a traceback with locals took 29-58 s.
    assert health.status_code == 200 and waited < 2.0, waited
    for response, took in errors:
        assert response.status_code == 500 and took < 5.0, took
    logs = buffer.getvalue()
    # One line of ours for each error, rendered plain, bounded and redacted; the error is
    # answered inside the app, so the server has nothing more to log.
    assert logs.count("unhandled_error") == 3
    assert logs.count("Exception in ASGI application") == 0
    assert len(logs) < 3 * (app_logging.MAX_TRACEBACK + 4000)
    assert_clean(logs, settings, token)


# -- the processor, line by line -------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["console", "json"])
def test_every_line_is_redacted_ours_and_foreign(
        fmt: str, captured: Callable[[str], io.StringIO]) -> None:
    configured = "configured-secret-" + secrets.token_hex(8)
    app_logging.mask([configured])
    jwt_like = jwt.encode({"sub": "someone"}, "k" * 32, algorithm="HS256")
    refresh = secrets.token_urlsafe(32)
    buffer = captured(fmt)
    log = structlog.get_logger("gullak.test")
    log.info("sign_in", phone="+919812345678", email="asha@example.com", otp="123456",
             note=f"header Authorization: Bearer {jwt_like} and {configured}",
             details={"password": "hunter2", "nested": [f"refresh={refresh}"]})
    logging.getLogger("some.library").warning(
        "request failed: %s", f'{{"api_key": "{refresh}", "code": "493021", '
                              f'"email": "asha@example.com", "pan": "ABCDE1234F"}}')
    try:
        raise ValueError(f"bad token {jwt_like} for +919812345678")
    except ValueError:
        logging.getLogger("some.library").exception("boom")
    logs = buffer.getvalue()
    for secret in ("+919812345678", "asha@example.com", "123456", jwt_like, configured,
                   "hunter2", refresh, "493021", "ABCDE1234F"):
        assert secret not in logs, secret
    # What is not secret stays readable.
    assert "sign_in" in logs and "request failed" in logs and "ValueError: bad token" in logs
    assert "some.library" in logs


def test_the_command_line_never_shows_locals() -> None:
    from gullak.cli import app

    assert app.pretty_exceptions_show_locals is False


def test_scrub_keeps_ordinary_text() -> None:
    request_id = "0190f5a6c3b27d8e9f0a1b2c3d4e5f60"
    text = (f"request {request_id} GET /v1/ledger/accounts took 12.5 ms; "
            "test_codes_per_ip_are_limited_across_phones; code=rate_limited")
    assert app_logging.scrub(text) == text


def test_scrub_masks_credentials_in_text() -> None:
    key = secrets.token_urlsafe(32)
    cases = {
        f"Authorization: Basic {BASIC}": BASIC,
        "authorization=Bearer abc.def.ghi": "abc.def.ghi",
        f"{API_HOLDER}:{key}": key,
        "password=hunter2&next=1": "hunter2",
        "{'otp': '918273'}": "918273",
        "totp_code='112233'": "112233",
    }
    for text, secret in cases.items():
        assert secret not in app_logging.scrub(text), text


def test_a_deep_traceback_is_bounded_and_fast() -> None:
    # Two functions in turn, so that Python cannot fold the frames into one repeated line.
    def down(n: int) -> None:
        local_secret = "never-rendered-" + "z" * 50  # noqa: F841
        up(n + 1)

    def up(n: int) -> None:
        down(n + 1)

    try:
        down(0)
    except RecursionError:
        started = time.perf_counter()
        text = app_logging.format_traceback(sys.exc_info())  # type: ignore[arg-type]
        took = time.perf_counter() - started
    assert took < 1.0
    assert len(text) <= app_logging.MAX_TRACEBACK + 100
    assert "characters left out" in text
    assert text.startswith("Traceback") and "RecursionError" in text[-200:]
    assert "zzzzzzzzzz" not in text
