"""The express lane answers its routes exactly as the ordinary way does, or leaves them to it.

Every request here is sent twice: to the app as it runs (the lane in front of the marked
routes) and to the same app with `GULLAK_EXPRESS_LANE=false`. Status, headers and body must be
equal, and the lane's counter must say which of them the lane answered: successes only.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Cookie, Depends, FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.routing import ReadSessionDep
from gullak.kit import express
from gullak.kit.http import App, RequestContext, SecurityHeaders
from gullak.kit.security import Subject, current_subject, require, require_kind
from gullak.ledger.schemas import AccountOut
from gullak.settings import Settings
from tests.helpers.admins import Key, make_key
from tests.helpers.http import http_client
from tests.helpers.ledger import Book, make_book
from tests.helpers.sessions import rolled_back_app
from tests.helpers.users import SignedIn, sign_in

BALANCE = "/v1/ledger/accounts/{account_id}/balance"
TRANSFERS = "/v1/ledger/transfers"
WALLET = "/v1/me/wallet"
HISTORY = "/v1/ledger/accounts/{account_id}/history"
# Differ between any two answers: when and to which request.
VARYING = {"date", "x-request-id"}


@pytest.fixture
def plain(settings: Settings, db: Database, connection: AsyncConnection) -> FastAPI:
    """The same app without the lane, every request in the test's transaction as `app`'s."""
    return rolled_back_app(settings.model_copy(update={"express_lane": False}), db, connection)


@pytest.fixture
async def ordinary(plain: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(plain) as c:
        yield c


@dataclass
class World:
    book: Book
    reader: Key  # ledger.read and ledger.write
    nobody: Key  # no permission at all
    funded: AccountOut
    empty: AccountOut
    alice: SignedIn


@pytest.fixture
async def world(session: AsyncSession, client: httpx.AsyncClient,
                connection: AsyncConnection) -> World:
    book = await make_book(session)
    funded, empty = await book.user(), await book.user()
    await book.fund(funded, 500)
    reader = await make_key(session, "ledger.read", "ledger.write")
    nobody = await make_key(session)
    await session.flush()
    return World(book, reader, nobody, funded, empty, await sign_in(client, connection))


def count(path: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("gullak_http_express_total",
                                     {"route": path, "outcome": outcome}) or 0.0


class Counted:
    """How many requests of `path` the lane answered and declined since it was made."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.start = count(path, "answered"), count(path, "declined")

    @property
    def answered(self) -> float:
        return count(self.path, "answered") - self.start[0]

    @property
    def declined(self) -> float:
        return count(self.path, "declined") - self.start[1]


def same_answer(lane: httpx.Response, ordinary: httpx.Response) -> None:
    assert lane.status_code == ordinary.status_code, (lane.text, ordinary.text)
    headers = [(k, v) for k, v in lane.headers.multi_items() if k not in VARYING]
    assert headers == [(k, v) for k, v in ordinary.headers.multi_items() if k not in VARYING]
    body, other = lane.json(), ordinary.json()
    if isinstance(body, dict):
        body.pop("request_id", None)
        other.pop("request_id", None)
    assert body == other


def test_the_marked_routes_take_the_lane(app: FastAPI) -> None:
    assert sorted((lane.method, lane.route.path) for lane in express.lanes(app)) == [
        ("GET", "/v1/ledger/accounts/{account_id}"), ("GET", BALANCE), ("GET", HISTORY),
        ("GET", "/v1/ledger/assets"), ("GET", "/v1/ledger/holds/{hold_id}"),
        ("GET", "/v1/ledger/transfers/{transfer_id}"), ("GET", "/v1/me"),
        ("GET", "/v1/me/achievements"), ("GET", "/v1/me/cashback/summary"),
        ("GET", "/v1/me/notifications"), ("GET", "/v1/me/notifications/unread-count"),
        ("GET", "/v1/me/rewards"), ("GET", WALLET), ("GET", "/v1/me/wallet/assets"),
        ("GET", "/v1/me/wallet/history"), ("GET", "/v1/orders"), ("POST", TRANSFERS)]
    assert isinstance(app, App)
    # Outside FastAPI's own middleware, right inside the request context and security headers:
    # nothing else in this app's middleware changes a success.
    assert [m.cls for m in app.outer] == [RequestContext, SecurityHeaders, express.ExpressLane]
    assert not any(m.cls is express.ExpressLane for m in app.user_middleware)


