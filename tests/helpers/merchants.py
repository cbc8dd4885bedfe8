"""Merchants taken through onboarding, their outlets, and their staff signed in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.merchants import service
from gullak.merchants.schemas import (
    DocumentIn,
    MerchantIn,
    MerchantOut,
    MerchantUserIn,
    OutletIn,
    Role,
    Status,
)
from gullak.settings import Settings
from tests.helpers import admins
from tests.helpers.admins import serial
from tests.helpers.users import bearer

PASSWORD = "correct horse battery staple"
# Valid identifiers (the GSTINs' check characters computed by hand from the official rule).
GSTIN = "27AABCB1234F1Z8"  # Maharashtra, PAN AABCB1234F
GSTIN_KA = "29AAFCK5678K1ZS"  # Karnataka, PAN AAFCK5678K
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def daily(open_: str = "09:00", close: str = "21:00") -> dict[str, list[dict[str, str]]]:
    return {day: [{"open": open_, "close": close}] for day in EVERY_DAY}


def outlet_in(latitude: float = 19.0553, longitude: float = 72.8301, **fields: Any) -> OutletIn:
    values: dict[str, Any] = {"name": "Bandra", "address": "24 Hill Road", "city": "Mumbai",
                              "latitude": latitude, "longitude": longitude, "hours": daily()}
    values.update(fields)
    return OutletIn(**values)


async def new_merchant(session: AsyncSession, name: str = "Bombay Brew House",
                       **fields: Any) -> MerchantOut:
    """A merchant as created: pending, not yet seen by the public."""
    values: dict[str, Any] = {"name": name, "city": "Mumbai"}
    values.update(fields)
    return await service.create_merchant(session, MerchantIn(**values), None)


async def go_live(session: AsyncSession, merchant_id: uuid.UUID) -> MerchantOut:
    """Through onboarding: a document uploaded and verified, verified, live."""
    document = await service.add_document(session, merchant_id, DocumentIn(
        document_type="shop_license", file_url="https://files.example/licence.pdf"), None)
    await service.set_status(session, merchant_id, Status.documents_submitted, None, None)
    await service.review_document(session, merchant_id, document.id, True, None, None)
    await service.set_status(session, merchant_id, Status.verified, None, None)
    return await service.set_status(session, merchant_id, Status.live, None, None)


async def live_merchant(session: AsyncSession, name: str = "Bombay Brew House",
                        **fields: Any) -> MerchantOut:
    merchant = await new_merchant(session, name, **fields)
    return await go_live(session, merchant.id)


@dataclass
class Actor:
    id: uuid.UUID
    access: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access)


async def admin_with(client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
                     *permissions: str) -> Actor:
    """A signed-in admin whose one role holds exactly `permissions`."""
    admin = await admins.admin_with(client, session, settings, *permissions)
    return Actor(admin.id, admin.access)


async def staff_of(client: httpx.AsyncClient, session: AsyncSession, merchant_id: uuid.UUID,
                   role: Role = Role.owner) -> Actor:
    """A merchant user of `merchant_id`, signed in through POST /v1/merchant/auth/login."""
    email = f"staff{serial()}@example.com"
    user = await service.create_merchant_user(session, merchant_id, MerchantUserIn(
        email=email, name="Staff", role=role, password=PASSWORD), None)
    r = await client.post("/v1/merchant/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return Actor(user.id, r.json()["access_token"])


async def audit_entries(connection: AsyncConnection, entity_id: uuid.UUID | str
                        ) -> list[dict[str, Any]]:
    """The audit entries about `entity_id`, in the order of the app's clock."""
    rows = await connection.execute(text(
        "SELECT * FROM audit_log WHERE entity_id = :e ORDER BY at, id"), {"e": str(entity_id)})
    return [dict(r) for r in rows.mappings()]
