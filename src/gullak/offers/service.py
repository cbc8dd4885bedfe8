"""Offers commands and queries, the domain's public face: terms and the approval workflow
here; validation, redemption through the ledger, tracking and listings in their own modules,
re-exported here with the search contract. Services never commit; the caller's unit of work
does."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit, clock
from gullak.kit.browse import Browse, Page, page
from gullak.kit.errors import NotFound
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.errors import AssetExists
from gullak.ledger.schemas import AssetIn, AssetKind
from gullak.merchants import service as merchants
from gullak.offers import errors, lookup, rules
from gullak.offers.common import UNIVERSAL_ASSET, as_json, merchant_scope, parse_cursor
from gullak.offers.listing import CACHE, SEARCH_TERMS, active_offers, autocomplete, headline, search
from gullak.offers.lookup import offer_out, public_out
from gullak.offers.models import LIVE_STATUSES, Offer
from gullak.offers.redemptions import (
    PENDING_TTL,
    cancel,
    complete,
    expire_redemptions,
    get_redemption,
    list_redemptions,
    redeem,
    redemption_out,
    refund,
)
from gullak.offers.schemas import (
    REQUIRED_FIELDS,
    AdminOfferIn,
    AdminOfferPatch,
    OfferIn,
    OfferOut,
    OfferPage,
    OfferPatch,
    PublicOfferOut,
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
from gullak.offers.validation import (
    SEGMENT_PROVIDERS,
    register_level,
    register_segment,
    register_tags,
    validate,
    validate_code,
)
from gullak.system import service as system


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
    code = branded_code(merchant_id)
    try:
        await ledger.get_asset(session, code)
    except NotFound:
        merchant = await merchants.get_merchant(session, merchant_id)
        try:
            await ledger.create_asset(session, AssetIn(
                code=code, name=f"{merchant.name} coins"[:100], kind=AssetKind.coin, scale=0,
                merchant_id=merchant_id))
        except AssetExists:  # created by a request running beside this one
            pass
    return code


def branded_code(merchant_id: uuid.UUID) -> str:
    """The code the merchant's branded coins have, or will have once created."""
    return f"BR_{merchant_id.hex[-12:].upper()}"


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
                       after=as_json(after))
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
                       before=as_json(before), after=as_json(after))
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
                       before=as_json(before), after=as_json(after))
    if action == "approve":
        from gullak.kit import events

        await events.publish(session, "offer.approved", {
            "offer_id": str(offer.id), "merchant_id": str(offer.merchant_id)})
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


async def list_offers(session: AsyncSession, *, merchant_id: uuid.UUID | None = None,
                      status: str | None = None, cursor: str | None = None,
                      limit: int = 50) -> OfferPage:
    """Newest first, a keyset page at a time."""
    query = select(Offer).order_by(Offer.id.desc()).limit(limit)
    if merchant_id is not None:
        query = query.where(Offer.merchant_id == merchant_id)
    if status is not None:
        query = query.where(Offer.status == status)
    after = parse_cursor(cursor)
    if after is not None:
        query = query.where(Offer.id < after)
    items = [offer_out(o) for o in await session.scalars(query)]
    return OfferPage(items=items, next_cursor=str(items[-1].id) if len(items) == limit else None)


async def public_offer(session: AsyncSession, offer_id: uuid.UUID) -> PublicOfferOut:
    """An offer as users see it: drafts, offers under review and rejected ones are not found."""
    return public_out(await lookup.public(session, offer_id))


__all__ = [
    "CACHE", "PENDING_TTL", "SEARCH_TERMS", "SEGMENT_PROVIDERS", "TRANSITIONS", "UNIVERSAL_ASSET",
    "active_offers", "autocomplete", "branded_asset", "cancel", "client_hash", "complete",
    "create_offer", "ensure_partitions", "expire_offers", "expire_redemptions", "get_click",
    "get_offer", "get_redemption", "headline", "list_offers", "list_redemptions",
    "merchant_scope", "offer_out", "partitions", "public_offer", "public_out", "record_click",
    "record_view", "redeem", "redemption_out", "refund", "register_level", "register_segment",
    "register_tags", "save", "saved_offers", "search", "share", "stats", "transition", "unsave",
    "update_offer", "validate", "validate_code",
]


async def redemptions_since(session: AsyncSession, user_id: uuid.UUID, since: Any, *,
                            cap: int = 1_000) -> int:
    """How many redemptions the user made at or after `since` (at most `cap` counted): the
    risk domain's velocity of redemptions."""
    from gullak.offers.models import Redemption

    recent = (select(Redemption.id).where(Redemption.user_id == user_id,
                                          Redemption.created_at >= since).limit(cap).subquery())
    return int(await session.scalar(select(func.count()).select_from(recent)) or 0)


async def browse_offers(session: AsyncSession, browse: Browse, *, status: str | None = None,
                        merchant_id: uuid.UUID | None = None, type: str | None = None,
                        q: str | None = None) -> Page:
    """Offers of every status for the console's table (kit.browse: sort by title, valid_until,
    redemptions_count or created_at); rows are OfferOut."""
    query = select(Offer)
    if status is not None:
        query = query.where(Offer.status == status)
    if merchant_id is not None:
        query = query.where(Offer.merchant_id == merchant_id)
    if type is not None:
        query = query.where(Offer.type == type)
    if q:
        query = query.where(Offer.title.icontains(q, autoescape=True))
    found = await page(session, query, browse, Offer.id, {
        "title": Offer.title, "valid_until": Offer.valid_until,
        "redemptions_count": Offer.redemptions_count, "created_at": Offer.created_at})
    return Page([offer_out(o) for o in found.rows], found.next_cursor)


async def count_offers(session: AsyncSession, status: str = "pending") -> int:
    """How many offers are in `status` (the console counts those awaiting review)."""
    found = await session.scalar(select(func.count()).select_from(Offer).where(
        Offer.status == status))
    return int(found or 0)
