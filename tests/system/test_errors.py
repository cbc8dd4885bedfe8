"""The error model: every error is problem+json with a stable code, never a 500 for input."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field

from gullak.kit.errors import Conflict, NotFound
from tests.helpers.http import http_client
from tests.helpers.problems import PROBLEM, assert_problem

class Payload(BaseModel):
    amount: int = Field(gt=0)
    note: str = Field(max_length=10)


probe = APIRouter(prefix="/v1/probe")


@probe.post("/echo")
async def echo(body: Payload) -> Payload:
    return body


@probe.get("/missing")
async def missing() -> None:
    raise NotFound("No such widget.", field="widget_id")


@probe.get("/conflict")
async def conflict() -> None:
    raise Conflict("Already done.", code="already_done")


@probe.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals: password=hunter2")


@pytest.fixture
async def probe_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    app.include_router(probe)
    async with http_client(app) as c:
        yield c


def traced_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    """The problem `status` / `code`, naming the request it answers (its X-Request-Id)."""
    body = assert_problem(response, status, code)
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_unknown_route(client: httpx.AsyncClient) -> None:
    body = traced_problem(await client.get("/v1/nothing-here"), 404, "route_not_found")
    assert body["instance"] == "/v1/nothing-here"


async def test_wrong_method(client: httpx.AsyncClient) -> None:
    traced_problem(await client.delete("/health"), 405, "method_not_allowed")


async def test_malformed_json(probe_client: httpx.AsyncClient) -> None:
    r = await probe_client.post("/v1/probe/echo", content=b"{bad",
                                headers={"content-type": "application/json"})
    traced_problem(r, 400, "malformed_json")


async def test_malformed_json_on_unknown_route_is_a_4xx(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/anything", content=b"{bad",
                          headers={"content-type": "application/json"})
    traced_problem(r, 404, "route_not_found")


async def test_form_body_is_unsupported_media_type(probe_client: httpx.AsyncClient) -> None:
    # What `curl -d '{bad'` sends: a form-encoded body.
    r = await probe_client.post("/v1/probe/echo", content=b"{bad",
                                headers={"content-type": "application/x-www-form-urlencoded"})
    traced_problem(r, 415, "unsupported_media_type")


async def test_body_without_content_type(probe_client: httpx.AsyncClient) -> None:
    r = await probe_client.post("/v1/probe/echo", content=b'{"amount": 1, "note": "x"}')
    traced_problem(r, 415, "unsupported_media_type")


async def test_body_over_limit_by_length(probe_client: httpx.AsyncClient) -> None:
    big = b'{"amount": 1, "note": "' + b"x" * 70_000 + b'"}'
    r = await probe_client.post("/v1/probe/echo", content=big,
                                headers={"content-type": "application/json"})
    traced_problem(r, 413, "payload_too_large")


@pytest.mark.parametrize("length", [b"\xb2", b"\xb9\xb2", b"12a", b"-1"])
async def test_a_content_length_that_is_no_ascii_number_is_refused(
        probe_client: httpx.AsyncClient, length: bytes) -> None:
    # "²" and "¹²" (latin-1) pass str.isdigit() but not int(): a 500 behind a server that
    # lets such a header through (uvicorn's parsers refuse it before the app).
    r = await probe_client.post("/v1/probe/echo", content=b'{"amount": 1, "note": "x"}',
                                headers={"content-type": "application/json",
                                         "content-length": length})
    traced_problem(r, 413, "payload_too_large")


async def test_body_over_limit_when_streamed(probe_client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"amount": 1, "note": "'
        for _ in range(20):
            yield b"x" * 8192
        yield b'"}'

    r = await probe_client.post("/v1/probe/echo", content=chunks(),
                                headers={"content-type": "application/json"})
    traced_problem(r, 413, "payload_too_large")


async def test_validation_error_names_the_field(probe_client: httpx.AsyncClient) -> None:
    r = await probe_client.post("/v1/probe/echo", json={"amount": 0, "note": "ok"})
    body = traced_problem(r, 422, "validation_error")
    assert body["field"] == "amount"
    assert [e["field"] for e in body["errors"]] == ["amount"]  # type: ignore[union-attr]


async def test_missing_and_mistyped_fields(probe_client: httpx.AsyncClient) -> None:
    r = await probe_client.post("/v1/probe/echo", json={"amount": "ten"})
    body = traced_problem(r, 422, "validation_error")
    fields = sorted(e["field"] for e in body["errors"])  # type: ignore[union-attr]
    assert fields == ["amount", "note"]


async def test_json_that_is_not_an_object(probe_client: httpx.AsyncClient) -> None:
    r = await probe_client.post("/v1/probe/echo", json=[1, 2, 3])
    traced_problem(r, 422, "validation_error")


async def test_valid_request_passes(probe_client: httpx.AsyncClient) -> None:
    r = await probe_client.post("/v1/probe/echo", json={"amount": 5, "note": "hi"})
    assert r.status_code == 200
    assert r.json() == {"amount": 5, "note": "hi"}


async def test_domain_errors_keep_their_code(probe_client: httpx.AsyncClient) -> None:
    body = traced_problem(await probe_client.get("/v1/probe/missing"), 404, "not_found")
    assert body["field"] == "widget_id"
    traced_problem(await probe_client.get("/v1/probe/conflict"), 409, "already_done")


async def test_unexpected_error_hides_internals(probe_client: httpx.AsyncClient) -> None:
    r = await probe_client.get("/v1/probe/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "internal_error"
    assert "hunter2" not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text
    # Answered inside our middleware: traced and hardened like every other answer.
    assert r.json()["request_id"] == r.headers["x-request-id"]
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_request_id_is_kept_when_sane(client: httpx.AsyncClient) -> None:
    r = await client.get("/health", headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/health", headers={"x-request-id": "bad id\twith junk" * 20})
    assert r.headers["x-request-id"] != "bad id\twith junk" * 20
    assert len(r.headers["x-request-id"]) == 32


@probe.get("/clash")
async def clash() -> None:
    raise Conflict("Extra members named like standard ones.", status="frozen", code_hint="x")


async def test_extra_members_never_replace_standard_ones(probe_client: httpx.AsyncClient) -> None:
    body = traced_problem(await probe_client.get("/v1/probe/clash"), 409, "conflict")
    assert body["code_hint"] == "x"
