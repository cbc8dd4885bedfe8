"""The FitKart profile: steps earn FitKart coins (the activity domain's asset), the anti-cheat
sends an impossible day to review, the seven achievements, an ops admin, the reward shop's
eight products (001_initial_seed.sql) priced in coins, and walkers with a week of steps, shop
orders and a referral."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.access import service as access
from gullak.access.schemas import AdminIn, RoleIn
from gullak.activity import service as activity
from gullak.activity.schemas import SampleIn, Source
from gullak.catalog import service as catalog
from gullak.identity.schemas import UserOut
from gullak.kit import clock
from gullak.kit.demo import DataSet, FailedRows
from gullak.kit.errors import NotFound
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetIn, AssetKind, PlatformPurpose
from gullak.loyalty import seed as loyalty_seed
from gullak.loyalty import service as loyalty
from gullak.merchants import service as merchants
from gullak.orders import flows as orders
from gullak.orders.pricing import Policy
from gullak.orders.schemas import ItemIn, OrderIn
from gullak.profiles import Profile
from gullak.profiles.people import sign_up
from gullak.settings import get_settings

PLATFORM = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000001f1"),
                   frozenset({"loyalty.manage", "orders.manage"}))
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
STORE = "FitKart Rewards Store"  # the merchants' demo data's reward shop
ADMIN = AdminIn(email="admin@fitkart.example", name="FitKart Admin", city="Bengaluru",
                roles=["fitkart_ops"])
ROLE = RoleIn(name="fitkart_ops", description="FitKart operations: step reviews, shop orders",
              permissions=["activity.manage", "loyalty.manage", "orders.manage", "users.read"])

# The seed's eight reward products; the yoga mat and the bottle are already in the store
# (catalog's demo feed, in REZ), the rest come here priced in FitKart coins.
FEED = """sku,name,price,asset_code,category,tags,stock,attr_brand
FK-TRACKER-BAND,Fitness tracker band,4500,{coin},fitness-gear,trackers|wearables,25,Noise
FK-EARBUDS,Wireless sports earbuds,3500,{coin},fitness-gear,audio|wearables,40,boAt
FK-SHOES-RUN,Running shoes,6000,{coin},fitness-gear,shoes|running,20,Campus
FK-SOCKS-3P,Sports socks (3 pairs),300,{coin},fitness-gear,socks,150,Boldfit
FK-GIFT-500,₹500 shopping gift card,2500,{coin},gift-cards,gift card,100,FitKart
FK-GIFT-1000,"₹1,000 shopping gift card",4800,{coin},gift-cards,gift card,50,FitKart
"""


@dataclass(frozen=True)
class Walker:
    phone: str  # +91 99000 1xxxx: FitKart's range
    name: str
    steps: int  # a usual walk's count; five walks a day
    buys: str | None = None  # a SKU bought with the coins
    referred_by: int | None = None  # index of the walker whose code was used


WALKERS = [
    Walker("+919900010001", "Priya Sharma", 2_300, buys="FK-SOCKS-3P"),
    Walker("+919900010002", "Rahul Verma", 1_900, buys="FK-SOCKS-3P", referred_by=0),
    Walker("+919900010003", "Meera Iyer", 2_600),
    Walker("+919900010004", "Vikram Singh", 1_500),
]
CHEAT = 3  # Vikram, the day before yesterday: 90,000 steps in an hour, for the review queue
DAYS = 7


def _walks(walker: Walker, day: dt.date, n: int) -> list[SampleIn]:
    hours = (6, 9, 13, 18, 20)  # the 6 o'clock walk makes an early bird
    return [SampleIn(start=dt.datetime.combine(day, dt.time(h), IST),
                     end=dt.datetime.combine(day, dt.time(h, 40), IST),
                     count=walker.steps + 97 * n + 31 * i, source=Source.google_fit,
                     device_id=f"fitkart-{walker.phone[-4:]}",
                     distance_m=(walker.steps + 97 * n) * 3 // 4)
            for i, h in enumerate(hours)]


def _impossible(walker: Walker, day: dt.date) -> SampleIn:
    start = dt.datetime.combine(day, dt.time(11), IST)
    return SampleIn(start=start, end=start + dt.timedelta(hours=1), count=90_000,
                    source=Source.google_fit, device_id=f"fitkart-{walker.phone[-4:]}")


async def load_coins(session: AsyncSession) -> None:
    code = get_settings().activity_asset
    try:
        await ledger.get_asset(session, code)
    except NotFound:  # the activity demo data makes it, unless a deployment renamed it
        await ledger.create_asset(session, AssetIn(code=code, name="FitKart coins",
                                                   kind=AssetKind.coin, scale=0))
    for purpose in PlatformPurpose:
        await ledger.platform_account(session, code, purpose.value)


async def load_achievements(session: AsyncSession) -> None:
    # The loyalty demo data holds FitKart's seven already; add whichever is missing.
    have = {a.code for a in await loyalty.list_achievements(session)}
    for achievement in loyalty_seed.ACHIEVEMENTS:
        if achievement.code not in have:
            await loyalty.create_achievement(session, achievement, PLATFORM)


async def load_admin(session: AsyncSession) -> None:
    await access.put_role(session, ROLE)
    await access.create_admin(session, get_settings(), ADMIN)


async def _store(session: AsyncSession) -> uuid.UUID:
    page = await merchants.list_merchants(session, limit=200)
    store = next((m.id for m in page.items if m.name == STORE), None)
    if store is None:
        raise FailedRows(f"no {STORE} among the merchants")
    return store


async def load_products(session: AsyncSession) -> None:
    feed = FEED.format(coin=get_settings().activity_asset)
    # Not a full feed: the store's other products stay as they are.
    report = await catalog.import_feed(session, await _store(session), feed, "csv", full=False,
                                       source="fitkart reward products")
    if report.failed:
        raise FailedRows(f"FitKart's products failed {report.failed} rows: {report.errors}")


async def _sign_up(session: AsyncSession, walker: Walker, referrer: UserOut | None) -> UserOut:
    return await sign_up(session, walker.phone, name=walker.name,
                         referral_code=referrer.referral_code if referrer else None,
                         device_id=f"fitkart-{walker.phone[-4:]}")


async def _buy(session: AsyncSession, user: UserOut, store: uuid.UUID, sku: str) -> None:
    products = await catalog.list_products(session, store, limit=100)
    product = next((p for p in products.items if p.sku == sku), None)
    if product is None:
        raise FailedRows(f"the reward store has no {sku}")
    order, _ = await orders.place_order(session, Subject("user", user.id), OrderIn(
        merchant_id=store, items=[ItemIn(product_id=product.id, quantity=1)]), Policy())
    for action in ("confirm", "ready", "complete"):
        await orders.advance(session, order.id, action, PLATFORM, "fitkart demo")


async def load_users(session: AsyncSession) -> None:
    today = clock.now().astimezone(IST).date()
    store = await _store(session)
    users: list[UserOut] = []
    for walker in WALKERS:
        referrer = users[walker.referred_by] if walker.referred_by is not None else None
        user = await _sign_up(session, walker, referrer)
        users.append(user)
        for n in range(DAYS, 0, -1):  # each day is over: settled and credited as it syncs
            day = today - dt.timedelta(days=n)
            samples = _walks(walker, day, n)
            if len(users) - 1 == CHEAT and n == 2:  # over at any hour: settled now
                samples.append(_impossible(walker, day))
            await activity.ingest(session, user.id, samples)
        if walker.buys:
            await _buy(session, user, store, walker.buys)


PROFILE = Profile(name="fitkart", title="FitKart: steps earn coins, anti-cheat, leaderboards,"
                  " achievements and a reward shop", data_sets=(
    DataSet("fitkart:coins", load_coins, needs=("ledger", "activity")),
    DataSet("fitkart:achievements", load_achievements, needs=("loyalty",)),
    DataSet("fitkart:admin", load_admin, needs=("access",)),
    DataSet("fitkart:products", load_products, needs=("catalog", "fitkart:coins")),
    DataSet("fitkart:users", load_users,
            needs=("fitkart:coins", "fitkart:products", "fitkart:achievements", "rewards",
                   "referrals", "orders"),
            notes=("FitKart    walkers +919900010001 to …0004: a week of steps, FitKart coins,"
                   " shop orders; GET /v1/me/steps, /v1/leaderboards/steps/weekly; one of Vikram's"
                   " days waits in GET /v1/admin/activity/reviews",)),
))
