"""Offers test tools: live merchants with outlets, the universal coin asset, funded wallets,
offers in any status, and headers standing for subjects of any kind."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetIn, AssetKind, TransferIn
from gullak.merchants import service as merchants
from gullak.merchants.schemas import OutletIn
from gullak.offers import service
from gullak.offers.schemas import AdminOfferIn, OfferIn, OfferOut
from tests.helpers import merchants as merchant_factory
from tests.helpers.admins import serial

COIN = service.UNIVERSAL_ASSET
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
OWNER_PERMISSIONS = ("merchant.read", "merchant.offers.manage", "merchant.redemptions.manage",
                     "merchant.orders.read", "merchant.orders.fulfil", "merchant.orders.refund")


@dataclass
class Actors:
    """Headers for subjects of any kind: `Test <key>` stands for the subject under that key
    (real bearer tokens still work)."""

    subjects: dict[str, Subject] = field(default_factory=dict)

    def headers(self, subject: Subject) -> dict[str, str]:
        key = uuid.uuid4().hex
        self.subjects[key] = subject
        return {"authorization": f"Test {key}"}

    def admin(self, *permissions: str) -> dict[str, str]:
        return self.headers(Subject("admin", uuid7(), frozenset(permissions or {"*"})))

    def merchant(self, merchant_id: uuid.UUID, *permissions: str) -> dict[str, str]:
        perms = frozenset({f"merchant:{merchant_id}", *(permissions or OWNER_PERMISSIONS)})
        return self.headers(Subject("merchant_user", uuid7(), perms))

    def user(self, user_id: uuid.UUID) -> dict[str, str]:
        return self.headers(Subject("user", user_id))


async def offers_state(connection: AsyncConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Everything an offers request could change, the ledger's side included."""
    queries = {
        "offers": "SELECT o::text FROM offers o ORDER BY id",
        "redemptions": "SELECT r::text FROM offer_redemptions r ORDER BY id",
        "user_counts": "SELECT u::text FROM offer_user_redemptions u ORDER BY 1",
        "saves": "SELECT s::text FROM offer_saves s ORDER BY 1",
        "shares": "SELECT s::text FROM offer_shares s ORDER BY 1",
        "views": "SELECT v::text FROM offer_views v ORDER BY 1",
        "clicks": "SELECT c::text FROM offer_clicks c ORDER BY 1",
        "assets": "SELECT code FROM ledger_assets ORDER BY 1",
        "accounts": "SELECT id FROM ledger_accounts ORDER BY 1",
        "balances": "SELECT account_id, shard, balance, held FROM ledger_balances ORDER BY 1, 2",
        "transfers": "SELECT id FROM ledger_transfers ORDER BY seq",
        "holds": "SELECT id, status FROM ledger_holds ORDER BY 1",
        "audit": "SELECT count(*) FROM audit_log",
    }
    return {k: [tuple(r) for r in await connection.execute(text(q))]
            for k, q in queries.items()}


async def live_merchant(session: AsyncSession, name: str | None = None, *,
                        outlets: int = 1, timezone: str = "Asia/Kolkata",
                        city: str = "Mumbai", **extra: Any) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A merchant taken live through its onboarding, with `outlets` outlets in `city`."""
    merchant = await merchant_factory.live_merchant(
        session, name or f"Offer Test Merchant {serial()}", city=city, **extra)
    outlet_ids = []
    for i in range(outlets):
        outlet = await merchants.add_outlet(session, merchant.id, OutletIn(
            name=f"Outlet {i}", address=f"{i} Test Road", city=city, latitude=19.05 + i / 100,
            longitude=72.83, timezone=timezone), None)
        outlet_ids.append(outlet.id)
    return merchant.id, outlet_ids


async def make_coins(session: AsyncSession) -> None:
    await ledger.create_asset(session, AssetIn(code=COIN, name="Coins", kind=AssetKind.coin,
                                               scale=0))


async def fund(session: AsyncSession, user_id: uuid.UUID, amount: int) -> None:
    issuance = await ledger.platform_account(session, COIN, "issuance")
    wallet = await ledger.user_account(session, user_id, COIN)
    await ledger.transfer(session, TransferIn(
        debit_account_id=issuance.id, credit_account_id=wallet.id, asset_code=COIN,
        amount=amount, kind="earn", reference_type="test", reference_id=str(user_id)))


async def coins(session: AsyncSession, user_id: uuid.UUID, asset: str = COIN) -> tuple[int, int]:
    """(posted, held) of the user's wallet in `asset`."""
    wallet = await ledger.user_account(session, user_id, asset)
    balance = await ledger.balance(session, wallet.id)
    return balance.posted, balance.held


def terms(**overrides: Any) -> dict[str, Any]:
    """Terms of a plain 10 %-off offer valid from an hour ago for a month, as JSON."""
    now = clock.now()
    body: dict[str, Any] = {
        "type": "discount_percent", "title": "Ten percent off pizzas",
        "discount_kind": "percent", "discount_value": 1000,
        "valid_from": (now - HOUR).isoformat(), "valid_until": (now + 30 * DAY).isoformat(),
    }
    body.update(overrides)
    return body


async def make_offer(session: AsyncSession, merchant_id: uuid.UUID, *,
                     status: str = "active", **overrides: Any) -> OfferOut:
    """An offer of `merchant_id` taken to `status` through the workflow."""
    promotion = {k: overrides.pop(k) for k in ("is_featured", "boosted_until",
                                               "display_priority") if k in overrides}
    data: OfferIn = (AdminOfferIn(merchant_id=merchant_id, **terms(**overrides), **promotion)
                     if promotion else OfferIn(**terms(**overrides)))
    offer = await service.create_offer(session, merchant_id, data, None)
    steps = {"draft": [], "pending": ["submit"], "active": ["submit", "approve"],
             "rejected": ["submit", "reject"], "paused": ["submit", "approve", "pause"]}
    for action in steps[status]:
        offer = await service.transition(session, offer.id, action, None,
                                         reason="not good" if action == "reject" else None)
    return offer


@dataclass
class Shop:
    merchant_id: uuid.UUID
    outlet_ids: list[uuid.UUID]
