"""A user's wallet: balances per asset and admin adjustments, through the ledger."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity.common import get_user
from gullak.kit.errors import InvalidInput
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetOut, HoldingOut


async def wallet(session: AsyncSession, user_id: uuid.UUID) -> list[HoldingOut]:
    """Every asset a user can hold, with posted, held and available (zero where the user has
    no account yet), in one query."""
    return await ledger.holdings(session, "user", user_id)


async def assets(session: AsyncSession) -> list[AssetOut]:
    return await ledger.list_assets(session)


async def wallet_account(session: AsyncSession, user_id: uuid.UUID,
                         asset_code: str) -> uuid.UUID | None:
    """The user's account in an asset; None if the user never held it (an unknown asset is
    refused)."""
    await ledger.get_asset(session, asset_code)
    account = await ledger.find_account(session, "user", user_id, asset_code)
    return None if account is None else account.id


async def adjust_wallet(session: AsyncSession, user_id: uuid.UUID, asset_code: str, amount: int,
                        reason: str, idempotency_key: str) -> Any:
    """An admin's correction of a user's wallet: a ledger transfer with the platform's
    issuance account, in either direction, carrying the reason."""
    from gullak.ledger.schemas import TransferIn

    if amount == 0:
        raise InvalidInput("An adjustment moves something.", code="invalid_amount",
                           field="amount")
    await get_user(session, user_id)
    wallet_ = await ledger.user_account(session, user_id, asset_code)
    issuance = await ledger.platform_account(session, asset_code, "issuance")
    source, target = (issuance, wallet_) if amount > 0 else (wallet_, issuance)
    return await ledger.transfer(session, TransferIn(
        debit_account_id=source.id, credit_account_id=target.id, asset_code=asset_code,
        amount=abs(amount), kind="adjust", reference_type="user", reference_id=str(user_id),
        metadata={"reason": reason}), idempotency_key=idempotency_key)
