"""Issuing a card: a new code and PIN, the card's own ledger account, and the transfer that
funds it from an account that explains where the value came from."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.giftcards import common
from gullak.giftcards.common import FUNDING, INR, REFERENCE
from gullak.giftcards.models import GiftCard
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountIn, OwnerType, TransferIn


async def issue(session: AsyncSession, *, amount: int, expires_at: dt.datetime,
                funding_account_id: uuid.UUID, source: str, code: str | None = None,
                pin: str | None = None, batch_id: uuid.UUID | None = None,
                design_id: uuid.UUID | None = None, merchant_id: uuid.UUID | None = None,
                order_id: uuid.UUID | None = None, owner_id: uuid.UUID | None = None
                ) -> tuple[GiftCard, str, str]:
    """A new card holding `amount`, funded from `funding_account_id`; returns the card with
    its code and PIN in clear, for the one answer that shows them."""
    code = common.normalise(code) if code else common.new_code()
    pin = pin or common.new_pin()
    card_id, now = uuid7(), clock.now()
    card = GiftCard(
        id=card_id, code_hash=common.code_hash(code), code_sealed=common.seal_code(code),
        code_hint=common.hint(code), pin_hash=common.pin_hash(card_id, pin),
        pin_sealed=common.seal_pin(pin), account_id=await common.open_account(session, card_id),
        asset_code=INR, face_value=amount, status="active", source=source, batch_id=batch_id,
        design_id=design_id, merchant_id=merchant_id, order_id=order_id, owner_id=owner_id,
        expires_at=expires_at, failed_attempts=0, created_at=now, updated_at=now)
    session.add(card)
    await session.flush()
    await ledger.transfer(session, TransferIn(
        debit_account_id=funding_account_id, credit_account_id=card.account_id, asset_code=INR,
        amount=amount, kind="gift_card_issue", reference_type=REFERENCE,
        reference_id=str(card.id), metadata={"source": source}),
        idempotency_key=f"gift_card:{card.id}:issue")
    return card, code, pin


async def funding_account(session: AsyncSession) -> uuid.UUID:
    return (await ledger.platform_account(session, INR, FUNDING)).id


async def merchant_account(session: AsyncSession, merchant_id: uuid.UUID) -> uuid.UUID:
    return (await ledger.open_account(session, AccountIn(
        asset_code=INR, owner_type=OwnerType.merchant, owner_id=merchant_id))).id
