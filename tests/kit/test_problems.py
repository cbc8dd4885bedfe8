"""Database errors as problems: a value PostgreSQL refuses (SQLSTATE class 22), or one past the
end of its type in Python's arithmetic, is the client's 422, a database that cannot be reached
is 503, anything else is our 500."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from gullak.db.uow import SessionDep
from tests.helpers.http import http_client
from tests.helpers.problems import assert_problem

probe = APIRouter(prefix="/v1/probe")


@probe.get("/cast")
async def cast(session: SessionDep, value: str) -> int:
    # The value goes to PostgreSQL unchecked: the error translation is the only guard.
    return int(await session.scalar(text("SELECT CAST(:v AS smallint)"), {"v": value}) or 0)


@probe.get("/text")
async def store_text(session: SessionDep, value: str) -> str:
    return str(await session.scalar(text("SELECT CAST(:v AS text)"), {"v": value}))


@probe.get("/json")
async def store_json(session: SessionDep, value: str) -> str:
    return str(await session.scalar(text("SELECT CAST(:v AS jsonb)::text"), {"v": value}))


@probe.get("/underflow")
async def underflow(session: SessionDep) -> float:
    return float(await session.scalar(text("SELECT CAST(1e-300 AS float8) ^ 2")) or 0)


@probe.get("/day-before")
async def day_before(day: dt.date) -> str:
    # Arithmetic the schemas did not bound: a day before 0001-01-01 is past the type.
    return (day - dt.timedelta(days=1)).isoformat()


@probe.get("/unreachable")
async def unreachable() -> None:
    raise OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))


@probe.get("/typo")
async def typo(session: SessionDep) -> None:
    await session.execute(text("SELEC 1"))


@pytest.fixture
async def probing(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    app.include_router(probe)
    async with http_client(app) as c:
        yield c


@pytest.mark.parametrize("url", [
    "/v1/probe/cast?value=100000",  # 22003 numeric value out of range
    "/v1/probe/cast?value=ten",  # 22P02 invalid text representation
    "/v1/probe/text?value=a%00b",  # NUL: refused before it is sent
    "/v1/probe/json?value=%7B%22a%22%3A%22%5Cu0000%22%7D",  # 22P05 untranslatable \u0000
    "/v1/probe/underflow",  # 22003 underflow in arithmetic
    "/v1/probe/day-before?day=0001-01-01",  # OverflowError in Python's own arithmetic
])
async def test_a_value_postgresql_refuses_is_invalid_input(probing: httpx.AsyncClient,
                                                           url: str) -> None:
    assert_problem(await probing.get(url), 422, "invalid_value")


async def test_only_an_unreachable_database_is_unavailable(probing: httpx.AsyncClient) -> None:
    r = await probing.get("/v1/probe/unreachable")
    assert_problem(r, 503, "database_unavailable")
    assert r.headers["retry-after"] == "1"


async def test_a_broken_statement_is_an_internal_error(probing: httpx.AsyncClient) -> None:
    assert_problem(await probing.get("/v1/probe/typo"), 500, "internal_error")
