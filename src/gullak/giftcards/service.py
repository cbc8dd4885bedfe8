"""Gift cards commands and queries: issuing, the balance check, claiming into the wallet,
voiding, the expiry sweep, reading; and what the orders domain asks of a card it takes as a
tender. Bulk issues are in batches.py, vouchers in vouchers.py, both re-exported here.
Services never commit; the caller's unit of work does.

Every movement of a card's value is a ledger transfer with reference ('gift_card', card id)
and an idempotency key derived from the card: issued from the merchant that sold it or the
platform's gift card funding account, claimed to the user's INR wallet, expired or voided to
breakage (or back to where it came from). Orders hold and capture on the card's account.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import service as catalog
from gullak.db.engine import driver_rows
from gullak.giftcards import common, errors
from gullak.giftcards.batches import import_batch
from gullak.giftcards.common import BREAKAGE, INR, REFERENCE, Rules
from gullak.giftcards.issuing import funding_account, issue, merchant_account
from gullak.giftcards.models import GiftCard, GiftCardDesign
from gullak.giftcards.schemas import (
    CardStatus,
    CheckOut,
    ClaimOut,
    DesignIn,
    DesignOut,
    GiftCardOut,
    GiftCardPage,
    MyGiftCardPage,
)
from gullak.giftcards.vouchers import create_voucher, list_vouchers, redeem_voucher
from gullak.kit import audit, clock
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as BrowsePage
from gullak.kit.browse import page as browse_page
from gullak.kit.errors import NotFound
from gullak.kit.security import Subject
from gullak.kit.sql import keyset_page
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.system import service as system

__all__ = ["Tender", "authorise", "check", "claim", "code_digest", "create_design",
           "create_voucher", "expire_cards", "funding_account", "get_card", "import_batch", "issue",
           "issue_for_order", "list_cards", "list_designs", "list_vouchers", "my_cards",
           "order_cards", "redeem_voucher", "refund_account", "verify", "void",
           "void_for_order"]


# -- issuing ---------------------------------------------------------------------------------

# The designs of an order's products, read on the driver: nearly every paid order sells no
# gift card, and the ORM's query cost each about a millisecond of client CPU to learn it.
_DESIGNS = """
SELECT product_id, id, face_value, validity_days FROM gift_card_designs
WHERE product_id = ANY(%s) AND merchant_id = %s AND active
"""


async def issue_for_order(session: AsyncSession, order_id: uuid.UUID, user_id: uuid.UUID,
                          merchant_id: uuid.UUID,
                          items: Sequence[tuple[uuid.UUID, int]]) -> list[uuid.UUID]:
    """One card per unit of each gift card product (product id, quantity) of a paid order,
    to its buyer, funded from the merchant's INR account, which the order has just paid."""
    ids = list({product_id for product_id, _ in items})
    designs = {product_id: (design_id, face_value, days) for product_id, design_id, face_value,
               days in await driver_rows(session, _DESIGNS, (ids, merchant_id))} if ids else {}
    issued: list[uuid.UUID] = []
    if not designs:
        return issued
    funding = await merchant_account(session, merchant_id)
    for product_id, quantity in items:
        if product_id not in designs:
            continue
        design_id, face_value, days = designs[product_id]
        for _ in range(quantity):
            card, _, _ = await issue(
                session, amount=face_value, funding_account_id=funding, source="order",
                expires_at=clock.now() + dt.timedelta(days=days), design_id=design_id,
                merchant_id=merchant_id, order_id=order_id, owner_id=user_id)
            issued.append(card.id)
    return issued


# -- checking ---------------------------------------------------------------------------------

