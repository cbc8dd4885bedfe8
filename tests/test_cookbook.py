"""The query cookbook (docs/queries.md) runs against the demo data: every query's SQL in a read
only transaction and its API call through the app, and where both answer the same question,
they give the same numbers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gullak import seed
from gullak.access.seed import DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, DEMO_ADMIN_TOTP
from gullak.analytics import jobs as analytics_jobs
from gullak.app import create_app
from gullak.db import embedded
from gullak.db.engine import Database
from gullak.identity.seed import DEMO_PHONE
from gullak.settings import Settings
from tests.helpers import cookbook
from tests.helpers.admins import Admin, log_in
from tests.helpers.http import strict_client
from tests.helpers.users import sign_in

FOUND = cookbook.blocks(cookbook.DOC.read_text())
QUERIES = cookbook.queries(FOUND)

Rows = list[dict[str, Any]]


@dataclass
class Demo:
    db: Database
    client: httpx.AsyncClient
    headers: dict[str, dict[str, str]]
    params: dict[str, str]


async def read_only(db: Database, sql: str, params: dict[str, Any]) -> Rows:
    """The statement in a READ ONLY transaction, rolled back whatever it did."""
    statement = cookbook.PSQL_VARIABLE.sub(r"%(\1)s", sql.replace("%", "%%"))
    async with db.engine.connect() as conn:
        await conn.execute(text("SET TRANSACTION READ ONLY"))
        try:
            result = await conn.exec_driver_sql(statement, params)
            return [dict(r._mapping) for r in result]
        finally:
            await conn.rollback()


async def resolve_params(db: Database) -> dict[str, str]:
    """The psql variables, as the doc's `\\gset` block sets them, in their text form."""
    params: dict[str, str] = {}
    for statement in cookbook.params_statements(FOUND):
        [row] = await read_only(db, statement, {})
        params.update({k: str(v) for k, v in row.items()})
    return params


@pytest.fixture(scope="module")
async def demo(admin_url: str, server_url: str, template_url: str) -> AsyncIterator[Demo]:
    """A database of this module's own with the demo data, the hourly analytics run once, and
    the demo user and admin signed in."""
    name = f"gullak_test_{uuid.uuid4().hex[:12]}"
    template = template_url.rsplit("/", 1)[1].split("?")[0]
    embedded.ensure_database(admin_url, name, template=template)
    db = Database(embedded.with_database(server_url, name), pool_size=3, max_overflow=3,
                  pgbouncer=Settings().database_pgbouncer)
    try:
        await seed.load(db)
        await analytics_jobs.summarise(db)
        # The data folder's keys sealed the demo's secrets (the admin's TOTP among them).
        async with strict_client(create_app(Settings(env="test"), db)) as client:
            async with db.engine.connect() as conn:
                user = await sign_in(client, conn, DEMO_PHONE)
            admin = await log_in(client, Admin(uuid.uuid4(), DEMO_ADMIN_EMAIL,
                                               DEMO_ADMIN_PASSWORD, DEMO_ADMIN_TOTP))
            yield Demo(db, client, {"user": user.headers, "admin": admin.headers, "public": {}},
                       await resolve_params(db))
    finally:
        await db.dispose()
        embedded.drop_database(admin_url, name)


# -- the document's structure ------------------------------------------------------------------

def test_every_section_has_one_api_call_and_one_sql_statement() -> None:
    assert len(QUERIES) >= 15
    for query in QUERIES.values():
        assert len(query.http) == 1, f"{query.id}: {len(query.http)} API blocks (ids are unique)"
        assert len(query.sql) == 1, f"{query.id}: {len(query.sql)} SQL blocks (ids are unique)"
        assert query.http[0].attrs.get("as") in ("user", "admin", "public"), query.id
        assert "shape" in query.http[0].attrs, query.id


