"""Offers commands and queries: terms and approval workflow, validation, redemption through
the ledger, tracking, and the search contract. Services never commit; the caller's unit of
work does.

Segments other than `all` and `new_users`, the user's level and the user's audience tags
belong to domains that do not exist yet (rewards, subscriptions): they come from providers
registered here (`SEGMENT_PROVIDERS`, `LEVEL_PROVIDER`, `TAGS_PROVIDER`). A segment with no
provider has no members, a missing level provider gives every user level 0, and a missing tags
provider gives no tags.

Limits: `offers.redemptions_count` and `offer_user_redemptions.count` count the redemptions
that hold a slot (pending or completed). Redeeming takes a slot with one conditional UPDATE per
counter, whose row lock serialises redeemers of the same offer, so the limits hold exactly
under concurrency. A cancelled or refunded redemption gives its slot back: the user got
nothing from it, and the merchant's budget is for benefits actually given.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import service as identity
from gullak.kit import audit, clock
from gullak.kit.errors import Forbidden, NotFound
from gullak.kit.ids import uuid7
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetIn, AssetKind, CaptureIn, HoldIn, TransferIn
from gullak.merchants import service as merchants
from gullak.offers import errors, lookup, rules
from gullak.offers.listing import (
    CACHE,
    SEARCH_TERMS,  # noqa: F401  (the search contract)
    active_offers,
    autocomplete,
    headline,
    search,
)
from gullak.offers.lookup import offer_out, public_out
from gullak.offers.models import LIVE_STATUSES, Offer, Redemption
from gullak.offers.schemas import (
    REQUIRED_FIELDS,
    AdminOfferIn,
    AdminOfferPatch,
    CartIn,
    OfferIn,
    OfferOut,
    OfferPage,
    OfferPatch,
    PublicOfferOut,
    RedeemIn,
    RedemptionOut,
    RedemptionPage,
    ValidationOut,
)
from gullak.offers.tracking import (
    client_hash,
    ensure_partitions,
    get_click,
    partitions,
    record_click,
    record_view,
    save,
    saved_offers,
    share,
    stats,
    unsave,
)
from gullak.system import service as system

UNIVERSAL_ASSET = "REZ"  # the coins every merchant's offers are unlocked with and earn
DEFAULT_TIMEZONE = "Asia/Kolkata"  # when no outlet says otherwise
NEW_USER_WINDOW = dt.timedelta(days=30)
PENDING_TTL = dt.timedelta(hours=24)  # a redemption not completed by then is cancelled
# The hold outlives its redemption, so that the expiry job, not the ledger, releases it.
HOLD_MARGIN = dt.timedelta(hours=1)
REFERENCE = "offer_redemption"
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the counter

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


def merchant_scope(subject: Subject, permission: str | None = None) -> uuid.UUID:
    """The merchant a merchant user acts for, if it holds `permission`."""
    merchant_id = merchants.merchant_of(subject)
    if merchant_id is None:
        raise errors.NotMerchantUser()
    if permission is not None and not subject.can(permission):
        raise Forbidden(f"Needs the permission {permission}.", permission=permission)
    return merchant_id


def _dump(value: Any) -> Any:
    return value.model_dump(mode="json") if value is not None else None


# -- cache ------------------------------------------------------------------------------------

async def _changed(session: AsyncSession) -> None:
    """An offer changed: drop cached lists now, and again once the change commits (a reader
    may have cached the old state in between)."""
    await CACHE.invalidate(system.redis_client())
    sync = session.sync_session
    if not sync.info.get("offers_cache_hook"):
        sync.info["offers_cache_hook"] = True

        def after_commit(committed: Any) -> None:
            committed.info.pop("offers_cache_hook", None)
            CACHE.invalidate_soon(system.redis_client())

        def after_rollback(rolled_back: Any) -> None:
            rolled_back.info.pop("offers_cache_hook", None)

        event.listen(sync, "after_commit", after_commit, once=True)
        event.listen(sync, "after_rollback", after_rollback, once=True)


# -- offers: terms and workflow ---------------------------------------------------------------

def _normalized(values: dict[str, Any]) -> dict[str, Any]:
    for name in ("segments", "audience_tags", "tags", "outlet_ids", "weekdays"):
        if values.get(name) is not None:
            values[name] = rules.unique(str(v) if name == "segments" else v
                                        for v in values[name])
    if values.get("weekdays") is not None:
        values["weekdays"] = [d for d in rules.WEEKDAYS if d in values["weekdays"]]
    if values.get("cities") is not None:
        values["cities"] = rules.unique(c.strip().lower() for c in values["cities"])
    if values.get("hours") is not None:
        values["hours"] = [dict(w) for w in values["hours"]]
    for name in ("type", "discount_kind", "cashback_kind"):
        if values.get(name) is not None:
            values[name] = str(values[name])
    return values


async def _check_outlets(session: AsyncSession, merchant_id: uuid.UUID,
                         outlet_ids: list[uuid.UUID]) -> None:
    for outlet_id in outlet_ids:
        try:
            outlet = await merchants.get_outlet(session, outlet_id)
        except NotFound:
            outlet = None
        if outlet is None or outlet.merchant_id != merchant_id:
            raise errors.InvalidOutlet(f"Outlet {outlet_id} is not one of this merchant's.",
                                       field="outlet_ids")


async def _check_code_free(session: AsyncSession, offer: Offer) -> None:
    if offer.coupon_code is None or offer.status not in LIVE_STATUSES:
        return
    taken = await session.scalar(select(Offer.id).where(
        func.lower(Offer.coupon_code) == offer.coupon_code.lower(),
        Offer.status.in_(LIVE_STATUSES), Offer.id != offer.id).limit(1))
    if taken is not None:
        raise errors.CouponCodeTaken(field="coupon_code")


@asynccontextmanager
async def _code_guard(session: AsyncSession) -> AsyncIterator[None]:
    """An offer's writes, in a savepoint. `_check_code_free` cannot see another transaction's
    uncommitted offer, so two writers may both pass it; the unique index then refuses the
    later one, which gets the refusal it would have had coming second (and, thanks to the
    savepoint, a transaction that is still usable)."""
    try:
        async with session.begin_nested():
            yield
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
        if constraint == "uq_offers_coupon_code":
            raise errors.CouponCodeTaken(field="coupon_code") from exc
        raise


async def branded_asset(session: AsyncSession, merchant_id: uuid.UUID) -> str:
    """The code of the merchant's branded coins, created on first use."""
    code = f"BR_{merchant_id.hex[-12:].upper()}"
    try:
        await ledger.get_asset(session, code)
    except NotFound:
        merchant = await merchants.get_merchant(session, merchant_id)
        await ledger.create_asset(session, AssetIn(
            code=code, name=f"{merchant.name} coins"[:100], kind=AssetKind.coin, scale=0,
            merchant_id=merchant_id))
    return code


