"""Volume for load tests: `gullak seed --profile NAME --scale N` adds N users of that app with
a history, a batch at a time, each batch one unit of work.

Users, step records and day summaries are written set-based (as `bench/` loads them); every
coin moves through the ledger's service (`ledger.post` batches, or the domains' own flows:
the activity domain settles the step days and credits their coins, offers redeem, cashback
applies a network's report), so the ledger's guards hold as for any request. Phones are
+91 7RRRR NNNNN, RRRR a prefix no user has yet: runs never collide."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak import domains
from gullak.activity import service as activity
from gullak.cashback import service as cashback
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.kit.errors import GullakError
from gullak.kit.ids import uuid7
from gullak.kit.security import Subject
from gullak.kit.sql import Array
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.merchants import service as merchants
from gullak.offers import service as offers
from gullak.offers.schemas import RedeemIn
from gullak.profiles import NAMES

BATCH = 100
# Units at once where they touch only rows of their own (the CLI's pool has four connections).
# FitKart's and CouponAli's run one at a time: every settled day updates the same leaderboard
# rows, and cashback credits meet on the network's accounts, so parallel units only queue on
# each other (or deadlock).
WORKERS = {"rtmn": 3, "rez": 3, "userstate": 3}
DAYS = 30  # FitKart: days of steps behind each user
PLATFORM = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000001f2"),
                   frozenset({"redemptions.manage"}))
NETWORK = "demo-network"  # the cashback demo data's affiliate network
FIRST = ("Aarav", "Diya", "Kabir", "Ananya", "Vihaan", "Isha", "Arjun", "Meera", "Rohan",
         "Sara", "Aditya", "Kavya", "Ishaan", "Tara", "Reyansh", "Nisha")
LAST = ("Sharma", "Iyer", "Reddy", "Khan", "Das", "Patel", "Nair", "Gupta", "Singh", "Rao")

CITIES = ("Bengaluru", "Mumbai", "Delhi")
# Each user with a home address in one of the cities: offers and leaderboards go by city.
_USERS = text("""
WITH u AS (
  INSERT INTO users (id, phone, name, referral_code)
  SELECT id, phone, name, code
  FROM unnest(CAST(:ids AS uuid[]), CAST(:phones AS text[]), CAST(:names AS text[]),
              CAST(:codes AS text[])) AS t(id, phone, name, code)
  RETURNING id)
INSERT INTO addresses (id, user_id, line1, city, is_default)
SELECT gen_random_uuid(), t.id, (t.n * 7 % 200 + 1) || ' Main Road',
       (CAST(:cities AS text[]))[1 + t.n % 3], true
FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS t(id, n)
""")
_TAKEN = text("SELECT count(*) FROM users WHERE phone LIKE :p")
# Two walks a day (07:00 and 19:00 in India), a day off about one day in five, counts
# differing by user and day; the day's open summary as a sync leaves it.
_STEPS = text("""
WITH u AS (SELECT id, n FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS t(id, n)),
w AS (
  SELECT u.id, d.day, h, 1200 + (u.n * 7919 + (d.day - date '2000-01-01') + h * 3571) % 4500
         AS steps
  FROM u CROSS JOIN unnest(CAST(:days AS date[])) AS d(day) CROSS JOIN (VALUES (0), (1)) AS x(h)
  WHERE (u.n + (d.day - date '2000-01-01')) % 5 <> 0),
r AS (
  INSERT INTO step_records (user_id, day, source, kind, start_at, end_at, utc_offset_minutes,
                            count, device_id, distance_m)
  SELECT id, day, 'google_fit', 'interval',
         (day + time '07:00' + h * interval '12 hours') AT TIME ZONE 'Asia/Kolkata',
         (day + time '07:45' + h * interval '12 hours') AT TIME ZONE 'Asia/Kolkata', 330,
         steps, 'scale-' || id, steps * 3 / 4
  FROM w RETURNING 1),
v AS (
  INSERT INTO step_devices (device_id, user_id, last_seen_at)
  SELECT 'scale-' || id, id, now() FROM u RETURNING 1)
INSERT INTO daily_step_summary (id, user_id, day, steps, utc_offset_minutes)
SELECT gen_random_uuid(), id, day, sum(steps), 330 FROM w GROUP BY id, day
RETURNING (SELECT count(*) FROM r)
""")


@dataclass
class Run:
    """What a profile's batches share: found once, before the first batch."""

    prefix: str
    merchants: list[uuid.UUID] = field(default_factory=list)
    offer: uuid.UUID | None = None  # redeemed with coins, or clicked out to
    city: str | None = None  # where the offer is redeemed
    days: list[dt.date] = field(default_factory=list)


