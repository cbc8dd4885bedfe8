"""A small ledger to test against."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.ledger import service
from gullak.ledger.schemas import AccountOut, AssetIn, TransferIn
from gullak.ledger.verify import verify_database


@dataclass
class Book:
    """COIN (no expiry), PROMO (expires in 90 days) and INR, with their issuance accounts."""

    session: AsyncSession
    issuance: AccountOut
    promo_issuance: AccountOut

    async def user(self, asset: str = "COIN") -> AccountOut:
        return await service.user_account(self.session, uuid.uuid4(), asset)

    async def fund(self, account: AccountOut, amount: int, **kw: object) -> None:
        source = self.promo_issuance if account.asset_code == "PROMO" else self.issuance
        await service.transfer(self.session, TransferIn(
            debit_account_id=source.id, credit_account_id=account.id,
            asset_code=account.asset_code, amount=amount, kind="earn", **kw))  # type: ignore[arg-type]

    async def available(self, account: AccountOut) -> int:
        return (await service.balance(self.session, account.id)).available


async def make_book(session: AsyncSession) -> Book:
    await service.create_asset(session, AssetIn(code="COIN", name="Coins", kind="coin", scale=0))
    await service.create_asset(session, AssetIn(code="PROMO", name="Promo coins", kind="coin",
                                                scale=0, expires=True, lifetime_days=90))
    await service.create_asset(session, AssetIn(code="INR", name="Rupees", kind="cash", scale=2))
    return Book(session, await service.platform_account(session, "COIN", "issuance"),
                await service.platform_account(session, "PROMO", "issuance"))


async def verified(url: str) -> bool:
    """Whether `gullak ledger verify` passes on the database at `url`."""
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        return (await verify_database(db)).ok
    finally:
        await db.dispose()
