"""The same qualifying order told many times at once, over real connections: the referral is
rewarded once and the ambassador's commission paid once."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.identity.models import User
from gullak.kit.events import Event
from gullak.kit.security import Subject
from gullak.ledger.verify import verify
from gullak.referrals import service
from gullak.referrals.schemas import AmbassadorReviewIn, ClaimIn, CollegeIn, ReviewIn
from tests.orders.support import ensure_assets
from tests.referrals.support import order_completed

ADMIN = Subject("admin", uuid.uuid4(), frozenset({"*"}))


async def test_a_qualifying_order_told_sixteen_times_at_once_pays_once(
        fresh_db: Database) -> None:
    ambassador, referee = uuid.uuid4(), uuid.uuid4()
    async with unit_of_work(fresh_db) as session:
        await ensure_assets(session)
        session.add_all([User(id=ambassador, phone="+919811100001", referral_code="RACEAMB1"),
                         User(id=referee, phone="+919811100002", referral_code="RACEREF1",
                              referred_by_id=ambassador)])
        await session.flush()
        place = await service.create_college(session, CollegeIn(name="Race", city="Pune"),
                                             ADMIN)
        claim = await service.claim_college(session, ambassador, ClaimIn(
            college_id=place.id, student_id_number="1", document_ref="doc"))
        await service.review_claim(session, claim.id, ReviewIn(decision="approve"), ADMIN)
        applied = await service.apply(session, ambassador)
        await service.review_ambassador(session, applied.id, AmbassadorReviewIn(
            decision="approve", commission_amount=1_000), ADMIN)
        await service.user_signed_up(session, Event("user.signed_up", {
            "user_id": str(referee), "referred_by_id": str(ambassador), "device_id": None,
            "channel": "otp"}))

    order = uuid.uuid4()

    async def tell() -> None:
        async with unit_of_work(fresh_db) as session:
            await order_completed(session, referee, total=10_000, order_id=order)

    await asyncio.gather(*(tell() for _ in range(16)))
    async with fresh_db.engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT id, status, commission, referral_count FROM referrals"
            " WHERE referee_id = :u"), {"u": referee})).one()
        assert (row.status, row.commission, row.referral_count) == ("rewarded", 1_000, 1)
        assert await conn.scalar(text(
            "SELECT count(*) FROM ledger_transfers WHERE reference_type = 'referral'"
            " AND reference_id = :r"), {"r": str(row.id)}) == 1
    async with unit_of_work(fresh_db) as session:
        assert (await verify(session)).ok
