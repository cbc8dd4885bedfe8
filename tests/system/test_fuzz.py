"""The whole OpenAPI fuzzed with Schemathesis over HTTP, as an anonymous client, the demo user
and the demo admin: no answer is a 5xx, and every status code and content type is one the
document gives for that operation.

The app runs in uvicorn on 127.0.0.1 in a thread of its own, with its own event loop and
connection pool, on a fresh database holding the demo data.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pyotp
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from gullak import seed
from gullak.access.seed import DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, DEMO_ADMIN_TOTP
from gullak.app import create_app
from gullak.db.engine import Database
from gullak.identity.seed import DEMO_PHONE
from gullak.settings import Settings, get_settings
from tests.helpers.users import bearer

# Examples per operation, caller and generation mode: enough to reach every refusal path
# of every operation while the whole test stays within a few minutes on two cores.
EXAMPLES = 3
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]
# Operations that end the caller's own session or account: fuzzed after all the others.
LAST = {"POST /v1/auth/logout", "POST /v1/auth/logout-all", "DELETE /v1/me",
        "POST /v1/me/deactivate", "PUT /v1/me/password", "DELETE /v1/me/sessions/{session_id}"}


@contextmanager
def serving(app: Any) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False,
                                           lifespan="on", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def user_headers(base: str, database_url: str) -> dict[str, str]:
    r = requests.post(f"{base}/v1/auth/otp", json={"phone": DEMO_PHONE}, timeout=10)
    assert r.status_code == 202, r.text
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT substring(body from '\\d{6}') FROM sms_outbox WHERE phone = %s"
                           " ORDER BY created_at DESC LIMIT 1", (DEMO_PHONE,)).fetchone()
    assert row and row[0], "no code was sent"
    r = requests.post(f"{base}/v1/auth/otp/verify", json={"phone": DEMO_PHONE, "code": row[0]},
                      timeout=10)
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


def admin_headers(base: str) -> dict[str, str]:
    r = requests.post(f"{base}/v1/admin/auth/login", timeout=10, json={
        "email": DEMO_ADMIN_EMAIL, "password": DEMO_ADMIN_PASSWORD,
        "totp_code": pyotp.TOTP(DEMO_ADMIN_TOTP).now()})
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


def fuzz(operation: Any, base: str, headers: dict[str, str]) -> Callable[[], None]:
    with_modes = (operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
                  | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    # Without credentials an operation that needs them stops at the first check (401).
    anonymous_refused = not headers and operation.definition.raw.get("security")

    @settings(max_examples=1 if anonymous_refused else EXAMPLES * 2, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=with_modes)
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS, headers=headers)

    return run


def label(operation: Any) -> str:
    return f"{operation.method.upper()} {operation.path}"


async def test_no_server_errors_and_responses_as_documented(fresh_db: Database,
                                                            settings: Settings) -> None:
    await seed.load(fresh_db)
    # The demo admin's TOTP secret is sealed with the key of the settings that seeded it.
    server_settings = settings.model_copy(update={
        "database_url": fresh_db.url,
        "encryption_key": SecretStr(get_settings().secret("encryption_key"))})
    app = create_app(server_settings)
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = sorted((r.ok() for r in schema.get_all_operations()),
                        key=lambda op: (label(op) in LAST, label(op)))
    failures: list[str] = []
    started = time.monotonic()
    with serving(app) as base:
        callers = {"anonymous": {}, "user": user_headers(base, fresh_db.url),
                   "admin": admin_headers(base)}
        for caller, headers in callers.items():
            for operation in operations:
                try:
                    fuzz(operation, base, headers)()
                # Every failing operation is reported, not only the first.
                except (Exception, BaseExceptionGroup) as exc:
                    failures.append(f"{caller} {label(operation)}: {str(exc)[:2000]}")
    elapsed = time.monotonic() - started
    assert len(operations) > 100  # the document lists every domain's operations
    assert not failures, f"{len(failures)} failures in {elapsed:.0f}s:\n\n" + "\n\n".join(failures)