History = Callable[[AsyncSession, Run, list[uuid.UUID], int], Awaitable[Counter[str]]]


async def generate(db: Database, profile: str, n: int,
                   progress: Callable[[int, int], None] | None = None) -> list[str]:
    """N users of the profile's app with history; returns lines to print."""
    if profile not in NAMES:
        raise KeyError(f"unknown profile {profile!r}: one of {', '.join(NAMES)}")
    domains.install()
    started = time.perf_counter()
    async with unit_of_work(db) as session:
        run = await _prepare(session, profile)
    history, totals = HISTORIES[profile], Counter[str]()
    starts, done = iter(range(0, n, BATCH)), [0]

    async def work() -> None:
        # Batches are independent (users of their own), so several units run at once, as
        # the daily conversion's workers do; each takes the next batch not yet taken.
        for first in starts:
            size = min(BATCH, n - first)
            async with unit_of_work(db) as session:
                ids = await _users(session, run, first, size)
                totals.update(await history(session, run, ids, first))
            done[0] += size
            if progress:
                progress(done[0], n)

    async with asyncio.TaskGroup() as group:  # one failing stops the others
        for _ in range(WORKERS.get(profile, 1)):
            group.create_task(work())
    seconds = max(time.perf_counter() - started, 1e-9)
    return [f"{profile}: {n:,} users in {seconds:.1f} s ({n / seconds:,.0f} users/s), phones"
            f" +917{run.prefix}xxxxx",
            ", ".join(f"{count:,} {what}" for what, count in sorted(totals.items()))]


async def _prepare(session: AsyncSession, profile: str) -> Run:
    rng = random.Random()
    while True:  # a prefix no one has: another run's users are never touched
        prefix = f"{rng.randrange(10_000):04d}"
        if not await session.scalar(_TAKEN, {"p": f"+917{prefix}%"}):
            break
    run = Run(prefix)
    live = (await merchants.list_merchants(session, status="live", limit=200)).items
    run.merchants = [m.id for m in live]
    if profile == "fitkart":
        today = clock.now().date()
        run.days = [d for d in (today - dt.timedelta(days=k) for k in range(DAYS, 0, -1))
                    if activity.is_over(d, clock.now())]
        await activity.ensure_partitions(session, since=run.days[0])
    elif profile == "couponali":
        run.offer, _ = await _offer(session, [m.id for m in live if m.tracking_url_template])
    elif profile in ("rtmn", "rez"):
        run.offer, run.city = await _offer(session, run.merchants, coins=True)
    return run


async def _offer(session: AsyncSession, merchant_ids: Sequence[uuid.UUID], *,
                 coins: bool = False) -> tuple[uuid.UUID | None, str | None]:
    """A live offer of these merchants, and a city it is valid in: one unlocked with coins,
    without a total limit or hours, or (for clicks out) any."""
    for merchant_id in merchant_ids:
        page = await offers.list_offers(session, merchant_id=merchant_id, status="active")
        for offer in page.items:
            if not coins or (offer.coins_required and offer.total_limit is None
                             and not offer.hours and not offer.weekdays):
                return offer.id, offer.cities[0] if offer.cities else None
    return None, None


async def _users(session: AsyncSession, run: Run, first: int, size: int) -> list[uuid.UUID]:
    ids = [uuid7() for _ in range(size)]
    numbers = range(first + 1, first + size + 1)
    await session.execute(_USERS, {
        "ids": Array(ids), "phones": Array([f"+917{run.prefix}{i:05d}" for i in numbers]),
        "names": Array([f"{FIRST[i % len(FIRST)]} {LAST[i // len(FIRST) % len(LAST)]}"
                        for i in numbers]),
        "codes": Array([f"L{run.prefix}{i:05d}" for i in numbers]), "cities": list(CITIES)})
    return ids


def _earn(ids: list[uuid.UUID], accounts: dict[uuid.UUID, uuid.UUID], issuance: uuid.UUID,
          code: str, amounts: Callable[[int], list[int]], reference: Callable[[int], str]
          ) -> list[TransferIn]:
    """Coins from the asset's issuance account to each user's (the i-th user, `amounts(i)`)."""
    return [TransferIn(debit_account_id=issuance, credit_account_id=accounts[user],
                       asset_code=code, amount=amount, kind="earn", reference_type="scale",
                       reference_id=reference(i))
            for i, user in enumerate(ids) for amount in amounts(i)]


async def _post(session: AsyncSession, transfers: list[TransferIn]) -> int:
    if transfers:
        await ledger.post(session, transfers)
    return len(transfers)


