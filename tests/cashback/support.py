"""Cashback test tools: a merchant with a cashback offer and a click on it, networks made
through the service, postbacks signed either way, and the balances cashback moves."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.cashback import service
from gullak.cashback.schemas import NetworkIn
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountIn, OwnerType
from gullak.offers import service as offers
from tests.helpers.offers import live_merchant, make_offer

TOKEN = "t0ken-for-tests-0123456789"
KEY = "hmac-key-for-tests-0123456789"
STATUS_MAP = {"approved": "confirmed", "declined": "rejected", "open": "pending"}


@dataclass
class Shop:
    merchant_id: uuid.UUID
    offer_id: uuid.UUID  # 10 % cashback, at most ₹200


async def shop(session: AsyncSession) -> Shop:
    merchant_id, _ = await live_merchant(session, website="https://shop.example")
    offer = await make_offer(session, merchant_id, type="cashback", title="Ten percent back",
                             cashback_kind="percent", cashback_value=1000, max_cashback=20_000,
                             discount_kind=None, discount_value=None)
    return Shop(merchant_id, offer.id)


async def click(session: AsyncSession, offer_id: uuid.UUID, user_id: uuid.UUID) -> uuid.UUID:
    found = await offers.record_click(session, offer_id, user_id)
    return found.click_id


async def network(session: AsyncSession, code: str = "adnet", mode: str = "token",
                  **extra: Any) -> str:
    await service.create_network(session, NetworkIn(
        code=code, name=code.title(), auth_mode=mode,  # type: ignore[arg-type]
        secret=TOKEN if mode == "token" else KEY, status_map=STATUS_MAP, **extra), None)
    return code


async def post(client: httpx.AsyncClient, code: str, body: dict[str, Any], *,
               token: str | None = TOKEN) -> httpx.Response:
    params = {"token": token} if token is not None else {}
    return await client.post(f"/v1/cashback/postbacks/{code}", params=params, json=body)


async def signed(client: httpx.AsyncClient, code: str, body: dict[str, Any], *,
                 key: str | None = KEY, header: str = "X-Signature") -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if key is not None:
        headers[header] = service.signature(key, raw)
    return await client.post(f"/v1/cashback/postbacks/{code}", content=raw, headers=headers)


async def balances(session: AsyncSession, user_id: uuid.UUID) -> tuple[int, int]:
    """(pending, main) INR of the user, posted, as the ledger has them."""
    pending = await ledger.open_account(session, AccountIn(
        asset_code="INR", owner_type=OwnerType.user, owner_id=user_id, purpose="pending"))
    main = await ledger.user_account(session, user_id, "INR")
    return ((await ledger.balance(session, pending.id)).posted,
            (await ledger.balance(session, main.id)).posted)


async def receivable(session: AsyncSession) -> int:
    account = await ledger.platform_account(session, "INR", "cashback_receivable")
    return (await ledger.balance(session, account.id)).posted
