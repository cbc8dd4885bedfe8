"""Whether an offer applies to a user's cart, and every reason why not, reading only.

Segments other than `all` and `new_users`, the user's level and the user's audience tags
belong to domains that do not exist yet (rewards, subscriptions): they come from providers
registered here (`register_segment`, `register_level`, `register_tags`). A segment with no
provider has no members, a missing level provider gives every user level 0, and a missing tags
provider gives no tags.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import service as identity
from gullak.kit import clock
from gullak.kit.errors import NotFound
from gullak.ledger import service as ledger
from gullak.merchants import service as merchants
from gullak.offers import errors, lookup, rules
from gullak.offers.common import UNIVERSAL_ASSET
from gullak.offers.models import Offer
from gullak.offers.schemas import CartIn, ValidationOut

DEFAULT_TIMEZONE = "Asia/Kolkata"  # when no outlet says otherwise
NEW_USER_WINDOW = dt.timedelta(days=30)

SegmentCheck = Callable[[AsyncSession, uuid.UUID], Awaitable[bool]]
LevelOf = Callable[[AsyncSession, uuid.UUID], Awaitable[int]]
TagsOf = Callable[[AsyncSession, uuid.UUID], Awaitable[set[str]]]


async def _everyone(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return True


async def _new_user(session: AsyncSession, user_id: uuid.UUID) -> bool:
    user = await identity.get_user(session, user_id)
    return bool(clock.now() - user.created_at < NEW_USER_WINDOW)


SEGMENT_PROVIDERS: dict[str, SegmentCheck] = {"all": _everyone, "new_users": _new_user}
LEVEL_PROVIDER: LevelOf | None = None
TAGS_PROVIDER: TagsOf | None = None


def register_segment(name: str, check: SegmentCheck) -> None:
    SEGMENT_PROVIDERS[name] = check


def register_level(provider: LevelOf | None) -> None:
    global LEVEL_PROVIDER
    LEVEL_PROVIDER = provider


def register_tags(provider: TagsOf | None) -> None:
    global TAGS_PROVIDER
    TAGS_PROVIDER = provider


@dataclass
class Evaluation:
    reasons: list[str] = field(default_factory=list)
    discount: int = 0
    cashback_coins: int = 0


async def _coins_available(session: AsyncSession, user_id: uuid.UUID, asset: str) -> int:
    try:
        account_id = await identity.wallet_account(session, user_id, asset)
    except NotFound:  # no such asset
        return 0
    if account_id is None:  # never held it
        return 0
    return (await ledger.balance(session, account_id)).available


async def _user_count(session: AsyncSession, offer_id: uuid.UUID, user_id: uuid.UUID) -> int:
    count = await session.scalar(text(
        "SELECT count FROM offer_user_redemptions WHERE offer_id = :o AND user_id = :u"),
        {"o": offer_id, "u": user_id})
    return int(count or 0)


async def _in_segment(session: AsyncSession, segments: list[str], user_id: uuid.UUID) -> bool:
    for segment in segments:
        check = SEGMENT_PROVIDERS.get(segment)
        if check is not None and await check(session, user_id):
            return True
    return False


async def evaluate(session: AsyncSession, offer: Offer, user_id: uuid.UUID, cart: CartIn,
                    at: dt.datetime) -> Evaluation:
    """Every reason why `offer` does not apply, reading only."""
    reasons: list[str] = []
    if offer.status != "active":
        reasons.append("not_active")
    if at < offer.valid_from:
        reasons.append("not_started")
    if at >= offer.valid_until:
        reasons.append("expired")
    outlet = None
    if cart.outlet_id is not None:
        try:
            outlet = await merchants.get_outlet(session, cart.outlet_id)
        except NotFound:
            outlet = None
        if outlet is not None and outlet.merchant_id != offer.merchant_id:
            outlet = None
    if (cart.outlet_id is not None and (outlet is None or not outlet.active)) or (
            offer.outlet_ids and cart.outlet_id not in offer.outlet_ids):
        reasons.append("wrong_outlet")
    wall = rules.local(at, outlet.timezone if outlet is not None else DEFAULT_TIMEZONE)
    if offer.weekdays is not None and rules.weekday(wall) not in offer.weekdays:
        reasons.append("wrong_weekday")
    if offer.hours is not None and not rules.within_hours(offer.hours, wall):
        reasons.append("outside_hours")
    city = cart.city or (outlet.city if outlet is not None else None)
    if offer.cities and (city is None or city.strip().lower() not in offer.cities):
        reasons.append("wrong_city")
    if cart.amount < offer.min_order_value:
        reasons.append("below_min_order")
    if offer.type == "bogo" and cart.item_count < (offer.bogo_buy or 0) + (offer.bogo_get or 0):
        reasons.append("too_few_items")
    if offer.total_limit is not None and offer.redemptions_count >= offer.total_limit:
        reasons.append("total_limit_reached")
    if offer.per_user_limit is not None and \
            await _user_count(session, offer.id, user_id) >= offer.per_user_limit:
        reasons.append("user_limit_reached")
    if not await _in_segment(session, offer.segments, user_id):
        reasons.append("not_in_segment")
    if offer.audience_tags:
        tags = await TAGS_PROVIDER(session, user_id) if TAGS_PROVIDER else set()
        if not tags & set(offer.audience_tags):
            reasons.append("not_in_audience")
    if offer.min_level:
        level = await LEVEL_PROVIDER(session, user_id) if LEVEL_PROVIDER else 0
        if level < offer.min_level:
            reasons.append("level_too_low")
    if offer.coins_required and \
            await _coins_available(session, user_id, UNIVERSAL_ASSET) < offer.coins_required:
        reasons.append("insufficient_coins")
    if not await merchants.is_live(session, offer.merchant_id):
        reasons.append("merchant_not_live")
    discount, cashback = rules.benefits(offer, cart.amount, cart.item_count, cart.item_price)
    return Evaluation(reasons, discount, cashback)


def validation_out(offer: Offer, cart: CartIn, ev: Evaluation, at: dt.datetime) -> ValidationOut:
    return ValidationOut(
        offer_id=offer.id, valid=not ev.reasons, reasons=ev.reasons, checked_at=at,
        original_amount=cart.amount, discount=ev.discount,
        final_amount=cart.amount - ev.discount, coins_required=offer.coins_required,
        coins_earned=offer.coins_earned, cashback_coins=ev.cashback_coins,
        branded_coins_earned=offer.branded_coins_earned,
        branded_asset_code=offer.branded_asset_code,
        bogo_buy=offer.bogo_buy, bogo_get=offer.bogo_get, freebie_item=offer.freebie_item)


async def validate(session: AsyncSession, offer_id: uuid.UUID, user_id: uuid.UUID,
                   cart: CartIn, at: dt.datetime | None = None) -> ValidationOut:
    """Would `offer_id` apply to this user's cart at `at` (now by default)? Changes nothing."""
    offer = await lookup.public(session, offer_id)
    at = at or clock.now()
    return validation_out(offer, cart, await evaluate(session, offer, user_id, cart, at), at)


async def _offer_by_code(session: AsyncSession, code: str) -> Offer:
    offer = await session.scalar(select(Offer).where(
        func.lower(Offer.coupon_code) == code.strip().lower(),
        Offer.status.in_(lookup.PUBLIC_STATUSES)).order_by(Offer.id.desc()).limit(1))
    if offer is None:
        raise errors.CouponNotFound(field="code")
    return offer


async def validate_code(session: AsyncSession, code: str, user_id: uuid.UUID, cart: CartIn,
                        at: dt.datetime | None = None) -> ValidationOut:
    offer = await _offer_by_code(session, code)
    at = at or clock.now()
    return validation_out(offer, cart, await evaluate(session, offer, user_id, cart, at), at)
