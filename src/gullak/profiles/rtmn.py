"""The RTMN profile: the four coin types of `wallet_transactions` (promo coins expiring in 90
days, branded coins per merchant, ReZ coins, cash) on the default assets, a referral reward
and a campaign with a budget, a partner company for cross-company orders, and the 100 test
users of seeders/20260104_001_seed_test_users.js with their tiers and KYC (their referral
codes are the platform's own: a code is given at sign-up)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import service as catalog
from gullak.identity import service as identity
from gullak.identity.schemas import KycIn, UserOut
from gullak.kit import clock
from gullak.kit.demo import DataSet, FailedRows
from gullak.kit.security import Subject
from gullak.loyalty import service as loyalty
from gullak.merchants import service as merchants
from gullak.orders import flows as orders
from gullak.orders.pricing import Policy
from gullak.orders.schemas import ItemIn, OrderIn, TenderIn
from gullak.partners import flows as partner_orders
from gullak.partners import service as partners
from gullak.partners.schemas import PartnerIn, PartnerOrderIn
from gullak.profiles import Profile
from gullak.profiles.people import sign_up
from gullak.rewards import service as rewards
from gullak.rewards.schemas import CampaignIn, RuleIn
from gullak.settings import get_settings

PLATFORM = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000001f0"),
                   frozenset({"loyalty.manage", "rewards.manage", "orders.manage"}))
TIERS = ("basic", "silver", "gold", "prive")  # the seed's loyalty_tier enum, by i % 4
USERS = 100
CAFE = "Bombay Brew House"
COLD_BREW = "BBH-CB-500"
PARTNER = "BizOne Commerce"  # RTMN's cross-company integration
FUNDED = 5  # the first test users: ReZ coins and wallet cash to order with
RUPEE = 100  # paise
FUNDS = {"REZ": 500, "INR": 2_000 * RUPEE}

RULES: list[dict[str, Any]] = [
    {"name": "RTMN referral: 100 ReZ coins to both sides", "trigger": "referral",
     "kind": "fixed", "value": 100, "asset_code": "REZ"},
]
CAMPAIGN_DAYS = 60


def phone(i: int) -> str:
    """The seed's `+91-98765` followed by i in five digits, in E.164."""
    return f"+9198765{i:05d}"


async def load_rewards(session: AsyncSession) -> None:
    now = clock.now()
    for body in RULES:
        await rewards.create_rule(session, RuleIn.model_validate(body), PLATFORM)
    campaign = await rewards.create_campaign(session, CampaignIn(
        name="RTMN New Year 2026: 10% promo coins", asset_code="PROMO", status="active",
        starts_at=now - dt.timedelta(days=1), ends_at=now + dt.timedelta(days=CAMPAIGN_DAYS),
        budget=500_000, per_user_limit=5), PLATFORM)
    await rewards.create_rule(session, RuleIn.model_validate({
        "name": "RTMN New Year: 10% promo coins on orders from ₹300", "trigger": "order_completed",
        "kind": "percent", "value": 1_000, "asset_code": "PROMO", "lifetime_days": 90,
        "max_per_reward": 1_000, "campaign_id": campaign.id,
        "conditions": {"min_amount": 300 * RUPEE}}), PLATFORM)


async def load_partner(session: AsyncSession) -> None:
    await partners.create(session, get_settings(), PartnerIn(name=PARTNER), None)


async def _sign_up(session: AsyncSession, i: int, referrer: UserOut | None) -> UserOut:
    return await sign_up(session, phone(i), name=f"Test User {i}", email=f"user{i}@example.com",
                         referral_code=referrer.referral_code if referrer else None,
                         device_id=f"rtmn-{i}")


async def _kyc(session: AsyncSession, user_id: uuid.UUID, i: int) -> None:
    record = await identity.submit_kyc(session, get_settings(), user_id, KycIn.model_validate(
        {"document_type": "pan", "document_number": f"RTMNP{i:04d}Q", "name": f"Test User {i}"}))
    if i % 2:  # the seed's kyc_status: verified for odd i, pending for even
        await identity.review_kyc(session, record.id, PLATFORM.id, True, None)


async def _cold_brew(session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID]:
    page = await merchants.list_merchants(session, limit=200)
    cafe = next((m.id for m in page.items if m.name == CAFE), None)
    if cafe is None:
        raise FailedRows(f"no {CAFE} among the merchants")
    products = await catalog.list_products(session, cafe, limit=100)
    product = next((p.id for p in products.items if p.sku == COLD_BREW), None)
    if product is None:
        raise FailedRows(f"{CAFE} has no {COLD_BREW}")
    return cafe, product


def _order(cafe: uuid.UUID, product: uuid.UUID) -> dict[str, Any]:
    # Coins first (up to the coin cap), the rest from wallet cash.
    return {"merchant_id": cafe, "items": [ItemIn(product_id=product, quantity=2)],
            "tenders": [TenderIn(asset_code="REZ"), TenderIn(asset_code="INR")]}


async def _complete(session: AsyncSession, order_id: uuid.UUID) -> None:
    for action in ("confirm", "ready", "complete"):
        await orders.advance(session, order_id, action, PLATFORM, "rtmn demo")


async def load_users(session: AsyncSession) -> None:
    users: list[UserOut] = []
    for i in range(1, USERS + 1):
        referrer = users[0] if 2 <= i <= 4 else None  # three friends used Test User 1's code
        users.append(await _sign_up(session, i, referrer))
        user_id = users[-1].id
        if TIERS[i % 4] != "basic":
            await loyalty.set_tier(session, user_id, TIERS[i % 4], "RTMN test user", PLATFORM)
        await _kyc(session, user_id, i)
        if i <= FUNDED:
            for code, amount in FUNDS.items():
                await identity.adjust_wallet(session, user_id, code, amount, "RTMN test credit",
                                             f"rtmn:funds:{i}:{code}")
    ids = [u.id for u in users]
    cafe, product = await _cold_brew(session)
    # Test User 2, a referee, orders in the app: the referral pays both sides.
    order, _ = await orders.place_order(session, Subject("user", ids[1]),
                                        OrderIn(**_order(cafe, product)), Policy())
    await _complete(session, order.id)
    # Test User 1's order comes from the partner company, through the link the user made.
    partner = next(p for p in await partners.list_partners(session) if p.name == PARTNER)
    link, _ = await partners.link(session, ids[0], partner.id)
    # The partner acts as its API key makes it act (partners.service.authenticate).
    actor = Subject("service", partner.id, frozenset({f"partner:{partner.id}", partners.ACTIVE}))
    placed, _ = await partner_orders.place(
        session, actor, partner.id,
        PartnerOrderIn(external_ref="BZ-2026-0001", link_id=link.id, **_order(cafe, product)),
        Policy())
    await _complete(session, placed.order.id)


PROFILE = Profile(name="rtmn", title="RTMN: promo, branded and ReZ coins and cash, tiers,"
                  " campaigns and cross-company orders", data_sets=(
    DataSet("rtmn:rewards", load_rewards, needs=("rewards",)),
    DataSet("rtmn:partner", load_partner, needs=("merchants",)),
    DataSet("rtmn:users", load_users,
            needs=("rtmn:rewards", "rtmn:partner", "loyalty", "referrals", "catalog"),
            notes=(f"RTMN       test users {phone(1)} to {phone(USERS)} (Test User N, tier by N"
                   " mod 4, KYC verified for odd N); a cross-company order of Test User 1 from"
                   f" {PARTNER}: GET /v1/admin/partners",)),
))