async def _apply(session: AsyncSession, offer: Offer, values: dict[str, Any]) -> None:
    """Set `values` on `offer` after checking the whole result."""
    for name in REQUIRED_FIELDS & values.keys():
        if values[name] is None:
            raise errors.InvalidTerms(f"{name} cannot be cleared.", field=name)
    whole = {c.key: getattr(offer, c.key) for c in Offer.__table__.columns}
    whole.update(values)
    rules.check_terms(whole)
    if offer.redemptions_count and whole["total_limit"] is not None \
            and whole["total_limit"] < offer.redemptions_count:
        raise errors.InvalidLimit(field="total_limit")
    if "outlet_ids" in values:
        await _check_outlets(session, offer.merchant_id, values["outlet_ids"])
    async with _code_guard(session):  # from the first change: a query may autoflush
        for name, value in values.items():
            setattr(offer, name, value)
        offer.keywords = " ".join(offer.tags or [])
        if offer.branded_coins_earned and offer.branded_asset_code is None:
            offer.branded_asset_code = await branded_asset(session, offer.merchant_id)
        await _check_code_free(session, offer)
        await session.flush()


async def create_offer(session: AsyncSession, merchant_id: uuid.UUID,
                       data: OfferIn | AdminOfferIn, actor: Subject | None) -> OfferOut:
    """A draft offer of `merchant_id` from `data` (OfferIn, or AdminOfferIn with promotion)."""
    await merchants.get_merchant(session, merchant_id)
    values = _normalized(data.model_dump(exclude={"merchant_id"}))
    offer = Offer(merchant_id=merchant_id, status="draft", redemptions_count=0,
                  created_by=actor.id if actor else None, branded_asset_code=None,
                  is_featured=False, display_priority=0, boosted_until=None)
    await _apply(session, offer, values)
    async with _code_guard(session):
        session.add(offer)
        await session.flush()
    await session.refresh(offer)
    after = offer_out(offer)
    await audit.record(session, actor, "offer.create", "offer", str(offer.id),
                       after=_dump(after))
    await _changed(session)
    return after