def test_the_lane_can_be_turned_off(plain: FastAPI) -> None:
    assert isinstance(plain, App)
    assert not any(m.cls is express.ExpressLane for m in [*plain.user_middleware, *plain.outer])


async def test_behind_cors_the_lane_is_the_innermost_and_its_answers_carry_cors(
        settings: Settings, db: Database, connection: AsyncConnection, world: World) -> None:
    origin = "https://app.example"
    cors = rolled_back_app(settings.model_copy(update={"cors_origins": [origin]}), db, connection)
    assert isinstance(cors, App)
    assert not any(m.cls is express.ExpressLane for m in cors.outer)
    assert cors.user_middleware[-1].cls is express.ExpressLane
    path = BALANCE.format(account_id=world.funded.id)
    counted = Counted(BALANCE)
    async with http_client(cors) as c:
        r = await c.get(path, headers={**world.reader.headers, "origin": origin})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == origin
    assert counted.answered == 1


READS = [
    # (what, path, credentials, answered by the lane)
    ("a balance", "funded", "reader", True),
    ("an empty balance", "empty", "reader", True),
    ("no such account", "missing", "reader", False),
    ("not a uuid", "bad", "reader", False),
    ("no permission", "funded", "nobody", False),
    ("no credentials", "funded", None, False),
    ("a wrong key", "funded", "wrong", False),
    ("a user's token", "funded", "alice", False),
]


@pytest.mark.parametrize(("what", "account", "who", "answered"), READS,
                         ids=[r[0] for r in READS])
async def test_a_balance_read_is_answered_as_the_ordinary_way_answers_it(
        world: World, client: httpx.AsyncClient, ordinary: httpx.AsyncClient,
        what: str, account: str, who: str | None, answered: bool) -> None:
    ids = {"funded": str(world.funded.id), "empty": str(world.empty.id),
           "missing": str(uuid.uuid4()), "bad": "not-a-uuid"}
    headers = {"reader": world.reader.headers, "nobody": world.nobody.headers,
               "alice": world.alice.headers, None: {},
               "wrong": Key(world.reader.id, world.reader.holder, "x" * 43).headers}[who]
    path = BALANCE.format(account_id=ids[account])
    counted = Counted(BALANCE)
    lane = await client.get(path, headers=headers)
    assert (counted.answered, counted.declined) == ((1, 0) if answered else (0, 1))
    same_answer(lane, await ordinary.get(path, headers=headers))
    if answered:
        assert lane.json()["available"] == (500 if account == "funded" else 0)


async def test_a_refused_read_is_audited_once(world: World, client: httpx.AsyncClient,
                                              connection: AsyncConnection) -> None:
    r = await client.get(BALANCE.format(account_id=world.funded.id), headers=world.nobody.headers)
    assert r.status_code == 403
    denied = await connection.scalar(text(
        "SELECT count(*) FROM audit_log WHERE action = 'denied:ledger.read'"
        " AND actor_id = :key"), {"key": world.nobody.id})
    assert denied == 1


async def test_the_wallet_is_answered_for_users_only(world: World, client: httpx.AsyncClient,
                                                     ordinary: httpx.AsyncClient) -> None:
    counted = Counted(WALLET)
    for headers in (world.alice.headers, world.reader.headers, {}):
        same_answer(await client.get(WALLET, headers=headers),
                    await ordinary.get(WALLET, headers=headers))
    assert (counted.answered, counted.declined) == (1, 2)


QUERIES = [
    # (query, answered by the lane)
    ({}, True),
    ({"limit": 1}, True),
    ({"limit": 2, "kind": "earn", "since": "2020-01-01T00:00:00Z"}, True),
    ({"limit": 0}, False),
    ({"limit": "many"}, False),
    ({"cursor": "abc"}, False),
    ({"since": "yesterday"}, False),
    ({"unknown": "ignored"}, True),
]