def test_every_block_in_the_document_is_one_the_tests_run() -> None:
    run = [b for b in FOUND if b.lang in ("http", "sql") and b.id]
    params = [b for b in FOUND if b.lang == "sql" and "params" in b.attrs]
    shell = [b for b in FOUND if b.lang == "sh"]
    assert len(params) == 1
    assert len(run) + len(params) + len(shell) == len(FOUND), [
        (b.lang, b.attrs) for b in FOUND if b not in run + params + shell]


def test_every_variable_is_one_the_params_block_sets() -> None:
    statements = " ".join(cookbook.params_statements(FOUND))
    for query in QUERIES.values():
        used = cookbook.variables(query.sql[0].body) | set(
            cookbook.PLACEHOLDER.findall(query.http[0].body))
        for name in used:
            assert f" AS {name}" in statements, f"{query.id}: {name} is never set"


async def test_a_cookbook_transaction_cannot_write(demo: Demo) -> None:
    with pytest.raises(DBAPIError, match="read-only transaction"):
        await read_only(demo.db, "UPDATE users SET name = 'x' WHERE id = :'user_id'",
                        demo.params)


# -- every query, both ways ---------------------------------------------------------------------

async def run_sql(demo: Demo, query: cookbook.Query) -> Rows:
    block = query.sql[0]
    rows = await read_only(demo.db, block.body, {k: demo.params[k]
                                                 for k in cookbook.variables(block.body)})
    if block.some_rows:
        assert rows, f"{query.id}: the SQL gives no row on the demo data"
    return rows


async def call_api(demo: Demo, query: cookbook.Query) -> Any:
    block = query.http[0]
    method, path = cookbook.http_call(block, demo.params)
    r = await demo.client.request(method, path, headers=demo.headers[block.attrs["as"]])
    assert r.status_code == 200, (query.id, path, r.text)
    body = r.json()
    shape = block.attrs["shape"]
    if shape == "[]":
        assert isinstance(body, list), (query.id, body)
    else:
        assert set(shape.split(",")) <= set(body), (query.id, shape, sorted(body))
    if block.some_rows:
        listed = body[block.attrs["list"]] if "list" in block.attrs else body
        assert listed, f"{query.id}: the API gives no row on the demo data"
    return body


@pytest.mark.parametrize("query_id", sorted(QUERIES))
async def test_the_query_runs_both_ways_on_the_demo_data(demo: Demo, query_id: str) -> None:
    query = QUERIES[query_id]
    rows = await run_sql(demo, query)
    body = await call_api(demo, query)
    check = AGREE.get(query_id)
    if check is not None:
        check(rows, body)


# -- where the SQL and the API answer the same question, the same numbers -----------------------

def wallet(rows: Rows, body: Any) -> None:
    by_asset = {h["asset_code"]: h for h in body}
    assert {r["asset_code"] for r in rows} == {a for a, h in by_asset.items() if h["account_id"]}
    for r in rows:
        held = by_asset[r["asset_code"]]
        assert (r["posted"], r["held"], r["available"], r["expiring_soon"]) == (
            held["posted"], held["held"], held["available"], held["expiring_soon"]), r
    assert any(r["next_expiry"] is not None for r in rows), "the demo's promo coins expire"


def history(rows: Rows, body: Any) -> None:
    assert [(r["seq"], r["amount"], r["balance_after"]) for r in rows] == [
        (e["seq"], e["amount"], e["balance_after"]) for e in body["entries"]]


def expiring(rows: Rows, body: Any) -> None:
    expiring_assets = {a["code"] for a in body if a["expires"]}
    assert {r["asset_code"] for r in rows} <= expiring_assets
    assert "PROMO" in expiring_assets


def top_merchants(rows: Rows, body: Any) -> None:
    assert [(str(r["merchant_id"]), r["gmv"], r["orders"]) for r in rows] == [
        (m["merchant_id"], m["gmv"], m["orders"]) for m in body]


