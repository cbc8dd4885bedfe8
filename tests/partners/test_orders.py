"""Partners' orders over HTTP with their real API keys: placed for a linked user only,
idempotent on the partner's reference, seen and cancelled by their partner alone."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.partners.schemas import PartnerCreatedOut
from gullak.settings import Settings
from tests.helpers.offers import Actors
from tests.helpers.problems import assert_problem
from tests.helpers.state import changed, fingerprint
from tests.orders.support import Shop, fund, order_body, wallet
from tests.partners.support import basic, count, make_partner


async def linked(client: httpx.AsyncClient, actors: Actors, partner: PartnerCreatedOut,
                 user: uuid.UUID) -> str:
    r = await client.post(f"/v1/me/partners/{partner.id}/link", headers=actors.user(user))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def body(shop: Shop, ref: str, link_id: str, quantity: int = 1) -> dict[str, Any]:
    return {**order_body(shop, (shop.dosa, quantity)), "external_ref": ref, "link_id": link_id}


async def setup(client: httpx.AsyncClient, actors: Actors, session: AsyncSession,
                settings: Settings) -> tuple[PartnerCreatedOut, uuid.UUID, str]:
    partner = await make_partner(session, settings)
    user = uuid.uuid4()
    await fund(session, user, "INR", 100_000)
    return partner, user, await linked(client, actors, partner, user)


async def test_a_linked_users_order_is_placed_once_per_reference(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession, settings: Settings,
        shop: Shop, connection: AsyncConnection) -> None:
    partner, user, link = await setup(client, actors, session, settings)
    r = await client.post("/v1/partner/orders", json=body(shop, "RTMN-1", link),
                          headers=basic(partner))
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["external_ref"] == "RTMN-1" and first["link_id"] == link
    assert (first["order"]["user_id"], first["order"]["status"]) == (str(user), "paid")
    assert await wallet(session, user, "INR") == (100_000 - first["order"]["total"], 0)
    r = await client.post("/v1/partner/orders", json=body(shop, "RTMN-1", link),
                          headers=basic(partner))
    assert r.status_code == 200, r.text
    assert r.json()["order"]["id"] == first["order"]["id"]
    assert await count(connection, "SELECT count(*) FROM orders WHERE user_id = :u",
                       u=user) == 1
    assert await wallet(session, user, "INR") == (100_000 - first["order"]["total"], 0)
    r = await client.get("/v1/partner/orders/RTMN-1", headers=basic(partner))
    assert r.status_code == 200 and r.json()["order"]["id"] == first["order"]["id"]
    r = await client.get("/v1/partner/orders", headers=basic(partner))
    assert [o["external_ref"] for o in r.json()["items"]] == ["RTMN-1"]


async def test_the_same_reference_with_another_body_is_refused_and_changes_nothing(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession, settings: Settings,
        shop: Shop, connection: AsyncConnection) -> None:
    partner, _, link = await setup(client, actors, session, settings)
    r = await client.post("/v1/partner/orders", json=body(shop, "RTMN-2", link),
                          headers=basic(partner))
    assert r.status_code == 201, r.text
    before = await fingerprint(connection)
    r = await client.post("/v1/partner/orders", json=body(shop, "RTMN-2", link, quantity=2),
                          headers=basic(partner))
    assert_problem(r, 409, "external_ref_reused", "external_ref")
    assert changed(before, await fingerprint(connection)) == []


async def test_an_unlinked_or_revoked_user_is_refused_and_nothing_changes(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession, settings: Settings,
        shop: Shop, connection: AsyncConnection) -> None:
    partner, user, link = await setup(client, actors, session, settings)
    other = await make_partner(session, settings)
    stranger = uuid.uuid4()
    await fund(session, stranger, "INR", 100_000)
    strangers_link = await linked(client, actors, other, stranger)
    before = await fingerprint(connection)
    for link_id in (str(uuid.uuid4()), strangers_link):  # nobody's, another partner's
        r = await client.post("/v1/partner/orders", json=body(shop, "X-1", link_id),
                              headers=basic(partner))
        assert_problem(r, 422, "user_not_linked", "link_id")
    assert changed(before, await fingerprint(connection)) == []
    r = await client.delete(f"/v1/me/partners/{partner.id}/link", headers=actors.user(user))
    assert r.status_code == 204
    before = await fingerprint(connection)
    r = await client.post("/v1/partner/orders", json=body(shop, "X-2", link),
                          headers=basic(partner))
    assert_problem(r, 422, "user_not_linked", "link_id")
    assert changed(before, await fingerprint(connection)) == []
    assert await wallet(session, user, "INR") == (100_000, 0)
    # Linking again renews the same consent; the order then goes through.
    r = await client.post(f"/v1/me/partners/{partner.id}/link", headers=actors.user(user))
    assert r.status_code == 201 and r.json()["id"] == link
    r = await client.post("/v1/partner/orders", json=body(shop, "X-2", link),
                          headers=basic(partner))
    assert r.status_code == 201, r.text


async def test_a_partner_never_reaches_another_partners_order(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession, settings: Settings,
        shop: Shop, connection: AsyncConnection) -> None:
    partner, _, link = await setup(client, actors, session, settings)
    other = await make_partner(session, settings)
    r = await client.post("/v1/partner/orders", json=body(shop, "MINE-1", link),
                          headers=basic(partner))
    assert r.status_code == 201, r.text
    before = await fingerprint(connection)
    for method, path in (("GET", "/v1/partner/orders/MINE-1"),
                         ("POST", "/v1/partner/orders/MINE-1/cancel")):
        r = await client.request(method, path, headers=basic(other))
        theirs = assert_problem(r, 404, "partner_order_not_found")
        r = await client.request(method, path.replace("MINE-1", "NOBODYS-1"),
                                 headers=basic(other))
        assert assert_problem(r, 404, "partner_order_not_found")["detail"] == theirs["detail"]
    r = await client.get("/v1/partner/orders", headers=basic(other))
    assert r.json()["items"] == []
    assert changed(before, await fingerprint(connection)) == []
    r = await client.post("/v1/partner/orders/MINE-1/cancel", headers=basic(partner),
                          json={"reason": "customer changed their mind"})
    assert r.status_code == 200 and r.json()["order"]["status"] == "cancelled", r.text


async def test_bad_and_suspended_keys_are_refused_with_problems(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession, settings: Settings,
        shop: Shop, connection: AsyncConnection) -> None:
    partner, _, link = await setup(client, actors, session, settings)
    order = body(shop, "K-1", link)
    before = await fingerprint(connection)
    for headers in (basic(partner, key="not-the-key"), {"authorization": "Basic !!"}, {}):
        r = await client.post("/v1/partner/orders", json=order, headers=headers)
        assert r.status_code == 401, r.text
        assert r.headers["content-type"] == "application/problem+json"
    r = await client.post("/v1/partner/orders", json=order, headers=actors.user(uuid.uuid4()))
    assert_problem(r, 403, "not_a_partner")
    assert changed(before, await fingerprint(connection)) == []
    admin = actors.admin("partners.manage", "partners.read")
    r = await client.patch(f"/v1/admin/partners/{partner.id}", headers=admin,
                           json={"status": "suspended"})
    assert r.status_code == 200 and r.json()["status"] == "suspended", r.text
    before = await fingerprint(connection)
    r = await client.post("/v1/partner/orders", json=order, headers=basic(partner))
    assert_problem(r, 403, "partner_suspended")
    assert changed(before, await fingerprint(connection)) == []
    # A rotated key replaces the old one at once.
    r = await client.patch(f"/v1/admin/partners/{partner.id}", headers=admin,
                           json={"status": "active"})
    r = await client.post(f"/v1/admin/partners/{partner.id}/key", headers=admin)
    assert r.status_code == 200, r.text
    rotated = partner.model_copy(update={"key_holder": r.json()["key_holder"],
                                         "api_key": r.json()["api_key"]})
    r = await client.get("/v1/partner/orders", headers=basic(partner))
    assert r.status_code == 401
    r = await client.get("/v1/partner/orders", headers=basic(rotated))
    assert r.status_code == 200, r.text


async def test_a_partner_limited_to_merchants_orders_only_from_them(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession, settings: Settings,
        shop: Shop) -> None:
    partner = await make_partner(session, settings, merchant_ids=[uuid.uuid4()])
    user = uuid.uuid4()
    link = await linked(client, actors, partner, user)
    r = await client.post("/v1/partner/orders", json=body(shop, "M-1", link),
                          headers=basic(partner))
    assert_problem(r, 422, "merchant_not_allowed", "merchant_id")


async def test_webhook_urls_must_be_public_https(
        client: httpx.AsyncClient, actors: Actors, settings: Settings,
        connection: AsyncConnection) -> None:
    settings.partners_webhook_allow_private = False
    admin = actors.admin("partners.manage")
    before = await fingerprint(connection, exclude=("audit_log",))
    for url in ("http://example.com/hooks", "https://127.0.0.1/hooks", "https://10.1.2.3/h",
                "https://[::1]/h", "https://169.254.169.254/latest", "https://localhost/h",
                "https://user:pw@example.com/h"):
        r = await client.post("/v1/admin/partners", headers=admin,
                              json={"name": f"P {url}", "webhook_url": url})
        assert_problem(r, 422, "invalid_webhook_url", "webhook_url")
    assert changed(before, await fingerprint(connection, exclude=("audit_log",))) == []
    r = await client.post("/v1/admin/partners", headers=admin, json={"name": "P none"})
    assert r.status_code == 201, r.text
    assert r.json()["api_key"] and r.json()["signing_secret"].startswith("whsec_")
    r = await client.get(f"/v1/admin/partners/{r.json()['id']}",
                         headers=actors.admin("partners.read"))
    assert "api_key" not in r.json() and "signing_secret" not in r.json()
