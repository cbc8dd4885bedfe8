"""Engagement test tools: users made directly (with a city, a verified college), step days
and coin rewards told as the activity and rewards domains tell them."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.events import publish
from gullak.kit.ids import uuid7
from tests.helpers.users import new_phone


async def make_user(session: AsyncSession, name: str | None = "Walker", *,
                    city: str | None = None) -> uuid.UUID:
    user_id = uuid7()
    await session.execute(text(
        "INSERT INTO users (id, phone, name, referral_code) VALUES (:id, :phone, :name, :code)"),
        {"id": user_id, "phone": new_phone(), "name": name,
         "code": uuid.uuid4().hex[:10].upper()})
    if city:
        await session.execute(text(
            "INSERT INTO addresses (id, user_id, line1, city, is_default)"
            " VALUES (:id, :user, '1 Test Road', :city, true)"),
            {"id": uuid7(), "user": user_id, "city": city})
    return user_id


async def make_college(session: AsyncSession) -> uuid.UUID:
    college_id = uuid7()
    await session.execute(text(
        "INSERT INTO colleges (id, name, city) VALUES (:id, :name, 'Pune')"),
        {"id": college_id, "name": f"College {college_id.hex[-6:]}"})
    return college_id


async def enrol(session: AsyncSession, user_id: uuid.UUID, college_id: uuid.UUID,
                status: str = "verified") -> None:
    await session.execute(text(
        "INSERT INTO user_colleges (id, user_id, college_id, student_id_number, document_ref,"
        " status) VALUES (:id, :user, :college, 'S1', 'doc', :status)"),
        {"id": uuid7(), "user": user_id, "college": college_id, "status": status})


async def steps(session: AsyncSession, user_id: uuid.UUID, day: dt.date, delta: int,
                total: int | None = None, city: str | None = None) -> None:
    data = {"user_id": str(user_id), "day": day.isoformat(), "steps": total or delta,
            "delta": delta}
    if city:
        data["city"] = city
    await publish(session, "activity.steps_verified", data)


async def coins(session: AsyncSession, user_id: uuid.UUID, amount: int,
                asset: str = "FITCOIN") -> None:
    await publish(session, "reward.confirmed", {
        "reward_id": str(uuid7()), "user_id": str(user_id), "asset_code": asset,
        "amount": amount, "rule_id": str(uuid7()), "reference_type": "test",
        "reference_id": "x"})
