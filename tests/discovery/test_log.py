"""The search log: clicks, popular searches per city, the back office's view, retention."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak import worker
from gullak.db.engine import Database
from gullak.discovery import jobs, service
from gullak.discovery.schemas import SearchParams
from gullak.kit import clock
from gullak.kit.security import Subject, current_subject
from tests.helpers.discovery import World, log_state, logged
from tests.helpers.http import guarded_client
from tests.helpers.problems import assert_problem
from tests.helpers.users import sign_in

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


async def search(client: httpx.AsyncClient, headers: dict[str, str] | None = None,
                 **params: Any) -> dict[str, Any]:
    r = await client.get("/v1/search", params=params, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def click_of(hit: dict[str, Any], position: int | None = None) -> dict[str, Any]:
    return {"kind": hit["kind"], "id": hit["id"],
            "position": hit["position"] if position is None else position}


async def test_a_click_is_recorded_once_and_sets_the_first_position(
        client: httpx.AsyncClient, world: World, connection: AsyncConnection) -> None:
    body = await search(client, q="biryani")
    second, first = body["hits"][1], body["hits"][0]
    url = f"/v1/search/{body['query_id']}/click"
    r = await client.post(url, json=click_of(second))
    assert r.status_code == 201, r.text
    clicked = r.json()
    assert (clicked["kind"], clicked["id"], clicked["position"]) == (
        second["kind"], second["id"], 2)
    again = await client.post(url, json=click_of(second))
    assert again.status_code == 201 and again.json() == clicked  # the first click, answered
    r = await client.post(url, json=click_of(first))
    assert r.status_code == 201
    rows = (await connection.execute(text(
        "SELECT kind, result_id::text, position FROM search_clicks WHERE query_id = :q"
        " ORDER BY id"), {"q": body["query_id"]})).all()
    assert [tuple(r) for r in rows] == [(second["kind"], second["id"], 2),
                                        (first["kind"], first["id"], 1)]
    assert (await logged(connection, body["query_id"]))["first_click_position"] == 2


async def test_clicks_that_do_not_fit_the_search_are_refused_and_change_nothing(
        client: httpx.AsyncClient, world: World, connection: AsyncConnection,
        app: FastAPI) -> None:
    alice = await sign_in(client, connection)
    body = await search(client, alice.headers, q="biryani")
    hit = body["hits"][0]
    url = f"/v1/search/{body['query_id']}/click"
    before = await log_state(connection)
    cases: list[tuple[str, dict[str, Any], dict[str, str] | None, int, str, str | None]] = [
        (url, click_of(hit, 2), alice.headers, 422, "click_not_in_results", "position"),
        (url, {**click_of(hit), "kind": "offer"}, alice.headers, 422, "click_not_in_results",
         "position"),
        (url, {**click_of(hit), "id": str(uuid.uuid4())}, alice.headers, 422,
         "click_not_in_results", "position"),
        (url, click_of(hit, len(body["hits"]) + 1), alice.headers, 422,
         "click_not_in_results", "position"),
        # Alice's search is hers: to anyone else it does not exist.
        (url, click_of(hit), None, 404, "search_not_found", None),
        (f"/v1/search/{uuid.uuid4()}/click", click_of(hit), alice.headers, 404,
         "search_not_found", None),
        (url, click_of(hit, 0), alice.headers, 422, "validation_error", "position"),
        (url, {**click_of(hit), "kind": "shop"}, alice.headers, 422, "validation_error",
         "kind"),
        (url, {**click_of(hit), "extra": 1}, alice.headers, 422, "validation_error", "extra"),
        ("/v1/search/not-a-uuid/click", click_of(hit), alice.headers, 422,
         "validation_error", "query_id"),
    ]
    for path, payload, headers, status, code, field in cases:
        assert_problem(await client.post(path, json=payload, headers=headers), status, code, field)
    bob = await sign_in(client, connection)
    assert_problem(await client.post(url, json=click_of(hit), headers=bob.headers), 404,
                   "search_not_found")
    assert await log_state(connection) == before
    r = await client.post(url, json=click_of(hit), headers=alice.headers)
    assert r.status_code == 201, r.text


async def test_an_anonymous_search_may_be_clicked_by_whoever_holds_its_id(
        client: httpx.AsyncClient, world: World, connection: AsyncConnection) -> None:
    body = await search(client, q="chai")
    alice = await sign_in(client, connection)
    r = await client.post(f"/v1/search/{body['query_id']}/click",
                          json=click_of(body["hits"][0]), headers=alice.headers)
    assert r.status_code == 201, r.text


async def searches(app: FastAPI, address: str, *queries: tuple[str, str | None]) -> None:
    async with guarded_client(app, (address, 4000)) as c:
        for q, city in queries:
            params = {"q": q} if city is None else {"q": q, "city": city}
            body = await search(c, **params)
            if body["hits"]:
                await c.post(f"/v1/search/{body['query_id']}/click",
                             json=click_of(body["hits"][0]))


async def test_popular_searches_need_several_people_and_results(
        app: FastAPI, client: httpx.AsyncClient, world: World, session: AsyncSession) -> None:
    clock.freeze(NOW - dt.timedelta(days=8))
    await searches(app, "10.0.0.9", ("masala chai", "Mumbai"))  # too old to count
    clock.freeze(NOW)
    for n in range(3):
        await searches(app, f"10.0.1.{n}", ("biryani", "Mumbai"), ("Biryani ", "mumbai"))
    for n in range(2):
        await searches(app, f"10.0.2.{n}", ("paradise", "Bengaluru"), ("masala chai", None))
        await searches(app, f"10.0.3.{n}", ("xylophone", "Mumbai"))  # finds nothing
    # One person (or script) repeating a query does not make it popular.
    await searches(app, "10.0.4.1", *[("chai point", "Mumbai")] * 5)
    rows = await service.refresh_popular(session)

    r = await client.get("/v1/search/popular", params={"city": "MUMBAI"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["city"] == "mumbai" and body["computed_at"] is not None
    assert body["queries"] == [{"query": "biryani", "searches": 6, "searchers": 3,
                                "clicks": 6}]
    everywhere = (await client.get("/v1/search/popular")).json()
    assert everywhere["city"] is None
    assert [q["query"] for q in everywhere["queries"]] == ["biryani", "masala chai", "paradise"]
    # A city nobody searched from yet gets what every city searches.
    pune = (await client.get("/v1/search/popular", params={"city": "Pune", "limit": 1})).json()
    assert pune["city"] is None and [q["query"] for q in pune["queries"]] == ["biryani"]
    assert rows == 5  # mumbai: 1, bengaluru: 1, every city: 3


async def test_a_refresh_replaces_popular_searches_and_clears_their_cache(
        app: FastAPI, client: httpx.AsyncClient, world: World, session: AsyncSession) -> None:
    clock.freeze(NOW)
    for n in range(2):
        await searches(app, f"10.0.5.{n}", ("chai", None))
    await service.refresh_popular(session)
    assert [q["query"] for q in (await client.get("/v1/search/popular")).json()["queries"]] == [
        "chai"]
    clock.freeze(NOW + dt.timedelta(days=8))  # every search has left the window
    assert await service.refresh_popular(session) == 0
    assert (await client.get("/v1/search/popular")).json()["queries"] == []


async def test_the_back_office_reads_the_log_with_its_clicks(
        app: FastAPI, client: httpx.AsyncClient, world: World) -> None:
    assert_problem(await client.get("/v1/admin/search/queries"), 401, "unauthorized")
    first = await search(client, q="biryani", city="Mumbai")
    await client.post(f"/v1/search/{first['query_id']}/click", json=click_of(first["hits"][0]))
    empty = await search(client, q="xylophone")

    subject = Subject("admin", uuid.uuid4(), frozenset({"users.read"}))

    async def not_allowed() -> Subject:
        return subject

    app.dependency_overrides[current_subject] = not_allowed
    assert_problem(await client.get("/v1/admin/search/queries"), 403, "forbidden")
    app.dependency_overrides[current_subject] = lambda: Subject(
        "admin", uuid.uuid4(), frozenset({"search.read"}))

    page = (await client.get("/v1/admin/search/queries", params={"limit": 1})).json()
    assert [e["id"] for e in page["entries"]] == [empty["query_id"]]  # newest first
    page = (await client.get("/v1/admin/search/queries",
                             params={"cursor": page["next_cursor"]})).json()
    entry = page["entries"][0]
    assert entry["id"] == first["query_id"] and entry["city"] == "mumbai"
    assert entry["clicks"][0]["result_id"] == first["hits"][0]["id"]
    assert entry["first_click_position"] == 1
    zero = (await client.get("/v1/admin/search/queries",
                             params={"zero_results": "true"})).json()
    assert [e["id"] for e in zero["entries"]] == [empty["query_id"]]
    assert_problem(await client.get("/v1/admin/search/queries", params={"cursor": "x"}), 422,
                   "invalid_cursor", "cursor")


async def test_the_jobs_rebuild_popular_searches_and_prune_old_logs(
        fresh_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    old, recent = NOW - dt.timedelta(days=200), NOW - dt.timedelta(days=1)
    async with fresh_db.sessionmaker() as session, session.begin():
        for at, count in ((old, 5), (recent, 2)):
            clock.freeze(at)
            for n in range(count):
                who = service.Searcher(client_hash=f"client-{n}")
                out = await service.search(session, SearchParams(q="samosa"), who)
                # The log keeps searches that found nothing too; popular ones need results.
                await session.execute(text(
                    "UPDATE search_queries SET results_count = 1,"
                    " results = CAST(:r AS jsonb) WHERE id = :id"),
                    {"id": out.query_id, "r": '[{"kind": "product", "id": "%s"}]'
                     % uuid.uuid4()})
                await session.execute(text(
                    "INSERT INTO search_clicks (id, query_id, kind, result_id, position)"
                    " VALUES (:i, :q, 'product', :r, 1)"),
                    {"i": uuid.uuid4(), "q": out.query_id, "r": uuid.uuid4()})
    clock.freeze(NOW)
    monkeypatch.setattr(worker, "_db", fresh_db)
    monkeypatch.setattr(service, "PRUNE_BATCH", 2)  # several batches, each its own commit
    assert await jobs.refresh_popular(timestamp=0) == 1
    assert await jobs.prune_log(timestamp=0) == 5
    async with fresh_db.engine.connect() as conn:
        left = (await conn.execute(text(
            "SELECT count(*), min(created_at) FROM search_queries"))).one()
        clicks = await conn.scalar(text("SELECT count(*) FROM search_clicks"))
        popular = (await conn.execute(text(
            "SELECT city, query, searches, searchers FROM popular_searches"))).all()
    assert left[0] == 2 and left[1] == recent and clicks == 2  # clicks go with their search
    assert [tuple(p) for p in popular] == [("", "samosa", 2, 2)]
    assert await jobs.prune_log(timestamp=0) == 0