async def verify(session: AsyncSession, code: str, pin: str, rules: Rules) -> GiftCard:
    """The card of this code and PIN, locked. A wrong PIN counts (the refusal keeps it); the
    attempt that reaches the limit locks the card, and a locked card refuses even the right
    PIN until the lock ends."""
    card = await common.by_code(session, code)
    if card is None:
        raise errors.InvalidGiftCard(field="code")
    now = clock.now()
    if card.locked_until is not None and card.locked_until > now:
        raise errors.GiftCardLocked(field="pin", retry_after=int(
            (card.locked_until - now).total_seconds()) + 1)
    if not common.pin_matches(card, pin):
        card.failed_attempts += 1
        locks = card.failed_attempts >= rules.pin_attempts
        if locks:
            card.failed_attempts, card.locked_until = 0, now + rules.lock
        await session.flush()
        if locks:
            raise errors.GiftCardLocked(field="pin",
                                        retry_after=int(rules.lock.total_seconds()))
        raise errors.InvalidGiftCard(field="pin")
    if card.failed_attempts:
        card.failed_attempts = 0
    return card


async def check(session: AsyncSession, code: str, pin: str, client_ip: str | None) -> CheckOut:
    """The balance check: rate limited per client address, and the card's own PIN lock."""
    r = common.rules()
    await system.hit(session, f"gift-card-check:{client_ip or 'unknown'}",
                     limit=r.checks_per_hour, window=dt.timedelta(hours=1))
    card = await verify(session, code, pin, r)
    b = await common.balance(session, card)
    return CheckOut(code=card.code_hint, status=CardStatus(card.status),
                    balance=b.available if card.status == "active" else 0, asset_code=INR,
                    expires_at=card.expires_at)


def _usable(card: GiftCard, merchant_id: uuid.UUID | None = None) -> None:
    reason = None
    if card.status != "active":
        reason = card.status
    elif card.expires_at <= clock.now():
        reason = "expired"
    elif merchant_id is not None and card.merchant_id not in (None, merchant_id):
        reason = "wrong_merchant"
    if reason is not None:
        raise errors.GiftCardUnusable(f"The gift card cannot be used ({reason}).",
                                      field="code", reason=reason)


# -- claiming, voiding, expiring --------------------------------------------------------------

async def claim(session: AsyncSession, user_id: uuid.UUID, code: str, pin: str) -> ClaimOut:
    """The whole balance to the user's INR wallet, once: the card is then claimed and empty."""
    r = common.rules()
    await system.hit(session, f"gift-card-claim:{user_id}", limit=r.claims_per_hour,
                     window=dt.timedelta(hours=1))
    card = await verify(session, code, pin, r)
    _usable(card)
    b = await common.balance(session, card)
    if b.held:
        raise errors.GiftCardInUse(field="code")
    if b.posted <= 0:
        raise errors.GiftCardUnusable("The gift card is empty.", field="code", reason="empty")
    wallet = await ledger.user_account(session, user_id, INR)
    moved = await ledger.transfer(session, TransferIn(
        debit_account_id=card.account_id, credit_account_id=wallet.id, asset_code=INR,
        amount=b.posted, kind="gift_card_claim", reference_type=REFERENCE,
        reference_id=str(card.id), metadata={"user_id": str(user_id)}),
        idempotency_key=f"gift_card:{card.id}:claim")
    now = clock.now()
    card.status, card.owner_id, card.claimed_at = "claimed", user_id, now
    card.closed_at, card.closed_reason = now, "claimed"
    return ClaimOut(card=await common.my_out(session, card), amount=b.posted,
                    transfer_id=moved.id)


async def _empty(session: AsyncSession, card: GiftCard, to_account: uuid.UUID, kind: str,
                 key: str) -> int:
    b = await common.balance(session, card)
    if b.posted > 0:
        await ledger.transfer(session, TransferIn(
            debit_account_id=card.account_id, credit_account_id=to_account, asset_code=INR,
            amount=b.posted, kind=kind, reference_type=REFERENCE, reference_id=str(card.id)),
            idempotency_key=key)
    return b.posted