async def get_offer(session: AsyncSession, offer_id: uuid.UUID,
                    merchant_id: uuid.UUID | None = None) -> OfferOut:
    return offer_out(await lookup.offer(session, offer_id, merchant_id))


async def update_offer(session: AsyncSession, offer_id: uuid.UUID,
                       data: OfferPatch | AdminOfferPatch, actor: Subject | None, *,
                       merchant_id: uuid.UUID | None = None) -> OfferOut:
    """Change the fields sent. A merchant's user edits only draft and rejected offers (a
    rejected one goes back to draft); the platform edits any offer not yet expired."""
    offer = await lookup.offer(session, offer_id, merchant_id, lock=True)
    own = merchant_id is not None
    if (own and offer.status not in ("draft", "rejected")) or offer.status == "expired":
        raise errors.OfferLocked(f"The offer is {offer.status}.")
    before = offer_out(offer)
    values = _normalized(data.model_dump(exclude_unset=True))
    if own and offer.status == "rejected":
        values["status"] = "draft"
    await _apply(session, offer, values)
    await session.refresh(offer)
    after = offer_out(offer)
    await audit.record(session, actor, "offer.update", "offer", str(offer.id),
                       before=_dump(before), after=_dump(after))
    await _changed(session)
    return after


# action: (statuses it starts from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({"draft", "rejected"}), "pending"),
    "approve": (frozenset({"pending"}), "active"),
    "reject": (frozenset({"pending"}), "rejected"),
    "pause": (frozenset({"active"}), "paused"),
    "resume": (frozenset({"paused"}), "active"),
    "expire": (frozenset(LIVE_STATUSES), "expired"),
}


async def transition(session: AsyncSession, offer_id: uuid.UUID, action: str,
                     actor: Subject | None, *, merchant_id: uuid.UUID | None = None,
                     reason: str | None = None) -> OfferOut:
    """Move the offer through its workflow; every move is audited."""
    starts, target = TRANSITIONS[action]
    offer = await lookup.offer(session, offer_id, merchant_id, lock=True)
    if offer.status not in starts:
        raise errors.InvalidTransition(f"Cannot {action} an offer that is {offer.status}.",
                                       current_status=offer.status)
    now = clock.now()
    if action in ("submit", "approve", "resume") and offer.valid_until <= now:
        raise errors.InvalidTransition("The offer's window has ended.", code="window_ended")
    if action == "reject" and not reason:
        raise errors.InvalidTerms("A rejection needs a reason.", field="reason")
    before = offer_out(offer)
    async with _code_guard(session):  # a rejected offer submitted again claims its code
        offer.status = target
        offer.status_reason = reason
        if action == "submit":
            offer.submitted_at = now
            await _check_code_free(session, offer)
        if action in ("approve", "reject"):
            offer.reviewed_by = actor.id if actor else None
            offer.reviewed_at = now
        await session.flush()
    await session.refresh(offer)
    after = offer_out(offer)
    await audit.record(session, actor, f"offer.{action}", "offer", str(offer.id),
                       before=_dump(before), after=_dump(after))
    await _changed(session)
    return after


