"""Redeeming offers: a slot under the offer's limits and a ledger hold for the coins it costs,
completed at the counter, cancelled, refunded or expired.

Limits: `offers.redemptions_count` and `offer_user_redemptions.count` count the redemptions
that hold a slot (pending or completed). Redeeming takes a slot with one conditional UPDATE per
counter, whose row lock serialises redeemers of the same offer, so the limits hold exactly
under concurrency. A cancelled or refunded redemption gives its slot back: the user got
nothing from it, and the merchant's budget is for benefits actually given.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit, clock, events
from gullak.kit.errors import Forbidden
from gullak.kit.ids import request_digest, uuid7
from gullak.kit.security import Subject
from gullak.kit.sql import xact_lock
from gullak.ledger import service as ledger
from gullak.ledger.schemas import CaptureIn, HoldIn, TransferIn
from gullak.merchants import service as merchants
from gullak.offers import errors, lookup
from gullak.offers.common import UNIVERSAL_ASSET, as_json, parse_cursor
from gullak.offers.models import Redemption
from gullak.offers.schemas import CartIn, RedeemIn, RedemptionOut, RedemptionPage
from gullak.offers.validation import evaluate

PENDING_TTL = dt.timedelta(hours=24)  # a redemption not completed by then is cancelled
# The hold outlives its redemption, so that the expiry job, not the ledger, releases it.
HOLD_MARGIN = dt.timedelta(hours=1)
REFERENCE = "offer_redemption"
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the counter


def redemption_out(row: Redemption) -> RedemptionOut:
    return RedemptionOut.model_validate(row)


def _request_hash(offer_id: uuid.UUID, cart: CartIn) -> str:
    # A cart without an item price hashes as before carts had one: a redemption retried
    # across that change still matches its Idempotency-Key.
    unset = {"item_price"} if cart.item_price is None else set()
    return request_digest([str(offer_id), cart.model_dump(mode="json", exclude=unset)])


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
        await xact_lock(session, f"offers.redeem:{user_id}:{idempotency_key}")
        existing = await session.scalar(select(Redemption).where(
            Redemption.user_id == user_id, Redemption.idempotency_key == idempotency_key))
        if existing is not None:
            if existing.request_hash != digest:
                raise errors.IdempotencyKeyReused(field="Idempotency-Key")
            return redemption_out(existing), False
    offer = await lookup.public(session, offer_id)
    now = clock.now()
    ev = await evaluate(session, offer, user_id, cart, now)
    if ev.reasons:
        raise errors.NotRedeemable(reasons=ev.reasons)
    if (await session.execute(_TAKE_SLOT, {"id": offer.id})).first() is None:
        # Someone took the last slot (or changed the offer) since we looked: say why now.
        await session.refresh(offer)
        reasons = (await evaluate(session, offer, user_id, cart, now)).reasons
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
    # Risk may refuse it here (a blocked user, a burst of redemptions): all of it rolls back.
    await events.publish(session, "offer.redeemed", {
        "user_id": str(user_id), "offer_id": str(offer.id),
        "merchant_id": str(offer.merchant_id), "redemption_id": str(row.id)})
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
                           str(row.id), before=as_json(before), after=as_json(after))
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
    after = parse_cursor(cursor)
    if after is not None:
        query = query.where(Redemption.id < after)
    items = [redemption_out(r) for r in await session.scalars(query)]
    return RedemptionPage(items=items,
                          next_cursor=str(items[-1].id) if len(items) == limit else None)