async def void(session: AsyncSession, card_id: uuid.UUID, actor: Subject, reason: str,
               to: str = "breakage") -> GiftCardOut:
    """Close an active card; what is left goes to breakage or back to where it came from."""
    card = await common.locked(session, card_id)
    if card.status != "active":
        raise errors.GiftCardUnusable(f"The gift card is {card.status}.", reason=card.status)
    if (await common.balance(session, card)).held:
        raise errors.GiftCardInUse()
    if to == "funding":
        target = await (merchant_account(session, card.merchant_id)
                        if card.source == "order" and card.merchant_id
                        else funding_account(session))
    else:
        target = (await ledger.platform_account(session, INR, BREAKAGE)).id
    left = await _empty(session, card, target, "gift_card_void", f"gift_card:{card.id}:void")
    card.status, card.closed_at, card.closed_reason = "void", clock.now(), reason
    await audit.record(session, actor, "gift_card.void", "gift_card", str(card.id),
                       before={"status": "active", "balance": left},
                       after={"status": "void", "to": to, "reason": reason})
    return await common.admin_out(session, card)


async def expire_cards(session: AsyncSession, *, limit: int = 100) -> int:
    """Cards past their date: what is left goes to breakage. A card with a part held by an
    order waits until the order lets go of it. Returns how many expired."""
    ids = (await session.scalars(select(GiftCard.id).where(
        GiftCard.status == "active", GiftCard.expires_at <= clock.now())
        .order_by(GiftCard.expires_at).limit(limit).with_for_update(skip_locked=True))).all()
    breakage = (await ledger.platform_account(session, INR, BREAKAGE)).id if ids else None
    done = 0
    for card_id in ids:
        card = await common.locked(session, card_id)
        if (await common.balance(session, card)).held:
            continue
        assert breakage is not None
        await _empty(session, card, breakage, "gift_card_expiry", f"gift_card:{card.id}:expire")
        card.status, card.closed_at, card.closed_reason = "expired", clock.now(), "expired"
        done += 1
    return done


# -- as an order's tender ---------------------------------------------------------------------

def code_digest(code: str) -> str:
    """The keyed hash a code is known by, for requests that must be compared without it."""
    return common.code_hash(code)


@dataclass(frozen=True)
class Tender:
    card_id: uuid.UUID
    account_id: uuid.UUID
    available: int  # INR paise


async def authorise(session: AsyncSession, code: str, pin: str,
                    merchant_id: uuid.UUID) -> Tender:
    """A card an order may hold: the right PIN, active, in date, for this merchant. Its row
    stays locked for the order's unit, so concurrent orders on one card take turns."""
    card = await verify(session, code, pin, common.rules())
    _usable(card, merchant_id)
    return Tender(card.id, card.account_id, (await common.balance(session, card)).available)


async def refund_account(session: AsyncSession, card_id: uuid.UUID,
                         user_id: uuid.UUID) -> uuid.UUID:
    """Where an order's refund of a card's part goes: back onto the card while it is active
    and in date, else (claimed, expired, voided) to the user's INR wallet."""
    card = await common.locked(session, card_id)
    if card.status == "active" and card.expires_at > clock.now():
        return card.account_id
    return (await ledger.user_account(session, user_id, INR)).id


async def void_for_order(session: AsyncSession, order_id: uuid.UUID, reason: str) -> int:
    """A cancelled order's cards that nobody has touched go back to the merchant; returns
    how many. A card already spent or claimed stays as it is."""
    cards = list(await session.scalars(select(GiftCard).where(
        GiftCard.order_id == order_id, GiftCard.status == "active").order_by(GiftCard.id)
        .with_for_update()))
    done = 0
    for card in cards:
        b = await common.balance(session, card)
        if b.held or b.posted != card.face_value or card.merchant_id is None:
            continue
        await _empty(session, card, await merchant_account(session, card.merchant_id),
                     "gift_card_void", f"gift_card:{card.id}:void")
        card.status, card.closed_at, card.closed_reason = "void", clock.now(), reason
        done += 1
    return done


# -- reading ----------------------------------------------------------------------------------


async def _page(session: AsyncSession, filters: list[ColumnElement[bool]], cursor: str | None,
                limit: int) -> tuple[list[GiftCard], str | None]:
    return await keyset_page(session, select(GiftCard).where(*filters), GiftCard.id, cursor,
                             limit)


