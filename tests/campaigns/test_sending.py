"""Sending: each user's variant is a pure function of the user and the campaign, the splits
follow the percentages; a run sends no more than the throttle allows in a minute; a run that
fails leaves nothing behind and the next one sends to everyone exactly once; suppressed sends
are counted; a refused template pauses the campaign with nothing sent."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.access import service as access
from gullak.campaigns import service
from gullak.campaigns.models import Assignment, Campaign, Recipient, Variant
from gullak.campaigns.schemas import VariantIn
from gullak.campaigns.sending import pick
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.settings import Settings
from tests.campaigns.support import (
    make_segment,
    make_template,
    make_user,
    notifications_of,
    sending_campaign,
)

START = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
SPLIT = [VariantIn(code="A", percent=50), VariantIn(code="B", percent=30),
         VariantIn(code="C", percent=20)]


def _variants(campaign_id: uuid.UUID) -> list[Variant]:
    return [Variant(campaign_id=campaign_id, code=v.code, percent=v.percent, position=i)
            for i, v in enumerate(SPLIT)]


def test_the_variant_is_fixed_by_user_and_campaign() -> None:
    campaign, other = uuid7(), uuid7()
    users = [uuid7() for _ in range(2000)]
    first = [service.variant_of(_variants(campaign), campaign, u).code for u in users]
    again = [service.variant_of(_variants(campaign), campaign, u).code for u in users]
    assert first == again
    # Another campaign shuffles users afresh: not the same assignment.
    elsewhere = [service.variant_of(_variants(other), other, u).code for u in users]
    assert first != elsewhere


def test_splits_follow_the_percentages() -> None:
    campaign = uuid7()
    n = 20_000
    shares = Counter(service.variant_of(_variants(campaign), campaign, uuid.uuid4()).code
                     for _ in range(n))
    for v in SPLIT:
        # A binomial's standard deviation at n=20000 is under 0.36 %: 1.5 % is > 4 sigmas.
        assert abs(shares[v.code] / n - v.percent / 100) < 0.015, shares


def test_buckets_are_the_feature_flags_own() -> None:
    """The bucket that picks a variant is the one a flag's rollout uses: a user in the first
    50 % of a flag keyed "campaign:<id>" is in variant A of a 50/50 campaign."""
    campaign = uuid7()
    variants = [Variant(code="A", percent=50, position=0), Variant(code="B", percent=50,
                                                                     position=1)]
    for _ in range(500):
        user = uuid.uuid4()
        bucket = access.bucket_of(f"campaign:{campaign}", user)
        assert 0 <= bucket < 100
        assert (service.variant_of(variants, campaign, user).code == "A") == (bucket < 50)
    assert pick([Variant(code="Z", percent=0, position=0),
                 Variant(code="Y", percent=100, position=1)], 0).code == "Y"


async def _audience(session: AsyncSession, n: int, city: str, **kw: object) -> list[uuid.UUID]:
    return [await make_user(session, city=city, **kw) for _ in range(n)]  # type: ignore[arg-type]


async def test_a_run_sends_no_more_than_the_throttle_and_then_finishes(
        session: AsyncSession) -> None:
    clock.freeze(START)
    city = f"Throttle{uuid.uuid4().hex[:6]}"
    users = await _audience(session, 7, city)
    campaign = await sending_campaign(session, await make_segment(
        session, [{"type": "city", "city": city}]), await make_template(session), throttle=3,
        variants=SPLIT)
    first = await service.send_batch(session, campaign, chunk=100)
    assert (first.sent, first.finished) == (3, False)
    # Same minute: the throttle is spent, whatever the number of runs.
    assert (await service.send_batch(session, campaign, chunk=100)).reached == 0
    clock.advance(dt.timedelta(seconds=61))
    # The chunk bounds a unit of work below the throttle.
    assert (await service.send_batch(session, campaign, chunk=2)).sent == 2
    assert (await service.send_batch(session, campaign, chunk=2)).sent == 1
    clock.advance(dt.timedelta(seconds=61))
    last = await service.send_batch(session, campaign, chunk=100)
    assert (last.sent, last.finished) == (1, True)
    row = await session.get(Campaign, campaign)
    assert row is not None and row.status == "sent" and row.finished_at == clock.now()
    sent = await notifications_of(session, campaign)
    assert sent == {u: 1 for u in users}
    # Every recipient's variant is the one assigned, and the one the notification carries.
    recipients = {r.user_id: r.variant for r in await session.scalars(
        select(Recipient).where(Recipient.campaign_id == campaign))}
    assigned = {a.user_id: a.variant for a in await session.scalars(
        select(Assignment).where(Assignment.campaign_id == campaign))}
    assert recipients == assigned
    variants = list(await session.scalars(select(Variant).where(
        Variant.campaign_id == campaign).order_by(Variant.position)))
    assert all(service.variant_of(variants, campaign, u).code == v for u, v in assigned.items())
    # Sent: nothing more to do.
    assert (await service.send_batch(session, campaign, chunk=100)).reached == 0


async def test_a_failed_run_leaves_nothing_and_the_rerun_sends_once(
        session: AsyncSession) -> None:
    clock.freeze(START)
    city = f"Crash{uuid.uuid4().hex[:6]}"
    users = await _audience(session, 5, city)
    campaign = await sending_campaign(session, await make_segment(
        session, [{"type": "city", "city": city}]), await make_template(session))

    class Crash(Exception):
        pass

    with pytest.raises(Crash):
        async with session.begin_nested():  # the unit of work of a run that dies mid-way
            assert (await service.send_batch(session, campaign, chunk=100)).sent == 5
            raise Crash
    assert await notifications_of(session, campaign) == {}
    assert await session.scalar(select(func.count()).select_from(Recipient).where(
        Recipient.campaign_id == campaign)) == 0
    done = await service.send_batch(session, campaign, chunk=100)
    assert (done.sent, done.finished) == (5, True)
    assert await notifications_of(session, campaign) == {u: 1 for u in users}


async def test_suppressed_sends_are_counted_not_sent(session: AsyncSession) -> None:
    """An SMS-only template reaches nobody without a phone: notifications suppresses them."""
    clock.freeze(START)
    city = f"Quiet{uuid.uuid4().hex[:6]}"
    reachable = await _audience(session, 3, city)
    silent = await _audience(session, 2, city, phone=False)
    campaign = await sending_campaign(session, await make_segment(
        session, [{"type": "city", "city": city}]), await make_template(session,
                                                                        channels=("sms",)),
        channel="sms")
    batch = await service.send_batch(session, campaign, chunk=100)
    assert (batch.sent, batch.suppressed, batch.finished) == (3, 2, True)
    assert set(await notifications_of(session, campaign)) == set(reachable)
    rows = {r.user_id: r for r in await session.scalars(
        select(Recipient).where(Recipient.campaign_id == campaign))}
    assert {u for u, r in rows.items() if r.suppressed} == set(silent)
    assert all(rows[u].notification_id is not None for u in reachable)
    results = await service.results(session, campaign)
    assert [(v.recipients, v.delivered, v.suppressed) for v in results.variants] == [(5, 3, 2)]


async def test_paused_and_cancelled_campaigns_send_nothing(session: AsyncSession) -> None:
    clock.freeze(START)
    city = f"Pause{uuid.uuid4().hex[:6]}"
    await _audience(session, 2, city)
    campaign = await sending_campaign(session, await make_segment(
        session, [{"type": "city", "city": city}]), await make_template(session))
    row = await session.get(Campaign, campaign)
    assert row is not None
    for status in ("paused", "cancelled"):
        row.status = status
        await session.flush()
        assert (await service.send_batch(session, campaign, chunk=100)).reached == 0
    assert await notifications_of(session, campaign) == {}


async def test_a_refused_template_pauses_the_campaign(session: AsyncSession) -> None:
    clock.freeze(START)
    city = f"NoTpl{uuid.uuid4().hex[:6]}"
    await _audience(session, 2, city)
    campaign = await sending_campaign(session, await make_segment(
        session, [{"type": "city", "city": city}]), await make_template(session))
    row = await session.get(Campaign, campaign)
    assert row is not None
    row.template_code = "no_such_template"  # as if deleted after the campaign was scheduled
    await session.flush()
    assert (await service.send_batch(session, campaign, chunk=100)).reached == 0
    assert row.status == "paused"
    assert await session.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.campaign_id == campaign)) == 0


async def test_the_job_starts_due_campaigns_and_sends_each_user_once(
        fresh_db: Database, settings: Settings) -> None:
    """The periodic job end to end, over committed units of work: a scheduled campaign starts
    when due, and reruns after it is sent send nobody again."""
    from gullak.campaigns.jobs import send_due

    clock.freeze(START)
    city = f"Job{uuid.uuid4().hex[:6]}"
    async with unit_of_work(fresh_db) as session:
        users = await _audience(session, 4, city)
        campaign = await sending_campaign(session, await make_segment(
            session, [{"type": "city", "city": city}]), await make_template(session),
            throttle=3)
        row = await session.get(Campaign, campaign)
        assert row is not None
        row.status, row.send_at, row.started_at = "scheduled", START + dt.timedelta(hours=1), None
    assert await send_due(fresh_db, settings) == 0  # not due yet
    clock.advance(dt.timedelta(hours=1))
    small = settings.model_copy(update={"campaign_send_chunk": 2})
    assert await send_due(fresh_db, small) == 3  # two units of work, the throttle's 3
    assert await send_due(fresh_db, small) == 0
    clock.advance(dt.timedelta(minutes=1))
    assert await send_due(fresh_db, small) == 1
    clock.advance(dt.timedelta(minutes=1))
    assert await send_due(fresh_db, small) == 0
    async with unit_of_work(fresh_db) as session:
        row = await session.get(Campaign, campaign)
        assert row is not None and row.status == "sent"
        assert await notifications_of(session, campaign) == {u: 1 for u in users}


async def test_two_workers_at_once_send_each_user_once(fresh_db: Database) -> None:
    """The campaign's row is locked for a batch and a second worker skips it: run together,
    the two batches never reach the same user."""
    import asyncio

    clock.freeze(START)
    city = f"Race{uuid.uuid4().hex[:6]}"
    async with unit_of_work(fresh_db) as session:
        users = await _audience(session, 30, city)
        campaign = await sending_campaign(session, await make_segment(
            session, [{"type": "city", "city": city}]), await make_template(session),
            throttle=1000)

    async def run() -> int:
        total = 0
        for _ in range(10):
            async with unit_of_work(fresh_db) as session:
                total += (await service.send_batch(session, campaign, chunk=7)).reached
        return total

    reached = await asyncio.gather(*(run() for _ in range(4)))
    assert sum(reached) == 30
    async with unit_of_work(fresh_db) as session:
        assert await notifications_of(session, campaign) == {u: 1 for u in users}
        row = await session.get(Campaign, campaign)
        assert row is not None and row.status == "sent"