def same_count(key: str) -> Callable[[Rows, Any], None]:
    def check(rows: Rows, body: Any) -> None:
        assert len(rows) == len(body[key]), (rows, body)
    return check


def funnel(rows: Rows, body: Any) -> None:
    assert sum(r["views"] for r in rows) == sum(p["views"] for p in body)
    assert sum(r["redemptions"] for r in rows) == sum(p["redemptions"] for p in body)


def cashback(rows: Rows, body: Any) -> None:
    [r] = rows
    assert (r["pending"], r["confirmed"], r["rejected"], r["tracked"]) == (
        body["pending"], body["confirmed"], body["rejected"], body["count"])


def leaderboard(rows: Rows, body: Any) -> None:
    assert [(r["rank"], str(r["user_id"]), r["score"]) for r in rows] == [
        (e["rank"], e["user_id"], e["score"]) for e in body["entries"]]


def steps(rows: Rows, body: Any) -> None:
    assert sorted((str(r["day"]), r["steps"], r["verified_steps"], r["coins"]) for r in rows) == (
        sorted((d["day"], d["steps"], d["verified_steps"], d["coins"]) for d in body["items"]))


def withdrawals(rows: Rows, body: Any) -> None:
    assert sorted((r["code"], r["amount"]) for r in rows) == sorted(
        (w["code"], w["amount"]) for w in body["items"])


def referrals(rows: Rows, body: Any) -> None:
    # A row per referral and reward asset: the referrals are the distinct referees.
    assert {str(r["referee_id"]) for r in rows} == {i["referee_id"] for i in body["items"]}


def audit(rows: Rows, body: Any) -> None:
    assert sorted(r["action"] for r in rows) == sorted(e["action"] for e in body["entries"])


def nearby(rows: Rows, body: Any) -> None:
    assert [str(r["outlet_id"]) for r in rows] == [h["id"] for h in body["hits"]]
    for r, h in zip(rows, body["hits"], strict=True):
        assert abs(float(r["metres"]) - h["distance_m"]) <= 1


def tier(rows: Rows, body: Any) -> None:
    [r] = rows
    assert r["tier"] == body["code"]
    assert (r["next_tier"], r["threshold"], r["value"], r["left"]) == (
        body["next"]["code"], body["next"]["threshold"], body["next"]["value"],
        body["next"]["left"])


def active_users(rows: Rows, body: Any) -> None:
    [r] = rows
    assert (r["dau"], r["wau"], r["mau"]) == (body["dau"], body["wau"], body["mau"])


def per_day(rows: Rows, body: Any) -> None:
    assert sorted((str(r["day"]), r["active_users"]) for r in rows) == sorted(
        (p["period"], p["active_users"]) for p in body)


def gift_cards(rows: Rows, body: Any) -> None:
    assert sorted((str(r["id"]), r["balance"], r["held"]) for r in rows) == sorted(
        (c["id"], c["balance"], c["held"]) for c in body["items"])


def orders(rows: Rows, body: Any) -> None:
    assert [(r["number"], r["total"]) for r in rows] == [
        (o["number"], o["total"]) for o in body["items"]]


AGREE: dict[str, Callable[[Rows, Any], None]] = {
    "wallet-expiring": wallet, "wallet-history": history, "expiring-soon": expiring,
    "top-merchants-month": top_merchants, "merchant-redemptions": same_count("items"),
    "offer-funnel": funnel, "cashback-funnel": cashback, "steps-leaderboard": leaderboard,
    "user-steps": steps, "pending-withdrawals": withdrawals, "audit-trail": audit,
    "offers-nearby": nearby, "referrals": referrals, "tier-progress": tier,
    "daily-active-users": active_users, "active-users-per-day": per_day,
    "gift-card-balance": gift_cards, "user-orders": orders,
    "tickets-past-sla": same_count("items"),
}


def test_every_query_has_its_numbers_compared() -> None:
    assert set(AGREE) == set(QUERIES)
