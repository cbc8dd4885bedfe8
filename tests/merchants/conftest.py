"""Merchants fixtures: admins with exactly the permissions a test needs, merchants taken
through onboarding, merchant users signed in through the real login, and the checks every
refusal gets (problem+json with its code, nothing changed)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import passwords
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
from tests.access.conftest import log_in, make_admin, put_role
from tests.conftest import http_client

PROBLEM = "application/problem+json"
PASSWORD = "correct horse battery staple"
_serial = itertools.count(1)

# Valid identifiers (the GSTINs' check characters computed by hand from the official rule).
GSTIN = "27AABCB1234F1Z8"  # Maharashtra, PAN AABCB1234F
GSTIN_KA = "29AAFCK5678K1ZS"  # Karnataka, PAN AAFCK5678K
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def serial() -> int:
    return next(_serial)


def daily(open_: str = "09:00", close: str = "21:00") -> dict[str, list[dict[str, str]]]:
    return {day: [{"open": open_, "close": close}] for day in EVERY_DAY}


def outlet_in(latitude: float = 19.0553, longitude: float = 72.8301, **fields: Any) -> OutletIn:
    values: dict[str, Any] = {"name": "Bandra", "address": "24 Hill Road", "city": "Mumbai",
                              "latitude": latitude, "longitude": longitude, "hours": daily()}
    values.update(fields)
    return OutletIn(**values)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The production argon2 parameters cost about 0.4 s per hash; a check reads the
    # parameters from the stored hash, so nothing here depends on them.
    monkeypatch.setattr(passwords, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


async def no_server_errors(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.method, str(response.request.url),
                                        response.status_code)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as c:
        c.event_hooks["response"].append(no_server_errors)
        yield c


# -- people -----------------------------------------------------------------------------------

@dataclass
class Actor:
    id: uuid.UUID
    access: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.access}"}


async def admin_with(client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
                     *permissions: str) -> Actor:
    """A signed-in admin whose one role holds exactly `permissions`."""
    role = f"merchants_role_{serial()}"
    await put_role(session, role, list(permissions))
    admin = await log_in(client, await make_admin(session, settings, [role],
                                                  email=f"madmin{serial()}@example.com"))
    return Actor(admin.id, admin.access)


@pytest.fixture
async def admin(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> Actor:
    """An admin holding every merchants, reviews and content permission."""
    return await admin_with(client, session, settings, "merchants.read", "merchants.manage",
                            "merchants.review", "reviews.moderate", "content.manage")


async def staff_of(client: httpx.AsyncClient, session: AsyncSession, merchant_id: uuid.UUID,
                   role: Role = Role.owner) -> Actor:
    """A merchant user of `merchant_id`, signed in through POST /v1/merchant/auth/login."""
    email = f"staff{serial()}@example.com"
    user = await service.create_merchant_user(session, merchant_id, MerchantUserIn(
        email=email, name="Staff", role=role, password=PASSWORD), None)
    r = await client.post("/v1/merchant/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return Actor(user.id, r.json()["access_token"])


# -- merchants --------------------------------------------------------------------------------

async def new_merchant(session: AsyncSession, name: str = "Bombay Brew House",
                       **fields: Any) -> MerchantOut:
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


# -- checks -----------------------------------------------------------------------------------

def assert_problem(response: httpx.Response, status: int, code: str,
                   field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM, response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    assert body["title"] and body["detail"]
    if field is not None:
        assert body.get("field") == field, body
    return body


async def fingerprint(connection: AsyncConnection, *,
                      exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """A digest of every table's rows: equal fingerprints mean nothing was written. (A refused
    permission is audited on purpose: those tests exclude audit_log.)"""
    names = [n for n in (await connection.scalars(text(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        " AND table_type = 'BASE TABLE' ORDER BY 1"))).all() if n not in exclude]
    query = " UNION ALL ".join(
        f"SELECT '{n}' AS name, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
        f" AS digest FROM \"{n}\" t" for n in names)
    return {r.name: r.digest for r in await connection.execute(text(query))}


async def audit_entries(connection: AsyncConnection, entity_id: uuid.UUID | str
                        ) -> list[dict[str, Any]]:
    rows = await connection.execute(text(
        "SELECT * FROM audit_log WHERE entity_id = :e ORDER BY at, id"), {"e": str(entity_id)})
    return [dict(r) for r in rows.mappings()]