async def my_cards(session: AsyncSession, user_id: uuid.UUID, cursor: str | None = None,
                   limit: int = 20) -> MyGiftCardPage:
    rows, next_cursor = await _page(session, [GiftCard.owner_id == user_id], cursor, limit)
    return MyGiftCardPage(items=[await common.my_out(session, c) for c in rows],
                          next_cursor=next_cursor)


async def list_cards(session: AsyncSession, *, status: str | None = None,
                     batch_id: uuid.UUID | None = None, owner_id: uuid.UUID | None = None,
                     order_id: uuid.UUID | None = None, cursor: str | None = None,
                     limit: int = 20) -> GiftCardPage:
    filters: list[ColumnElement[bool]] = []
    for column, value in ((GiftCard.status, status), (GiftCard.batch_id, batch_id),
                          (GiftCard.owner_id, owner_id), (GiftCard.order_id, order_id)):
        if value is not None:
            filters.append(column == value)
    rows, next_cursor = await _page(session, filters, cursor, limit)
    return GiftCardPage(items=[await common.admin_out(session, c) for c in rows],
                        next_cursor=next_cursor)


async def get_card(session: AsyncSession, card_id: uuid.UUID) -> GiftCardOut:
    card = await session.get(GiftCard, card_id)
    if card is None:
        raise errors.GiftCardNotFound()
    return await common.admin_out(session, card)


async def order_cards(session: AsyncSession, order_id: uuid.UUID) -> list[uuid.UUID]:
    return list(await session.scalars(select(GiftCard.id).where(
        GiftCard.order_id == order_id).order_by(GiftCard.id)))


# -- designs ----------------------------------------------------------------------------------

async def create_design(session: AsyncSession, data: DesignIn, actor: Subject) -> DesignOut:
    """Sell a catalog product (priced in INR) as a gift card of `face_value`."""
    try:
        product = await catalog.get_product(session, data.product_id)
    except NotFound as exc:
        raise errors.InvalidDesign("No such product.", field="product_id") from exc
    if product.asset_code != INR:
        raise errors.InvalidDesign("A gift card is sold in INR.", field="product_id")
    if await session.scalar(select(GiftCardDesign.id).where(
            GiftCardDesign.product_id == data.product_id)) is not None:
        raise errors.InvalidDesign("This product is a gift card already.", field="product_id",
                                   code="gift_card_design_exists")
    now = clock.now()
    design = GiftCardDesign(product_id=product.id, merchant_id=product.merchant_id,
                            name=product.name, face_value=data.face_value,
                            validity_days=data.validity_days, active=True, created_at=now,
                            updated_at=now)
    session.add(design)
    await session.flush()
    await audit.record(session, actor, "gift_card_design.create", "gift_card_design",
                       str(design.id), after=data.model_dump(mode="json"))
    return DesignOut.model_validate(design)


async def list_designs(session: AsyncSession) -> list[DesignOut]:
    rows = await session.scalars(select(GiftCardDesign).order_by(GiftCardDesign.id.desc()))
    return [DesignOut.model_validate(d) for d in rows]




async def browse_cards(session: AsyncSession, browse: Browse, *, status: str | None = None,
                       batch_id: uuid.UUID | None = None, owner_id: uuid.UUID | None = None,
                       order_id: uuid.UUID | None = None) -> BrowsePage:
    """Cards for the console's table (rows: GiftCardOut, never a code in clear), by id
    (time-ordered) or by expiry (`expires`)."""
    query = select(GiftCard)
    for column, value in ((GiftCard.status, status), (GiftCard.batch_id, batch_id),
                          (GiftCard.owner_id, owner_id), (GiftCard.order_id, order_id)):
        if value is not None:
            query = query.where(column == value)
    found = await browse_page(session, query, browse, GiftCard.id,
                              {"expires": GiftCard.expires_at})
    return BrowsePage([await common.admin_out(session, c) for c in found.rows],
                      found.next_cursor)