async def expire_offers(session: AsyncSession, *, limit: int = 500) -> int:
    """Expire offers past their window that could still go live; returns how many."""
    ids = (await session.scalars(select(Offer.id).where(
        Offer.status.in_(LIVE_STATUSES), Offer.valid_until <= clock.now())
        .order_by(Offer.valid_until).limit(limit).with_for_update(skip_locked=True))).all()
    for offer_id in ids:
        await transition(session, offer_id, "expire", None, reason="window ended")
    return len(ids)


def _cursor(cursor: str | None) -> uuid.UUID | None:
    if cursor is None:
        return None
    try:
        return uuid.UUID(cursor)
    except ValueError as exc:
        raise errors.InvalidTerms("Malformed cursor.", code="invalid_cursor",
                                  field="cursor") from exc


async def list_offers(session: AsyncSession, *, merchant_id: uuid.UUID | None = None,
                      status: str | None = None, cursor: str | None = None,
                      limit: int = 50) -> OfferPage:
    """Newest first, a keyset page at a time."""
    query = select(Offer).order_by(Offer.id.desc()).limit(limit)
    if merchant_id is not None:
        query = query.where(Offer.merchant_id == merchant_id)
    if status is not None:
        query = query.where(Offer.status == status)
    after = _cursor(cursor)
    if after is not None:
        query = query.where(Offer.id < after)
    items = [offer_out(o) for o in await session.scalars(query)]
    return OfferPage(items=items, next_cursor=str(items[-1].id) if len(items) == limit else None)


async def public_offer(session: AsyncSession, offer_id: uuid.UUID) -> PublicOfferOut:
    """An offer as users see it: drafts, offers under review and rejected ones are not found."""
    return public_out(await lookup.public(session, offer_id))


# -- validation -------------------------------------------------------------------------------

@dataclass
class Evaluation:
    reasons: list[str] = field(default_factory=list)
    discount: int = 0
    cashback_coins: int = 0


async def _coins_available(session: AsyncSession, user_id: uuid.UUID, asset: str) -> int:
    try:
        account_id = await identity.wallet_account(session, user_id, asset)
    except NotFound:
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