async def _coins(session: AsyncSession, run: Run, ids: list[uuid.UUID],
                 first: int) -> Counter[str]:
    """ReZ coins on visits to the merchants, promo coins (expiring) now and then, and every
    fourth user redeems an offer with coins."""
    out = Counter[str]()
    shops = run.merchants or [uuid.UUID(int=0)]  # the coins name the merchant visited
    for code, amounts in (("REZ", lambda i: [20 + (first + i) * 37 % 200, 15 + i % 90]),
                          ("PROMO", lambda i: [10 + i % 50] if i % 3 == 0 else [])):
        accounts = await ledger.user_accounts(session, ids, code)
        issuance = (await ledger.platform_account(session, code, "issuance")).id
        out["transfers"] += await _post(session, _earn(
            ids, accounts, issuance, code, amounts,
            lambda i: f"merchant:{shops[(first + i) % len(shops)]}"))
    if run.offer is not None:
        for user_id in ids[::4]:
            out["redemptions"] += await _redeem(session, run.offer, run.city, user_id)
    return out


async def _redeem(session: AsyncSession, offer_id: uuid.UUID, city: str | None,
                  user_id: uuid.UUID) -> int:
    try:
        async with session.begin_nested():  # an offer that refuses this user skips them
            redemption, _ = await offers.redeem(session, offer_id, user_id,
                                                RedeemIn(amount=40_000, city=city))
            await offers.complete(session, redemption.id, PLATFORM)
    except GullakError:
        return 0
    return 1


async def _steps(session: AsyncSession, run: Run, ids: list[uuid.UUID],
                 first: int) -> Counter[str]:
    """30 days of walks; each day settled as the daily conversion does it (anti-cheat, coins
    through the ledger, achievements, leaderboards)."""
    records = await session.scalar(_STEPS, {"ids": Array(ids), "days": Array(run.days)})
    settled = 0
    for day in run.days:
        while True:
            n, _ = await activity.settle_many(session, day, limit=BATCH)
            settled += n
            if n < BATCH:
                break
    return Counter({"step records": int(records or 0), "days settled": settled})


async def _cashback(session: AsyncSession, run: Run, ids: list[uuid.UUID],
                    first: int) -> Counter[str]:
    """A click out per user (two for every third), and the network's report on most of them:
    pending, or approved (confirmed)."""
    if run.offer is None:
        return Counter()
    clicks = []
    for i, user_id in enumerate(ids):
        for _ in range(2 if i % 3 == 0 else 1):
            click = await offers.record_click(session, run.offer, user_id, source="scale")
            clicks.append(click.click_id)
    lines = ["transaction_id,click_id,amount,status"] + [
        f"SC-{click},{click},{(499 + (first + i) * 53 % 4000) * 100},"
        f"{'approved' if i % 2 else 'pending'}"
        for i, click in enumerate(clicks) if i % 5 != 4]
    report = await cashback.import_report(session, NETWORK, "\n".join(lines).encode(), None)
    applied = sum(1 for row in report.rows if row.outcome != "invalid")
    return Counter({"clicks": len(clicks), "cashbacks": applied})


async def _wallets(session: AsyncSession, run: Run, ids: list[uuid.UUID],
                   first: int) -> Counter[str]:
    """Top-ups into the rupee wallet (from the gateway's clearing account, as a captured
    top-up posts them; no payment rows), a transfer to a friend from every other user, and
    points."""
    wallets = await ledger.user_accounts(session, ids, "INR")
    clearing = (await ledger.platform_account(session, "INR", "gateway_clearing")).id
    topups = [TransferIn(debit_account_id=clearing, credit_account_id=wallets[user],
                         asset_code="INR", amount=(500 + (first + i) * 97 % 4500) * 100,
                         kind="topup", reference_type="scale", reference_id=f"topup:{first + i}")
              for i, user in enumerate(ids)]
    accounts = [wallets[user] for user in ids]
    sends = [TransferIn(debit_account_id=accounts[i], credit_account_id=accounts[i + 1],
                        asset_code="INR", amount=100 * 100, kind="transfer",
                        reference_type="scale", reference_id=f"p2p:{first + i}")
             for i in range(0, len(accounts) - 1, 2)]
    points = await ledger.user_accounts(session, ids, "POINTS")
    issuance = (await ledger.platform_account(session, "POINTS", "issuance")).id
    earned = _earn(ids, points, issuance, "POINTS", lambda i: [50 + i % 150],
                   lambda i: f"points:{first + i}")
    count = 0
    for batch in (topups, sends, earned):  # top-ups first: the transfers spend them
        count += await _post(session, batch)
    return Counter({"transfers": count})


HISTORIES: dict[str, History] = {
    "rtmn": _coins, "rez": _coins, "fitkart": _steps, "couponali": _cashback,
    "userstate": _wallets,
}
