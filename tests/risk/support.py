"""Risk test support: rule settings stated per test, users and their devices, referrals,
withdrawals and redemptions built by hand, and reading what the risk domain kept."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity.models import Device, User
from gullak.kit import clock
from gullak.payouts.models import Withdrawal
from gullak.referrals.models import Referral
from gullak.risk import service
from gullak.risk.models import RiskBlock, RiskEvent
from gullak.settings import Settings

_serial = itertools.count(1)


def tune(monkeypatch: pytest.MonkeyPatch, **risk: Any) -> Settings:
    """The rules read these settings (GULLAK_RISK_* as given) for the rest of the test."""
    settings = Settings(env="test", **risk)
    monkeypatch.setattr(service, "get_settings", lambda: settings)
    return settings


async def make_user(session: AsyncSession, *, referred_by: uuid.UUID | None = None) -> uuid.UUID:
    n = next(_serial)
    user = User(phone=f"+9197{n:08d}", referral_code=f"RISK{uuid.uuid4().hex[:8].upper()}",
                referred_by_id=referred_by)
    session.add(user)
    await session.flush()
    return user.id


async def on_device(session: AsyncSession, device_id: str, *users: uuid.UUID) -> None:
    for user_id in users:
        session.add(Device(user_id=user_id, device_id=device_id, platform="android"))
    await session.flush()


async def referral(session: AsyncSession, referrer: uuid.UUID, referee: uuid.UUID,
                   device_id: str | None) -> None:
    now = clock.now()
    session.add(Referral(referrer_id=referrer, referee_id=referee, code="RISKCODE",
                         condition="first_order", status="pending", device_id=device_id,
                         created_at=now, updated_at=now))
    await session.flush()


async def withdrawal(session: AsyncSession, user_id: uuid.UUID, amount: int, *,
                     at: dt.datetime | None = None) -> uuid.UUID:
    n = next(_serial)
    row = Withdrawal(code=f"WD-RISK-{uuid.uuid4().hex[:12]}", owner_type="user",
                     owner_id=user_id, purpose="withdrawal", kind="gift_voucher",
                     source_account_id=uuid.uuid4(), asset_code="INR", amount=amount, fee=0,
                     tax=0, net=amount, status="paid", created_by=user_id,
                     created_by_kind="user", idempotency_key=f"risk-{n}",
                     request_hash="x", created_at=at or clock.now())
    session.add(row)
    await session.flush()
    return row.id


def withdrawal_requested(user_id: uuid.UUID, withdrawal_id: uuid.UUID,
                         amount: int) -> dict[str, Any]:
    return {"withdrawal_id": str(withdrawal_id), "owner_type": "user", "owner_id": str(user_id),
            "purpose": "withdrawal", "asset_code": "INR", "amount": amount}


def signed_in(user_id: uuid.UUID, device: str | None, city: str | None, *,
              new_device: bool = True) -> dict[str, Any]:
    return {"user_id": str(user_id), "device_id": device, "new_device": new_device,
            "ip": "203.0.113.7", "city": city}


async def events_of(session: AsyncSession, user_id: uuid.UUID) -> list[RiskEvent]:
    return list(await session.scalars(select(RiskEvent).where(RiskEvent.user_id == user_id)
                                      .order_by(RiskEvent.id)
                                      .execution_options(populate_existing=True)))


async def block_of(session: AsyncSession, user_id: uuid.UUID) -> RiskBlock | None:
    return await session.scalar(select(RiskBlock).where(RiskBlock.user_id == user_id)
                                .execution_options(populate_existing=True))