async def _evaluate(session: AsyncSession, offer: Offer, user_id: uuid.UUID, cart: CartIn,
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


def _validation(offer: Offer, cart: CartIn, ev: Evaluation, at: dt.datetime) -> ValidationOut:
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
    return _validation(offer, cart, await _evaluate(session, offer, user_id, cart, at), at)


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
    return _validation(offer, cart, await _evaluate(session, offer, user_id, cart, at), at)


# -- redemption -------------------------------------------------------------------------------

def redemption_out(row: Redemption) -> RedemptionOut:
    return RedemptionOut.model_validate(row)


def _request_hash(offer_id: uuid.UUID, cart: CartIn) -> str:
    # A cart without an item price hashes as before carts had one: a redemption retried
    # across that change still matches its Idempotency-Key.
    unset = {"item_price"} if cart.item_price is None else set()
    payload = json.dumps([str(offer_id), cart.model_dump(mode="json", exclude=unset)],
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


async def _new_code(session: AsyncSession) -> str:
    while True:
        code = "R" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(9))
        if await session.scalar(select(Redemption.id).where(Redemption.code == code)) is None:
            return code


_TAKE_SLOT = text("""
UPDATE offers SET redemptions_count = redemptions_count + 1
WHERE id = :id AND status = 'active'
  AND (total_limit IS NULL OR redemptions_count < total_limit)
RETURNING redemptions_count
""")
_TAKE_USER_SLOT = text("""
INSERT INTO offer_user_redemptions AS u (offer_id, user_id, count) VALUES (:o, :u, 1)
ON CONFLICT (offer_id, user_id) DO UPDATE SET count = u.count + 1
WHERE CAST(:limit AS integer) IS NULL OR u.count < :limit
RETURNING count
""")


async def redeem(session: AsyncSession, offer_id: uuid.UUID, user_id: uuid.UUID,
                 cart: RedeemIn, *, idempotency_key: str | None = None
                 ) -> tuple[RedemptionOut, bool]:
    """Redeem for the user: take a slot under the limits and hold the coins it costs.
    Returns the redemption and whether it is new (False: a replay of the same key)."""
    digest = _request_hash(offer_id, cart)
    if idempotency_key is not None:
        # Concurrent requests with one key queue here; the later ones find the first's row.
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                              {"k": f"offers.redeem:{user_id}:{idempotency_key}"})
        existing = await session.scalar(select(Redemption).where(
            Redemption.user_id == user_id, Redemption.idempotency_key == idempotency_key))
        if existing is not None:
            if existing.request_hash != digest:
                raise errors.IdempotencyKeyReused(field="Idempotency-Key")
            return redemption_out(existing), False
    offer = await lookup.public(session, offer_id)
    now = clock.now()
    ev = await _evaluate(session, offer, user_id, cart, now)
    if ev.reasons:
        raise errors.NotRedeemable(reasons=ev.reasons)
    if (await session.execute(_TAKE_SLOT, {"id": offer.id})).first() is None:
        # Someone took the last slot (or changed the offer) since we looked: say why now.
        await session.refresh(offer)
        reasons = (await _evaluate(session, offer, user_id, cart, now)).reasons
        raise errors.NotRedeemable(reasons=reasons or ["total_limit_reached"])
    taken = (await session.execute(_TAKE_USER_SLOT, {
        "o": offer.id, "u": user_id, "limit": offer.per_user_limit})).first()
    if taken is None:
        raise errors.NotRedeemable(reasons=["user_limit_reached"])
    redemption_id = uuid7()
    expires_at = now + PENDING_TTL
    hold_id = None
    if offer.coins_required:
        wallet = await ledger.user_account(session, user_id, UNIVERSAL_ASSET)
        hold = await ledger.place_hold(session, HoldIn(
            account_id=wallet.id, asset_code=UNIVERSAL_ASSET, amount=offer.coins_required,
            expires_at=expires_at + HOLD_MARGIN, reference_type=REFERENCE,
            reference_id=str(redemption_id)), idempotency_key=f"{REFERENCE}:{redemption_id}:hold")
        hold_id = hold.id
    row = Redemption(
        id=redemption_id, code=await _new_code(session), offer_id=offer.id, user_id=user_id,
        merchant_id=offer.merchant_id, outlet_id=cart.outlet_id,
        order_ref=cart.order_ref, status="pending",
        original_amount=cart.amount, discount_amount=ev.discount,
        final_amount=cart.amount - ev.discount, item_count=cart.item_count,
        coins_used=offer.coins_required, coins_earned=offer.coins_earned,
        cashback_coins=ev.cashback_coins, branded_coins_earned=offer.branded_coins_earned,
        branded_asset_code=offer.branded_asset_code if offer.branded_coins_earned else None,
        hold_id=hold_id, earn_transfer_ids=[], idempotency_key=idempotency_key,
        request_hash=digest, expires_at=expires_at, created_at=now)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return redemption_out(row), True


def _may_resolve(actor: Subject, row: Redemption, action: str) -> None:
    """Who may move a redemption: the platform with `redemptions.manage`, the merchant's own
    users with `merchant.redemptions.manage`, and the user, to cancel their own pending one."""
    if actor.kind in ("admin", "service"):
        if not actor.can("redemptions.manage"):
            raise Forbidden("Needs the permission redemptions.manage.",
                            permission="redemptions.manage")
        return
    if actor.kind == "merchant_user":
        if merchants.merchant_of(actor) != row.merchant_id:
            raise errors.RedemptionNotFound()
        if not actor.can("merchant.redemptions.manage"):
            raise Forbidden("Needs the permission merchant.redemptions.manage.",
                            permission="merchant.redemptions.manage")
        return
    if actor.kind == "user" and row.user_id == actor.id:
        if action == "cancel":
            return
        raise Forbidden(f"Only the merchant or the platform can {action} a redemption.")
    raise errors.RedemptionNotFound()