@pytest.mark.parametrize(("query", "answered"), QUERIES, ids=[str(q[0]) for q in QUERIES])
async def test_a_query_is_read_as_the_ordinary_way_reads_it(
        world: World, client: httpx.AsyncClient, ordinary: httpx.AsyncClient,
        query: dict[str, Any], answered: bool) -> None:
    await world.book.fund(world.funded, 25)
    path = HISTORY.format(account_id=world.funded.id)
    counted = Counted(HISTORY)
    lane = await client.get(path, params=query, headers=world.reader.headers)
    assert (counted.answered, counted.declined) == ((1, 0) if answered else (0, 1))
    same_answer(lane, await ordinary.get(path, params=query, headers=world.reader.headers))
    if answered:
        assert len(lane.json()["entries"]) == query.get("limit", 2)


async def test_a_user_reads_their_profile_by_the_lane(world: World, client: httpx.AsyncClient,
                                                      ordinary: httpx.AsyncClient) -> None:
    counted = Counted("/v1/me")
    same_answer(await client.get("/v1/me", headers=world.alice.headers),
                await ordinary.get("/v1/me", headers=world.alice.headers))
    assert (counted.answered, counted.declined) == (1, 0)


def transfer(world: World, amount: object, **extra: Any) -> dict[str, Any]:
    return {"debit_account_id": str(world.funded.id), "credit_account_id": str(world.empty.id),
            "asset_code": "COIN", "amount": amount, "kind": "transfer", **extra}


async def available(world: World) -> tuple[int, int]:
    return await world.book.available(world.funded), await world.book.available(world.empty)


async def test_a_transfer_is_answered_by_the_lane_and_replayed_by_its_key(
        world: World, client: httpx.AsyncClient, ordinary: httpx.AsyncClient) -> None:
    headers = {**world.reader.headers, "idempotency-key": "pay-1"}
    counted = Counted(TRANSFERS)
    first = await client.post(TRANSFERS, json=transfer(world, 120), headers=headers)
    assert first.status_code == 201, first.text
    assert await available(world) == (380, 120)
    # The same key and body: the first answer, from either way, and no second movement.
    same_answer(await client.post(TRANSFERS, json=transfer(world, 120), headers=headers), first)
    same_answer(await ordinary.post(TRANSFERS, json=transfer(world, 120), headers=headers),
                first)
    assert await available(world) == (380, 120)
    assert (counted.answered, counted.declined) == (2, 0)


REFUSALS = [
    # (what, body, headers to add or drop, status, declined by the lane: 0 when refused before)
    ("more than the balance", {"amount": 501}, {}, 422, 1),
    ("a zero amount", {"amount": 0}, {}, 422, 1),
    ("an unknown field", {"amount": 5, "price": 1}, {}, 422, 1),
    ("a key used for another body", {"amount": 7}, {"idempotency-key": "used"}, 409, 1),
    ("no idempotency key", {"amount": 5}, {"idempotency-key": None}, 422, 1),
    ("no write permission", {"amount": 5}, {"authorization": "nobody"}, 403, 1),
    ("text, not JSON", "amount=5", {"content-type": "text/plain"}, 415, 0),
    ("broken JSON", '{"amount": ', {}, 400, 1),
    ("JSON nested too deep to read", "[" * 10_000 + "]" * 10_000, {}, 400, 1),
    ("JSON with a charset", {"amount": 5}, {"content-type": "application/json; charset=utf-8"},
     201, 0),
]


