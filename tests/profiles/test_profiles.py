"""App profiles: each loads on an empty database and a second time adds nothing, all five load
on one database, `--scale` adds users with history, and the command line refuses what it
cannot do. The ledger of every database here is verified after its test (`fresh_db`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from gullak import profiles, seed
from gullak.access import service as access
from gullak.activity import service as activity
from gullak.catalog import service as catalog
from gullak.cli import app
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger import service as ledger
from gullak.loyalty import service as loyalty
from gullak.merchants import service as merchants
from gullak.partners import flows as partner_orders
from gullak.partners import service as partners
from gullak.profiles import fitkart, rtmn, scale
from gullak.settings import get_settings

_TABLES = text("""
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1
""")


async def counts(db: Database) -> dict[str, int]:
    """Rows of every public table (a partitioned table counts its partitions')."""
    async with db.engine.connect() as conn:
        tables = (await conn.scalars(_TABLES)).all()
        return {t: int(await conn.scalar(text(f'SELECT count(*) FROM "{t}"')) or 0)
                for t in tables}


async def loaded(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set((await conn.scalars(text("SELECT name FROM seed_runs"))).all())


async def users_like(db: Database, pattern: str) -> list[uuid.UUID]:
    async with db.engine.connect() as conn:
        return list((await conn.scalars(text(
            "SELECT id FROM users WHERE phone LIKE :p ORDER BY phone"), {"p": pattern})).all())


def set_names(name: str) -> set[str]:
    return {s.name for s in profiles.get(name).data_sets}


@pytest.mark.parametrize("name", profiles.NAMES)
async def test_a_profile_loads_on_an_empty_database_and_once_only(fresh_db: Database,
                                                                  name: str) -> None:
    notes = await seed.load(fresh_db, profile=name)
    assert set_names(name) <= await loaded(fresh_db)
    assert all(note in notes for s in profiles.get(name).data_sets for note in s.notes)
    assert all(s.name.startswith(f"{name}:") for s in profiles.get(name).data_sets)
    if name in PROMISES:  # the other profiles' content has tests of its own
        await PROMISES[name](fresh_db)
    before = await counts(fresh_db)
    await seed.load(fresh_db, profile=name)
    assert await counts(fresh_db) == before


async def test_every_profile_loads_beside_the_others_and_scales(fresh_db: Database) -> None:
    for name in profiles.NAMES:
        await seed.load(fresh_db, profile=name)
    assert set().union(*(set_names(n) for n in profiles.NAMES)) <= await loaded(fresh_db)
    first = len(await users_like(fresh_db, "+917%"))
    for name in profiles.NAMES:
        users = len(await users_like(fresh_db, "+917%"))
        before = await counts(fresh_db)
        shown: list[tuple[int, int]] = []
        lines = await scale.generate(fresh_db, name, 20, lambda done, n: shown.append((done, n)))
        after = await counts(fresh_db)
        assert len(await users_like(fresh_db, "+917%")) == users + 20
        assert after["addresses"] == before["addresses"] + 20
        assert shown[-1] == (20, 20) and lines[0].startswith(f"{name}: 20 users")
        grew = {t for t in after if after[t] > before[t]}
        assert {"users", "ledger_transfers"} <= grew, name
        assert HISTORY[name] <= grew, name
    again = await scale.generate(fresh_db, profiles.NAMES[-1], 3)
    assert again[0].rsplit(" ", 1)[1] != lines[0].rsplit(" ", 1)[1]  # another phone prefix
    assert len(await users_like(fresh_db, "+917%")) == first + 20 * len(profiles.NAMES) + 3


# What each profile's scale writes besides users and coins.
HISTORY = {"fitkart": {"step_records", "daily_step_summary", "step_validations"},
           "rtmn": {"offer_redemptions"}, "rez": {"offer_redemptions"},
           "couponali": {"offer_clicks", "cashbacks"}, "userstate": {"ledger_accounts"}}


async def rtmn_promises(fresh_db: Database) -> None:
    """The seed's 100 test users with their tiers and KYC, a cross-company order."""
    ids = await users_like(fresh_db, "+9198765%")
    assert len(ids) == rtmn.USERS
    async with unit_of_work(fresh_db) as session:
        for i in (1, 2, 3, 4):  # the seed's tier is ['basic', 'silver', 'gold', 'prive'][i % 4]
            assert (await loyalty.my_tier(session, ids[i - 1])).code == rtmn.TIERS[i % 4]
        kyc = [(await session.execute(text(
            "SELECT status FROM kyc_records WHERE user_id = :u"), {"u": u})).scalar_one()
            for u in ids[:4]]
        assert kyc == ["verified", "pending", "verified", "pending"]
        partner = next(p for p in await partners.list_partners(session)
                       if p.name == rtmn.PARTNER)
        assert (await partner_orders.list_orders(session, partner.id)).items
        # Test User 2 signed up with Test User 1's code and ordered: promo coins (90 days).
        promo = await ledger.user_accounts(session, [ids[1]], "PROMO")
        assert promo and (await ledger.get_asset(session, "PROMO")).lifetime_days == 90


async def fitkart_promises(fresh_db: Database) -> None:
    """Achievements, the ops admin, the shop's products in coins; walkers whose balance is
    what their days credited less what they bought; the impossible day waits for review."""
    coin = get_settings().activity_asset
    walkers = await users_like(fresh_db, "+9199000100%")
    assert len(walkers) == len(fitkart.WALKERS)
    async with unit_of_work(fresh_db) as session:
        codes = {a.code for a in await loyalty.list_achievements(session)}
        assert {"steps_1k", "steps_100k", "streak_7_days", "early_bird"} <= codes
        assert fitkart.ADMIN.email in {a.email for a in await access.list_admins(session)}
        store = next(m.id for m in (await merchants.list_merchants(session, limit=200)).items
                     if m.name == fitkart.STORE)
        shop = {p.sku: p for p in (await catalog.list_products(session, store, limit=100)).items}
        assert shop["FK-TRACKER-BAND"].asset_code == coin
        assert {"FK-MAT-6MM", "FK-BOTTLE-1L", "FK-SOCKS-3P", "FK-GIFT-500"} <= set(shop)
        today = dt.date.today()
        credited = {w: sum(d.coins for d in await activity.days(
            session, w, today - dt.timedelta(days=30), today + dt.timedelta(days=1)))
            for w in walkers}
        balances = {w: (await ledger.balance(session, (await ledger.user_account(
            session, w, coin)).id)).posted for w in walkers}
        price = shop["FK-SOCKS-3P"].price
        for i, walker in enumerate(fitkart.WALKERS):  # what the days credited, less the socks
            spent = price if walker.buys else 0
            assert balances[walkers[i]] == credited[walkers[i]] - spent > 0
        queue = await activity.reviews(session)
        assert walkers[fitkart.CHEAT] in {r.user_id for r in queue.items}


PROMISES: dict[str, Callable[[Database], Awaitable[None]]] = {
    "rtmn": rtmn_promises, "fitkart": fitkart_promises}


def test_seed_refuses_an_unknown_profile_and_scale_without_one(server_url: str) -> None:
    runner, env = CliRunner(), {"GULLAK_DATABASE_URL": server_url}
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["seed", "--profile", "nosuch"], env=env)
        assert result.exit_code == 2
        assert "unknown profile 'nosuch'" in result.output and "fitkart" in result.output
        result = runner.invoke(app, ["seed", "--scale", "10"], env=env)
        assert result.exit_code == 2
        assert "--scale needs --profile" in result.output
    finally:
        get_settings.cache_clear()
