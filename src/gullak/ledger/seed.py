"""Demo data: the seed apps' assets, their platform accounts, and a funded demo wallet."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.ledger import service
from gullak.ledger.schemas import AssetIn, AssetKind, PlatformPurpose, TransferIn
from gullak.seed import data_set

# A fixed id, so that the demo user of the identity domain owns these wallets.
DEMO_USER_ID = uuid.UUID("01900000-0000-7000-8000-00000000d3e0")

ASSETS = [
    AssetIn(code="REZ", name="ReZ coins", kind=AssetKind.coin, scale=0),
    AssetIn(code="PROMO", name="Promo coins", kind=AssetKind.coin, scale=0, expires=True,
            lifetime_days=90),
    AssetIn(code="PRIVE", name="Privé coins", kind=AssetKind.coin, scale=0),
    AssetIn(code="POINTS", name="Loyalty points", kind=AssetKind.points, scale=0),
    AssetIn(code="INR", name="Indian rupee", kind=AssetKind.cash, scale=2),
]
WELCOME = {"REZ": 500, "PROMO": 200, "INR": 10_000}


@data_set("ledger", f"Assets     {', '.join(a.code for a in ASSETS)}; demo wallet of user "
                   f"{DEMO_USER_ID}")
async def load(session: AsyncSession) -> None:
    for asset in ASSETS:
        await service.create_asset(session, asset)
        for purpose in PlatformPurpose:
            await service.platform_account(session, asset.code, purpose.value)
    for code, amount in WELCOME.items():
        wallet = await service.user_account(session, DEMO_USER_ID, code)
        issuance = await service.platform_account(session, code, "issuance")
        await service.transfer(session, TransferIn(
            debit_account_id=issuance.id, credit_account_id=wallet.id, asset_code=code,
            amount=amount, kind="earn", reference_type="welcome_bonus",
            reference_id=str(DEMO_USER_ID)))