@pytest.mark.parametrize(("what", "body", "change", "status", "declined"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
async def test_a_transfer_the_lane_refuses_is_answered_by_the_ordinary_way_and_moves_nothing(
        world: World, client: httpx.AsyncClient, ordinary: httpx.AsyncClient, what: str,
        body: Any, change: dict[str, str | None], status: int, declined: int) -> None:
    used = {**world.reader.headers, "idempotency-key": "used"}
    assert (await client.post(TRANSFERS, json=transfer(world, 1), headers=used)).status_code == 201
    before = await available(world)
    headers = {**world.reader.headers, "idempotency-key": uuid.uuid4().hex,
               "content-type": "application/json"}
    for name, value in change.items():
        if value is None:
            headers.pop(name)
        else:
            headers[name] = world.nobody.headers["authorization"] if value == "nobody" else value
    content = body if isinstance(body, str) else httpx.Request(
        "POST", "/", json=transfer(world, **body)).content
    counted = Counted(TRANSFERS)
    lane = await client.post(TRANSFERS, content=content, headers=headers)
    assert lane.status_code == status, lane.text
    if status == 201:  # the one accepted: answered by the lane, and it moved the coins
        assert (counted.answered, counted.declined) == (1, 0)
        assert await available(world) == (before[0] - 5, before[1] + 5)
        return
    assert (counted.answered, counted.declined) == (0, declined)
    same_answer(lane, await ordinary.post(TRANSFERS, content=content, headers=headers))
    assert await available(world) == before


async def test_a_body_over_the_limit_is_refused_before_the_lane_reads_on(
        world: World, client: httpx.AsyncClient, settings: Settings) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no content-length: counted as it arrives
        yield b'{"kind": "transfer", "metadata": {"x": "'
        for _ in range(settings.max_body_bytes // 1024 + 1):
            yield b"x" * 1024
        yield b'"}}'

    headers = {**world.reader.headers, "idempotency-key": "big",
               "content-type": "application/json"}
    r = await client.post(TRANSFERS, content=chunks(), headers=headers)
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"


async def test_any_other_override_sends_requests_the_ordinary_way(
        app: FastAPI, world: World, client: httpx.AsyncClient) -> None:
    async def nobody_in_particular() -> Subject:
        return Subject("service", uuid.uuid4(), frozenset({"ledger.read"}))

    app.dependency_overrides[current_subject] = nobody_in_particular
    counted = Counted(BALANCE)
    r = await client.get(BALANCE.format(account_id=world.funded.id))
    assert r.status_code == 200
    assert (counted.answered, counted.declined) == (0, 1)


@pytest.fixture
def unmarked() -> Iterator[None]:
    marked = set(express._marked)
    yield
    express._marked.clear()
    express._marked.update(marked)


async def _subject_extra() -> str:
    return "extra"


Reader = Annotated[Subject, require("ledger.read")]


@pytest.mark.parametrize("shape", ["cookie", "other dependency", "no guard", "no model", "PUT"])
def test_a_route_the_lane_cannot_answer_cannot_be_marked(unmarked: None, settings: Settings,
                                                         db: Database, shape: str) -> None:
    router = APIRouter()
    if shape == "cookie":
        @router.get("/x")
        @express.lane
        async def with_cookie(c: Annotated[str, Cookie()], session: ReadSessionDep,
                              _: Reader) -> dict[str, str]:
            return {"c": c}
    elif shape == "other dependency":
        @router.get("/x")
        @express.lane
        async def with_other(extra: Annotated[str, Depends(_subject_extra)],
                             _: Reader) -> dict[str, str]:
            return {"extra": extra}
    elif shape == "no guard":
        @router.get("/x")
        @express.lane
        async def anonymous(session: ReadSessionDep) -> dict[str, str]:
            return {}
    elif shape == "no model":
        @router.get("/x")
        @express.lane
        async def untyped(_: Reader):  # type: ignore[no-untyped-def]
            return {}
    else:
        @router.put("/x")
        @express.lane
        async def put(_: Reader) -> dict[str, str]:
            return {}
    application = create_app(settings, db)
    application.include_router(router)
    with pytest.raises(RuntimeError, match="cannot take the express lane"):
        express.lanes(application)


def test_every_guard_of_a_route_is_checked(unmarked: None, settings: Settings,
                                           db: Database) -> None:
    router = APIRouter()

    @router.get("/two-guards")
    @express.lane
    async def both(_: Reader, user: Annotated[Subject, require_kind("user")],
                   session: ReadSessionDep) -> dict[str, str]:
        return {}

    application = create_app(settings, db)
    application.include_router(router)
    [found] = [f for f in express.lanes(application) if f.route.path == "/two-guards"]
    assert [name for name, _ in found.guards] == ["_", "user"]
    assert [name for name, _ in found.sessions] == ["session"]
    service = Subject("service", uuid.uuid4(), frozenset({"ledger.read"}))
    user = Subject("user", uuid.uuid4(), frozenset())
    reading_user = Subject("user", uuid.uuid4(), frozenset({"ledger.read"}))
    passes = {s: all(check(s) for _, check in found.guards) for s in (service, user, reading_user)}
    assert passes == {service: False, user: False, reading_user: True}