async def _locked_redemption(session: AsyncSession, redemption_id: uuid.UUID) -> Redemption:
    row = await session.get(Redemption, redemption_id, with_for_update=True,
                            populate_existing=True)
    if row is None:
        raise errors.RedemptionNotFound()
    return row


def _expect(row: Redemption, status: str) -> None:
    if row.status != status:
        raise errors.RedemptionState(f"The redemption is {row.status}.",
                                     current_status=row.status)


async def _give_slot_back(session: AsyncSession, row: Redemption) -> None:
    # The offer's row first, then the user's: the order redeeming takes them in.
    await session.execute(text(
        "UPDATE offers SET redemptions_count = redemptions_count - 1 WHERE id = :o"),
        {"o": row.offer_id})
    await session.execute(text(
        "UPDATE offer_user_redemptions SET count = count - 1 WHERE offer_id = :o AND user_id = :u"),
        {"o": row.offer_id, "u": row.user_id})


async def _resolved(session: AsyncSession, row: Redemption, actor: Subject | None,
                    action: str, before: RedemptionOut) -> RedemptionOut:
    await session.flush()
    await session.refresh(row)
    after = redemption_out(row)
    if actor is None or audit.worth_auditing(actor):
        await audit.record(session, actor, f"redemption.{action}", "offer_redemption",
                           str(row.id), before=_dump(before), after=_dump(after))
    return after


async def complete(session: AsyncSession, redemption_id: uuid.UUID,
                   actor: Subject) -> RedemptionOut:
    """The merchant honoured it: capture the coins held and credit the coins earned."""
    row = await _locked_redemption(session, redemption_id)
    _may_resolve(actor, row, "complete")
    _expect(row, "pending")
    now = clock.now()
    if row.expires_at <= now:
        raise errors.RedemptionState("The redemption expired before it was completed.",
                                     code="redemption_expired")
    before = redemption_out(row)
    key = f"{REFERENCE}:{row.id}"
    if row.hold_id is not None:
        spent = await ledger.platform_account(session, UNIVERSAL_ASSET, "redemption")
        captured = await ledger.capture(session, row.hold_id, CaptureIn(
            credit_account_id=spent.id, kind="offer_unlock", reference_type=REFERENCE,
            reference_id=str(row.id)), idempotency_key=f"{key}:capture")
        row.spend_transfer_id = captured.transfer.id
    earned = []
    for asset, amount, kind in ((UNIVERSAL_ASSET, row.coins_earned, "offer_reward"),
                                (UNIVERSAL_ASSET, row.cashback_coins, "cashback"),
                                (row.branded_asset_code, row.branded_coins_earned,
                                 "offer_reward")):
        if amount and asset:
            issuance = await ledger.platform_account(session, asset, "issuance")
            wallet = await ledger.user_account(session, row.user_id, asset)
            earned.append(TransferIn(
                debit_account_id=issuance.id, credit_account_id=wallet.id, asset_code=asset,
                amount=amount, kind=kind, reference_type=REFERENCE, reference_id=str(row.id)))
    if earned:
        posted = await ledger.post(session, earned, idempotency_key=f"{key}:earn")
        row.earn_transfer_ids = [t.id for t in posted.transfers]
    row.status, row.completed_at = "completed", now
    return await _resolved(session, row, actor, "complete", before)


async def _cancel(session: AsyncSession, row: Redemption, actor: Subject | None,
                  reason: str | None) -> RedemptionOut:
    before = redemption_out(row)
    await _give_slot_back(session, row)
    if row.hold_id is not None and \
            (await ledger.get_hold(session, row.hold_id)).status == "pending":
        await ledger.release(session, row.hold_id,
                             idempotency_key=f"{REFERENCE}:{row.id}:release")
    row.status, row.cancelled_at, row.reason = "cancelled", clock.now(), reason
    return await _resolved(session, row, actor, "cancel", before)


