"""Daily summaries equal a recomputation from the events written, for random days of
random users, merchants and offers; rerunning a day replaces it; a late event's day is
recomputed by the job; the platform's day takes the other domains' figures."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.analytics import service
from gullak.analytics.models import (
    MerchantDailySummary,
    OfferDailySummary,
    PlatformDailySummary,
    UserDailySummary,
)
from gullak.analytics.schemas import EventIn
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.settings import Settings
from tests.helpers.ledger import make_book

VIEWS = {"offer.viewed", "merchant.viewed", "product.viewed"}


@dataclass
class Ev:
    name: str
    user: uuid.UUID
    at: dt.datetime
    merchant: uuid.UUID | None = None
    offer: uuid.UUID | None = None
    amount: int | None = None
    to_status: str | None = None


class World:
    """Random events of a few users, merchants and offers, written as the app and the
    domains write them, and kept here to recompute the summaries from."""

    def __init__(self, session: AsyncSession, settings: Settings, seed: int) -> None:
        self.session, self.settings, self.rng = session, settings, random.Random(seed)
        self.users = [uuid7() for _ in range(5)]
        self.merchants = [uuid7() for _ in range(3)]
        self.offers = [(uuid7(), self.rng.choice(self.merchants)) for _ in range(4)]
        self.written: list[Ev] = []
        self._keys = 0

    def _time(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(
            seconds=self.rng.randrange(86_400))

    async def client_events(self, day: dt.date, n: int) -> None:
        by_user: dict[uuid.UUID, list[EventIn]] = defaultdict(list)
        for _ in range(n):
            who, at = self.rng.choice(self.users), self._time(day)
            name = self.rng.choice(["app.opened", "search.performed", "offer.viewed",
                                    "offer.clicked", "merchant.viewed", "wallet.viewed"])
            props: dict[str, Any] = {}
            ev = Ev(name, who, at)
            if name == "search.performed":
                props = {"query": "tea"}
            elif name in ("offer.viewed", "offer.clicked"):
                offer, merchant = self.rng.choice(self.offers)
                props = {"offer_id": str(offer), "merchant_id": str(merchant)}
                ev.offer, ev.merchant = offer, merchant
            elif name == "merchant.viewed":
                ev.merchant = self.rng.choice(self.merchants)
                props = {"merchant_id": str(ev.merchant)}
            self._keys += 1
            by_user[who].append(EventIn(client_event_id=f"k{self._keys}", name=name,
                                        occurred_at=at, properties=props))
            self.written.append(ev)
        for who, events in by_user.items():
            out = await service.ingest(self.session, self.settings, who, events)
            assert out.accepted == len(events) and not out.refused

    async def server_events(self, day: dt.date, n: int) -> None:
        saved = clock.now()
        for _ in range(n):
            who, at = self.rng.choice(self.users), self._time(day)
            kind = self.rng.choice(["order", "reward", "redeemed", "steps", "signed_in"])
            clock.freeze(at)
            if kind == "order":
                merchant = self.rng.choice(self.merchants)
                total, status = self.rng.randrange(100, 50_000), self.rng.choice(
                    ["paid", "completed", "cancelled"])
                await service.record(self.session, "order.status_changed", {
                    "order_id": str(uuid7()), "user_id": str(who),
                    "merchant_id": str(merchant), "total": total, "currency": "INR",
                    "from_status": "created", "to_status": status})
                self.written.append(Ev("order.status_changed", who, at, merchant,
                                       amount=total, to_status=status))
            elif kind == "reward":
                amount = self.rng.randrange(1, 500)
                await service.record(self.session, "reward.confirmed", {
                    "reward_id": str(uuid7()), "user_id": str(who), "asset_code": "REZ",
                    "amount": amount})
                self.written.append(Ev("reward.confirmed", who, at, amount=amount))
            elif kind == "redeemed":
                offer, merchant = self.rng.choice(self.offers)
                await service.record(self.session, "offer.redeemed", {
                    "user_id": str(who), "offer_id": str(offer), "merchant_id": str(merchant),
                    "redemption_id": str(uuid7())})
                self.written.append(Ev("offer.redeemed", who, at, merchant, offer))
            elif kind == "steps":
                steps = self.rng.randrange(0, 20_000)
                await service.record_many(self.session, "activity.steps_verified", [{
                    "user_id": str(who), "day": day.isoformat(), "steps": steps, "delta": steps,
                    "coins": 3, "city": None}])
                self.written.append(Ev("activity.steps_verified", who, at, amount=steps))
            else:
                await service.record(self.session, "user.signed_in", {
                    "user_id": str(who), "device_id": "d1", "new_device": False,
                    "ip": "10.0.0.1", "city": None})
                self.written.append(Ev("user.signed_in", who, at))
        clock.freeze(saved)
        clock.reset()

    def of(self, day: dt.date) -> list[Ev]:
        return [e for e in self.written if e.at.date() == day]

    def users_of(self, day: dt.date) -> dict[uuid.UUID, dict[str, Any]]:
        out: dict[uuid.UUID, dict[str, Any]] = {}
        for e in self.of(day):
            s = out.setdefault(e.user, Counter())
            paid = e.name == "order.status_changed" and e.to_status == "paid"
            s["events"] += 1
            s["views"] += e.name in VIEWS
            s["clicks"] += e.name == "offer.clicked"
            s["redemptions"] += e.name == "offer.redeemed"
            s["sessions"] += e.name in ("app.opened", "user.signed_in")
            s["searches"] += e.name == "search.performed"
            s["orders"] += paid
            s["spent"] += e.amount if paid and e.amount else 0
            s["rewards"] += e.amount if e.name == "reward.confirmed" and e.amount else 0
            s["steps"] += e.amount if e.name == "activity.steps_verified" and e.amount else 0
        return {u: {**{k: 0 for k in ("events", "views", "clicks", "redemptions", "sessions",
                                      "searches", "orders", "spent", "rewards", "steps")},
                    **dict(c)} for u, c in out.items()}

    def merchants_of(self, day: dt.date) -> dict[uuid.UUID, dict[str, Any]]:
        out: dict[uuid.UUID, dict[str, Any]] = {}
        visitors: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
        for e in self.of(day):
            if e.merchant is None:
                continue
            paid = e.name == "order.status_changed" and e.to_status == "paid"
            s = out.setdefault(e.merchant, {k: 0 for k in (
                "events", "views", "clicks", "redemptions", "orders", "gmv")})
            s["events"] += 1
            s["views"] += e.name in VIEWS
            s["clicks"] += e.name == "offer.clicked"
            s["redemptions"] += e.name == "offer.redeemed"
            s["orders"] += paid
            s["gmv"] += e.amount if paid and e.amount else 0
            visitors[e.merchant].add(e.user)
        for m, s in out.items():
            s["visitors"] = len(visitors[m])
        return out

    def offers_of(self, day: dt.date) -> dict[uuid.UUID, dict[str, Any]]:
        out: dict[uuid.UUID, dict[str, Any]] = {}
        people: dict[tuple[uuid.UUID, str], set[uuid.UUID]] = defaultdict(set)
        for e in self.of(day):
            if e.offer is None:
                continue
            s = out.setdefault(e.offer, {"merchant_id": e.merchant, "views": 0, "clicks": 0,
                                         "redemptions": 0})
            step = {"offer.viewed": "views", "offer.clicked": "clicks",
                    "offer.redeemed": "redemptions"}[e.name]
            s[step] += 1
            people[(e.offer, step)].add(e.user)
        for o, s in out.items():
            s["viewers"] = len(people[(o, "views")])
            s["clickers"] = len(people[(o, "clicks")])
            s["redeemers"] = len(people[(o, "redemptions")])
        return out


async def rows(session: AsyncSession, model: Any, key: str, day: dt.date,
               among: set[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    found = (await session.scalars(select(model).where(model.day == day))).all()
    return {getattr(r, key): {c: getattr(r, c) for c in model.__table__.columns.keys()}
            for r in found if getattr(r, key) in among}


async def check(session: AsyncSession, world: World, day: dt.date) -> None:
    users = await rows(session, UserDailySummary, "user_id", day, set(world.users))
    expected = world.users_of(day)
    assert set(users) == set(expected)
    for u, want in expected.items():
        assert {k: users[u][k] for k in want} == want, u
        times = [e.at for e in world.of(day) if e.user == u]
        assert (users[u]["first_at"], users[u]["last_at"]) == (min(times), max(times))
    merchants = await rows(session, MerchantDailySummary, "merchant_id", day,
                           set(world.merchants))
    want_m = world.merchants_of(day)
    assert set(merchants) == set(want_m)
    for m, want in want_m.items():
        assert {k: merchants[m][k] for k in want} == want, m
    offers = await rows(session, OfferDailySummary, "offer_id", day,
                        {o for o, _ in world.offers})
    want_o = world.offers_of(day)
    assert set(offers) == set(want_o)
    for o, want in want_o.items():
        assert {k: offers[o][k] for k in want} == want, o


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_summaries_equal_a_recomputation_of_random_days(
        session: AsyncSession, settings: Settings, seed: int) -> None:
    world = World(session, settings, seed)
    today = clock.now().date()
    days = [today - dt.timedelta(days=d) for d in (3, 2, 1)]
    for day in days:
        await world.client_events(day, 60)
        await world.server_events(day, 30)
    for day in days:
        await service.summarise_day(session, day)
    for day in days:
        await check(session, world, day)
    platform = await session.get(PlatformDailySummary, days[1])
    assert platform is not None
    everything = (await session.execute(text(
        "SELECT count(*), count(DISTINCT user_id) FROM activity_events"
        " WHERE occurred_at >= :a AND occurred_at < :b"),
        {"a": dt.datetime.combine(days[1], dt.time(), dt.UTC),
         "b": dt.datetime.combine(days[2], dt.time(), dt.UTC)})).one()
    assert (platform.events, platform.active_users) == tuple(everything)
    assert platform.events >= len(world.of(days[1]))


async def test_a_rerun_replaces_the_day(session: AsyncSession, settings: Settings) -> None:
    world = World(session, settings, 7)
    day = clock.now().date() - dt.timedelta(days=1)
    await world.client_events(day, 40)
    await service.summarise_day(session, day)
    await check(session, world, day)
    await world.server_events(day, 25)  # the server's events mark nothing: a rerun sees them
    await service.summarise_day(session, day)
    await check(session, world, day)
    await service.summarise_day(session, day)
    counted = await session.scalar(select(func.count()).select_from(UserDailySummary).where(
        UserDailySummary.day == day, UserDailySummary.user_id.in_(world.users)))
    assert counted == len(world.users_of(day))
    assert await session.scalar(select(func.count()).select_from(PlatformDailySummary).where(
        PlatformDailySummary.day == day)) == 1


async def test_a_late_event_recomputes_its_day(session: AsyncSession,
                                               settings: Settings) -> None:
    world = World(session, settings, 11)
    day = clock.now().date() - dt.timedelta(days=2)
    await world.client_events(day, 30)
    await service.summarise_day(session, day)
    await check(session, world, day)
    assert day not in set((await session.scalars(text(
        "SELECT day FROM analytics_stale_days"))).all())
    await world.client_events(day, 5)  # late: the day was summarised already
    assert day in set((await session.scalars(text(
        "SELECT day FROM analytics_stale_days"))).all())
    done = []
    while found := await service.recompute_stale(session):
        done += found
    assert day in done
    await check(session, world, day)
    assert not (await session.scalars(text("SELECT day FROM analytics_stale_days"))).all()


async def test_the_platform_day_takes_the_other_domains_figures(session: AsyncSession) -> None:
    """Coins issued and spent come from the ledger: funding two users and a spend move the
    day's figures by exactly those amounts."""
    today = clock.now().date()
    await service.summarise_day(session, today)
    before = await session.get(PlatformDailySummary, today)
    assert before is not None
    start = {c: getattr(before, c) for c in ("coins_issued", "coins_spent", "coins_expired")}
    book = await make_book(session)
    a, b = await book.user(), await book.user()
    await book.fund(a, 700)
    await book.fund(b, 300)
    inr = await book.user("INR")
    await ledger.transfer(session, TransferIn(  # cash, not coins: counts in none of them
        debit_account_id=(await ledger.platform_account(session, "INR", "issuance")).id,
        credit_account_id=inr.id, asset_code="INR", amount=5_000, kind="earn"))
    await ledger.transfer(session, TransferIn(
        debit_account_id=a.id, credit_account_id=book.issuance.id, asset_code="COIN",
        amount=250, kind="spend"))
    await service.summarise_day(session, today)
    session.expire_all()
    after = await session.get(PlatformDailySummary, today)
    assert after is not None
    assert after.coins_issued - start["coins_issued"] == 1_000
    assert after.coins_spent - start["coins_spent"] == 250
    assert after.coins_expired == start["coins_expired"]


async def test_summaries_stream_by_day_and_key(session: AsyncSession,
                                               settings: Settings) -> None:
    world = World(session, settings, 5)
    today = clock.now().date()
    days = [today - dt.timedelta(days=d) for d in (2, 1)]
    for day in days:
        await world.client_events(day, 30)
        await service.summarise_day(session, day)
    streamed = [r async for r in service.stream_summaries(session, "user", days[0], days[1])]
    mine = [r for r in streamed if r["user_id"] in set(world.users)]
    assert len(mine) == sum(len(world.users_of(d)) for d in days)
    assert [(r["day"], str(r["user_id"])) for r in streamed] == sorted(
        (r["day"], str(r["user_id"])) for r in streamed)
    assert {"events", "sessions", "first_at"} <= set(mine[0])
    platform = [r async for r in service.stream_summaries(session, "platform", days[0],
                                                          days[1])]
    assert [r["day"] for r in platform] == days
    from gullak.analytics.errors import UnknownSummary

    with pytest.raises(UnknownSummary):
        [r async for r in service.stream_summaries(session, "nope", days[0], days[1])]
