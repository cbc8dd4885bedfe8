"""Gift cards test tools: cards issued straight through the service, and the balances of the
accounts a card's value moves between."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.giftcards import service
from gullak.giftcards.models import GiftCard
from gullak.kit import clock
from gullak.ledger import service as ledger


async def issue(session: AsyncSession, amount: int, *, merchant_id: uuid.UUID | None = None,
                days: int = 30) -> tuple[GiftCard, str, str]:
    """A platform card of `amount` paise: (card, code, PIN)."""
    return await service.issue(
        session, amount=amount, expires_at=clock.now() + dt.timedelta(days=days),
        funding_account_id=await service.funding_account(session), source="admin",
        merchant_id=merchant_id)


async def card_balance(session: AsyncSession, card_id: uuid.UUID) -> tuple[int, int]:
    """(posted, held) of the card's ledger account."""
    card = await session.get(GiftCard, card_id, populate_existing=True)
    assert card is not None
    b = await ledger.balance(session, card.account_id)
    return b.posted, b.held


async def card_row(connection: AsyncConnection, card_id: uuid.UUID | str) -> dict[str, object]:
    row = (await connection.execute(text(
        "SELECT status, failed_attempts, locked_until, owner_id FROM gift_cards WHERE id = :i"),
        {"i": card_id})).one()
    return dict(row._mapping)
