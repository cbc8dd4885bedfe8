"""Demo data: reward rules as RTMN and ReZ run them: 5 % promo coins on orders (expiring in 90
days, capped per month), a sign-up bonus, a first-order bonus, and Bombay Brew House's branded
coins funded by the merchant itself within a launch campaign."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.demo import DataSet
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountIn, OwnerType, TransferIn
from gullak.merchants import service as merchants
from gullak.offers import service as offers
from gullak.rewards import service
from gullak.rewards.schemas import CampaignIn, RuleIn

PLATFORM = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000000e2"),
                   frozenset({"rewards.manage"}))
BRANDED_MERCHANT = "Bombay Brew House"
BRANDED_FUNDS = 100_000  # branded coins the merchant bought to give away

RULES: list[dict[str, Any]] = [
    {"name": "5% promo coins on every order", "trigger": "order_completed", "kind": "percent",
     "value": 500, "asset_code": "PROMO", "lifetime_days": 90, "max_per_reward": 500,
     "caps": [{"period": "month", "amount": 2_000}]},
    {"name": "Sign-up bonus", "trigger": "sign_up", "kind": "fixed", "value": 100,
     "asset_code": "REZ"},
    {"name": "First order bonus", "trigger": "first_order", "kind": "fixed", "value": 200,
     "asset_code": "REZ"},
    {"name": "Gold and privé earn double", "trigger": "order_completed", "kind": "multiplier",
     "value": 20_000, "asset_code": "REZ", "conditions": {"tier_codes": ["gold", "prive"]},
     "caps": [{"period": "day", "count": 3}]},
]


async def _branded(session: AsyncSession, now: dt.datetime) -> None:
    live = (await merchants.list_merchants(session, status="live", limit=200)).items
    merchant = next((m for m in live if m.name == BRANDED_MERCHANT), None)
    if merchant is None:
        return
    code = await offers.branded_asset(session, merchant.id)
    account = await ledger.open_account(session, AccountIn(
        asset_code=code, owner_type=OwnerType.merchant, owner_id=merchant.id))
    issuance = await ledger.platform_account(session, code, "issuance")
    await ledger.transfer(session, TransferIn(
        debit_account_id=issuance.id, credit_account_id=account.id, asset_code=code,
        amount=BRANDED_FUNDS, kind="merchant_funding", reference_type="demo",
        reference_id="rewards"), idempotency_key=f"demo:rewards:{code}")
    campaign = await service.create_campaign(session, CampaignIn(
        name=f"{merchant.name} launch", asset_code=code, status="active",
        starts_at=now - dt.timedelta(days=1), ends_at=now + dt.timedelta(days=90),
        budget=50_000, per_user_limit=10), PLATFORM)
    await service.create_rule(session, RuleIn.model_validate({
        "name": f"{merchant.name}: 10 branded coins per ₹100", "trigger": "order_completed",
        "kind": "percent", "value": 1_000, "asset_code": code, "campaign_id": campaign.id,
        "conditions": {"merchant_ids": [str(merchant.id)], "min_amount": 10_000}}), PLATFORM)


async def load(session: AsyncSession) -> None:
    for body in RULES:
        await service.create_rule(session, RuleIn.model_validate(body), PLATFORM)
    await _branded(session, clock.now())


DATA_SETS = (DataSet(
    "rewards", load, needs=("ledger", "merchants", "offers"),
    notes=("Rewards    5% PROMO on orders, sign-up and first-order REZ bonuses, branded coins"
           " at Bombay Brew House: GET /v1/admin/rewards/rules",)),)
