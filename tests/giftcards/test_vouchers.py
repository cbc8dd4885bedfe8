"""Vouchers: a code grants its asset once per user, up to its uses in all, within its dates;
concurrent redemptions by one user, each in its own unit of work, pay out exactly once."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.giftcards import service, vouchers
from gullak.giftcards.schemas import VoucherIn
from gullak.kit import clock
from gullak.kit.errors import GullakError
from gullak.kit.security import Subject
from gullak.ledger.verify import verify_database
from tests.helpers.offers import Actors
from tests.helpers.problems import assert_problem
from tests.orders.support import ensure_assets, wallet

ADMIN = Subject("admin", uuid.uuid4(), frozenset({"giftcards.manage"}))


def voucher(code: str, **extra: object) -> VoucherIn:
    now = clock.now()
    fields: dict[str, object] = {"code": code, "name": "Welcome", "asset_code": "REZ",
                                 "amount": 100, "valid_from": now - dt.timedelta(hours=1),
                                 "valid_until": now + dt.timedelta(days=1), **extra}
    return VoucherIn.model_validate(fields)


@pytest.mark.usefixtures("assets")
async def test_a_voucher_grants_once_per_user_and_up_to_its_uses(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    r = await client.post("/v1/admin/vouchers", headers=actors.admin("giftcards.manage"),
                          json=voucher("HELLO50", max_uses=2).model_dump(mode="json"))
    assert r.status_code == 201, r.text
    alice, bob, carol = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    r = await client.post("/v1/me/vouchers/redeem", json={"code": "hello50"},
                          headers=actors.user(alice))
    assert r.status_code == 201, r.text
    assert await wallet(session, alice, "REZ") == (100, 0)
    again = await client.post("/v1/me/vouchers/redeem", json={"code": "HELLO50"},
                              headers=actors.user(alice))
    assert_problem(again, 409, "voucher_already_redeemed", "code")
    assert await wallet(session, alice, "REZ") == (100, 0)
    r = await client.post("/v1/me/vouchers/redeem", json={"code": "HELLO50"},
                          headers=actors.user(bob))
    assert r.status_code == 201, r.text
    late = await client.post("/v1/me/vouchers/redeem", json={"code": "HELLO50"},
                             headers=actors.user(carol))
    assert_problem(late, 422, "voucher_unavailable", "code")  # both uses are taken
    assert await wallet(session, carol, "REZ") == (0, 0)
    missing = await client.post("/v1/me/vouchers/redeem", json={"code": "NOPE123"},
                                headers=actors.user(carol))
    assert_problem(missing, 404, "voucher_not_found", "code")


@pytest.mark.usefixtures("assets")
async def test_guessing_voucher_codes_is_limited_per_user(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    """Codes are words people type: a script must not walk through them all."""
    r = await client.post("/v1/admin/vouchers", headers=actors.admin("giftcards.manage"),
                          json=voucher("STAFF500").model_dump(mode="json"))
    assert r.status_code == 201, r.text
    guesser, other = uuid.uuid4(), uuid.uuid4()
    for i in range(vouchers.TRIES_PER_HOUR):
        r = await client.post("/v1/me/vouchers/redeem", json={"code": f"GUESS{i:03d}"},
                              headers=actors.user(guesser))
        assert_problem(r, 404, "voucher_not_found", "code")
    # The right code now waits too, and grants nothing.
    r = await client.post("/v1/me/vouchers/redeem", json={"code": "STAFF500"},
                          headers=actors.user(guesser))
    assert assert_problem(r, 429, "rate_limited")["retry_after"] > 0
    assert await wallet(session, guesser, "REZ") == (0, 0)
    # Another user is not slowed; an hour later the guesser may try again.
    r = await client.post("/v1/me/vouchers/redeem", json={"code": "STAFF500"},
                          headers=actors.user(other))
    assert r.status_code == 201, r.text
    clock.advance(dt.timedelta(hours=1))
    r = await client.post("/v1/me/vouchers/redeem", json={"code": "STAFF500"},
                          headers=actors.user(guesser))
    assert r.status_code == 201, r.text


async def test_concurrent_redemptions_by_one_user_pay_once(fresh_db: Database) -> None:
    async with unit_of_work(fresh_db) as session:
        await ensure_assets(session)
        made = await service.create_voucher(session, voucher("RACE100"), ADMIN)
    user = uuid.uuid4()

    async def attempt() -> str:
        try:
            async with unit_of_work(fresh_db) as session:
                await service.redeem_voucher(session, user, "RACE100")
            return "ok"
        except GullakError as exc:
            return exc.code

    outcomes = await asyncio.gather(*(attempt() for _ in range(12)))
    assert sorted(outcomes) == ["ok"] + ["voucher_already_redeemed"] * 11
    async with unit_of_work(fresh_db) as session:
        assert await wallet(session, user, "REZ") == (100, 0)
        uses = await session.scalar(text("SELECT uses FROM vouchers WHERE id = :i"),
                                    {"i": made.id})
        rows = await session.scalar(text(
            "SELECT count(*) FROM voucher_redemptions WHERE user_id = :u"), {"u": user})
        assert (uses, rows) == (1, 1)
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]
