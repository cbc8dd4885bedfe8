"""Referrals test tools: users signed up through the real OTP flow with a referral code and a
device, the events that qualify a referral (told straight to this domain's handlers, as the
orders and payments domains publish them), and referral rows read back."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit.events import Event
from gullak.referrals import service
from tests.helpers.users import SignedIn, sign_in


async def sign_up(client: httpx.AsyncClient, connection: AsyncConnection,
                  code: str | None = None, device: str | None = None,
                  phone: str | None = None) -> SignedIn:
    extra: dict[str, Any] = {"device": {"device_id": device}} if device else {}
    if code is not None:
        extra["referral_code"] = code
    return await sign_in(client, connection, phone, **extra)


def user_id(signed: SignedIn) -> uuid.UUID:
    return uuid.UUID(signed.user["id"])


async def order_completed(session: AsyncSession, user: uuid.UUID, total: int = 20_000,
                          order_id: uuid.UUID | None = None, kind: str = "purchase") -> None:
    await service.order_status_changed(session, Event("order.status_changed", {
        "order_id": str(order_id or uuid.uuid4()), "user_id": str(user),
        "merchant_id": str(uuid.uuid4()), "kind": kind, "total": total, "refunded": 0,
        "currency": "INR", "from_status": "delivered", "to_status": "completed"}))


async def topped_up(session: AsyncSession, user: uuid.UUID, amount: int = 50_000,
                    payment_id: uuid.UUID | None = None, purpose: str = "topup") -> None:
    await service.payment_succeeded(session, Event("payment.succeeded", {
        "payment_id": str(payment_id or uuid.uuid4()), "purpose": purpose,
        "reference_id": None, "user_id": str(user), "amount": amount, "currency": "INR"}))


async def referral_of(connection: AsyncConnection, referee: uuid.UUID) -> dict[str, Any] | None:
    row = (await connection.execute(text(
        "SELECT id, referrer_id, code, status, refused_reason, condition, referral_count,"
        " tier_label, multiplier_bp, qualified_by, commission, rewarded_at"
        " FROM referrals WHERE referee_id = :u"), {"u": referee})).first()
    return dict(row._mapping) if row else None


async def risk_events(connection: AsyncConnection, user: uuid.UUID) -> list[tuple[str, Any]]:
    rows = await connection.execute(text(
        "SELECT kind, details FROM referral_risk_events WHERE user_id = :u ORDER BY id"),
        {"u": user})
    return [(r.kind, r.details) for r in rows]
