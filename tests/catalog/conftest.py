"""Catalog fixtures: assets, merchants and their users, and clients acting as each."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.catalog import cache
from gullak.catalog.schemas import ProductIn
from gullak.kit.security import Subject, current_subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetIn, AssetKind
from gullak.merchants import service as merchants
from gullak.merchants.schemas import DocumentIn, MerchantIn, MerchantUserIn, Status
from tests.conftest import http_client

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    # Every test's data is rolled back: a tree cached by one test means nothing to the next.
    cache.clear_local()
    yield
    cache.clear_local()


async def ensure_assets(session: AsyncSession) -> None:
    for code, kind, scale in (("INR", AssetKind.cash, 2), ("FITCOIN", AssetKind.coin, 0)):
        try:
            await ledger.get_asset(session, code)
        except Exception:
            await ledger.create_asset(session, AssetIn(code=code, name=code, kind=kind,
                                                       scale=scale))


async def new_merchant(session: AsyncSession, name: str = "Chai Point",
                       city: str | None = "Bengaluru", *, live: bool = True) -> uuid.UUID:
    """A merchant, taken live through its onboarding unless `live` is False (pending): the
    public sees only live merchants' products."""
    out = await merchants.create_merchant(session, MerchantIn(name=name, city=city), None)
    if live:
        await go_live(session, out.id)
    return out.id


async def go_live(session: AsyncSession, merchant_id: uuid.UUID) -> None:
    document = await merchants.add_document(session, merchant_id, DocumentIn(
        document_type="other", file_url=f"https://files.example/{merchant_id}.pdf"), None)
    await merchants.set_status(session, merchant_id, Status.documents_submitted, None, None)
    await merchants.review_document(session, merchant_id, document.id, True, None, None)
    await merchants.set_status(session, merchant_id, Status.verified, None, None)
    await merchants.set_status(session, merchant_id, Status.live, None, None)


async def merchant_subject(session: AsyncSession, merchant_id: uuid.UUID,
                           role: str = "manager", *, real: bool = False) -> Subject:
    """A merchant user of `merchant_id`, with the permissions the merchants domain gives its
    role. `real` creates the user (its password hash is slow); otherwise only the subject."""
    if not real:
        return Subject("merchant_user", uuid.uuid4(), frozenset(
            {f"merchant:{merchant_id}", *merchants.ROLE_PERMISSIONS[role]}))
    user = await merchants.create_merchant_user(session, merchant_id, MerchantUserIn(
        email=f"{uuid.uuid4().hex[:10]}@example.com", name="Staff", role=role,
        password="correct horse battery staple"), None)
    permissions = await merchants.merchant_user_permissions(session, user.id)
    assert permissions is not None
    return Subject("merchant_user", user.id, frozenset(permissions))


@asynccontextmanager
async def acting_as(app: FastAPI, subject: Subject) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from `subject`."""
    async def authenticated() -> Subject:
        return subject

    app.dependency_overrides[current_subject] = authenticated
    async with http_client(app) as c:
        c.event_hooks["response"].append(_no_server_errors)
        yield c


async def _no_server_errors(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.url, response.status_code)


def admin(*permissions: str) -> Subject:
    return Subject("admin", uuid.uuid4(), frozenset(permissions or {"*"}))


def assert_problem(response: httpx.Response, status: int, code: str,
                   field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    assert body["title"] and body["detail"]
    if field is not None:
        assert body.get("field") == field, body
    return body


CATALOG_TABLES = ("categories", "products", "product_images", "product_variants", "inventory",
                  "inventory_reservations", "product_feed_imports", "product_feed_sources",
                  "catalog_events", "audit_log")


async def state(connection: AsyncConnection) -> dict[str, list[str]]:
    """Every row of the catalog's tables (and the audit log), as text."""
    out = {}
    for table in CATALOG_TABLES:
        rows = await connection.scalars(text(f'SELECT t::text FROM "{table}" t'))
        out[table] = sorted(rows.all())
    return out


def product_in(sku: str = "SKU-1", **values: Any) -> ProductIn:
    return ProductIn(**{"sku": sku, "name": f"Product {sku}", "price": 10_000, **values})


@pytest.fixture
async def merchant_id(session: AsyncSession) -> uuid.UUID:
    await ensure_assets(session)
    return await new_merchant(session)