async def cancel(session: AsyncSession, redemption_id: uuid.UUID, actor: Subject,
                 reason: str | None = None) -> RedemptionOut:
    """Call off a pending redemption: the coins held go back, the slot is free again."""
    row = await _locked_redemption(session, redemption_id)
    _may_resolve(actor, row, "cancel")
    _expect(row, "pending")
    return await _cancel(session, row, actor, reason)


async def refund(session: AsyncSession, redemption_id: uuid.UUID, actor: Subject,
                 reason: str) -> RedemptionOut:
    """Undo a completed redemption: the coins spent come back, the coins earned go back (the
    ledger refuses if the user has spent them since), and the slot is free again."""
    row = await _locked_redemption(session, redemption_id)
    _may_resolve(actor, row, "refund")
    _expect(row, "completed")
    before = redemption_out(row)
    await _give_slot_back(session, row)
    key = f"{REFERENCE}:{row.id}:refund"
    for transfer_id in [*([row.spend_transfer_id] if row.spend_transfer_id else []),
                        *row.earn_transfer_ids]:
        await ledger.reverse(session, transfer_id, reason=reason,
                             idempotency_key=f"{key}:{transfer_id}")
    row.status, row.refunded_at, row.reason = "refunded", clock.now(), reason
    return await _resolved(session, row, actor, "refund", before)


async def expire_redemptions(session: AsyncSession, *, limit: int = 500) -> int:
    """Cancel pending redemptions past their deadline; returns how many."""
    rows = (await session.scalars(select(Redemption).where(
        Redemption.status == "pending", Redemption.expires_at <= clock.now())
        .order_by(Redemption.expires_at).limit(limit)
        .with_for_update(skip_locked=True))).all()
    for row in rows:
        await _cancel(session, row, None, "expired")
    return len(rows)


async def get_redemption(session: AsyncSession, redemption_id: uuid.UUID,
                         viewer: Subject) -> RedemptionOut:
    row = await session.get(Redemption, redemption_id)
    if row is None:
        raise errors.RedemptionNotFound()
    visible = (
        (viewer.kind == "user" and row.user_id == viewer.id)
        or (viewer.kind == "merchant_user" and merchants.merchant_of(viewer) == row.merchant_id)
        or (viewer.kind in ("admin", "service")
            and (viewer.can("offers.read") or viewer.can("redemptions.manage"))))
    if not visible:
        raise errors.RedemptionNotFound()
    return redemption_out(row)


async def list_redemptions(session: AsyncSession, *, user_id: uuid.UUID | None = None,
                           merchant_id: uuid.UUID | None = None,
                           offer_id: uuid.UUID | None = None, status: str | None = None,
                           code: str | None = None, cursor: str | None = None,
                           limit: int = 50) -> RedemptionPage:
    """Newest first, a keyset page at a time; `code` finds the one a user shows."""
    query = select(Redemption).order_by(Redemption.id.desc()).limit(limit)
    for column, value in ((Redemption.user_id, user_id), (Redemption.merchant_id, merchant_id),
                          (Redemption.offer_id, offer_id), (Redemption.status, status),
                          (Redemption.code, code.strip().upper() if code else None)):
        if value is not None:
            query = query.where(column == value)
    after = _cursor(cursor)
    if after is not None:
        query = query.where(Redemption.id < after)
    items = [redemption_out(r) for r in await session.scalars(query)]
    return RedemptionPage(items=items,
                          next_cursor=str(items[-1].id) if len(items) == limit else None)


__all__ = [
    "CACHE", "LEVEL_PROVIDER", "SEGMENT_PROVIDERS", "TAGS_PROVIDER", "active_offers",
    "autocomplete", "branded_asset", "cancel", "client_hash", "complete", "create_offer",
    "ensure_partitions", "expire_offers", "expire_redemptions", "get_click", "get_offer",
    "get_redemption", "headline", "list_offers", "list_redemptions", "merchant_scope",
    "offer_out", "partitions", "public_offer", "public_out", "record_click", "record_view",
    "redeem", "refund", "register_segment", "save", "saved_offers", "search", "share", "stats",
    "transition", "unsave", "update_offer", "validate", "validate_code",
]
