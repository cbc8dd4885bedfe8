"""Demo data: the seed apps' assets and their platform accounts."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.demo import DataSet
from gullak.ledger import service
from gullak.ledger.schemas import AssetIn, AssetKind, PlatformPurpose

ASSETS = [
    AssetIn(code="REZ", name="ReZ coins", kind=AssetKind.coin, scale=0),
    AssetIn(code="PROMO", name="Promo coins", kind=AssetKind.coin, scale=0, expires=True,
            lifetime_days=90),
    AssetIn(code="PRIVE", name="Privé coins", kind=AssetKind.coin, scale=0),
    AssetIn(code="POINTS", name="Loyalty points", kind=AssetKind.points, scale=0),
    AssetIn(code="INR", name="Indian rupee", kind=AssetKind.cash, scale=2),
]


async def load(session: AsyncSession) -> None:
    for asset in ASSETS:
        await service.create_asset(session, asset)
        for purpose in PlatformPurpose:
            await service.platform_account(session, asset.code, purpose.value)


DATA_SETS = (DataSet("ledger", load,
                     notes=(f"Assets     {', '.join(a.code for a in ASSETS)}",)),)
