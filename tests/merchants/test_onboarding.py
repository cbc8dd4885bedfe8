"""Onboarding through the back office: creation with validated business details, documents
reviewed one by one, the status workflow, audit entries, permissions."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.settings import Settings
from tests.helpers.merchants import (
    GSTIN,
    Actor,
    admin_with,
    audit_entries,
    live_merchant,
    new_merchant,
    staff_of,
)
from tests.helpers.problems import assert_problem
from tests.helpers.state import fingerprint

ADMIN = "/v1/admin/merchants"


def merchant_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Bombay Brew House", "legal_name": "Bombay Brew House Private Limited",
        "city": "mumbai", "tags": ["Cafe", " coffee ", "cafe"], "gstin": GSTIN.lower(),
        "pan": "AABCB1234F", "fssai": "11521998000123", "package_tier": "gold",
        "commission_bps": 850, "settlement_frequency": "weekly",
        "affiliate_network": "cuelinks", "affiliate_id": "BB-1",
        "tracking_url_template": "https://t.example/c?click={click_id}&u={user_id}",
        "default_cashback_bps": 500}
    body.update(fields)
    return body


async def test_admin_creates_a_merchant_with_normalised_details(
        client: httpx.AsyncClient, connection: AsyncConnection, admin: Actor) -> None:
    r = await client.post(ADMIN, json=merchant_body(), headers=admin.headers)
    assert r.status_code == 201, r.text
    merchant = r.json()
    assert merchant["status"] == "pending"
    assert merchant["slug"] == "bombay-brew-house"
    assert merchant["gstin"] == GSTIN and merchant["city"] == "Mumbai"
    assert merchant["tags"] == ["cafe", "coffee"]
    assert (merchant["rating_avg"], merchant["rating_count"]) == (0, 0)
    # A second merchant of the same name gets its own slug.
    r = await client.post(ADMIN, json=merchant_body(gstin=None, pan=None), headers=admin.headers)
    assert r.json()["slug"] == "bombay-brew-house-2"
    [entry] = await audit_entries(connection, merchant["id"])
    assert (entry["action"], entry["actor_type"], entry["actor_id"]) == (
        "merchant.create", "admin", admin.id)
    assert entry["before"] is None and entry["after"]["gstin"] == GSTIN


INVALID_DETAILS = [
    ({"gstin": "27AABCB1234F1Z9"}, "invalid_gstin", "gstin"),  # wrong check character
    ({"gstin": "40AABCB1234F1Z8"}, "invalid_gstin", "gstin"),  # no such state
    ({"gstin": "27AABCB1234F1Y8"}, "invalid_gstin", "gstin"),
    ({"pan": "AABCB1234"}, "invalid_pan", "pan"),
    ({"pan": "AABCC1234F"}, "invalid_gstin", "gstin"),  # the GSTIN holds another PAN
    ({"fssai": "1152199800012"}, "invalid_fssai", "fssai"),
    ({"tracking_url_template": "http://t.example/{click_id}"}, "invalid_tracking_url",
     "tracking_url_template"),
    ({"tracking_url_template": "https://t.example/{session}"}, "invalid_tracking_url",
     "tracking_url_template"),
]


async def test_invalid_business_details_are_refused_and_change_nothing(
        client: httpx.AsyncClient, connection: AsyncConnection, admin: Actor) -> None:
    before = await fingerprint(connection)
    for fields, code, field in INVALID_DETAILS:
        r = await client.post(ADMIN, json=merchant_body(**fields), headers=admin.headers)
        assert_problem(r, 422, code, field)
    assert await fingerprint(connection) == before


async def test_invalid_details_in_an_update_change_nothing(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        admin: Actor) -> None:
    merchant = await new_merchant(session)
    before = await fingerprint(connection)
    r = await client.patch(f"{ADMIN}/{merchant.id}", json={"gstin": "27AABCB1234F1Z0",
                                                           "description": "new"},
                           headers=admin.headers)
    assert_problem(r, 422, "invalid_gstin", "gstin")
    assert await fingerprint(connection) == before
    r = await client.patch(f"{ADMIN}/{merchant.id}", json={"commission_bps": 1200,
                                                           "description": "Coffee."},
                           headers=admin.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["commission_bps"], r.json()["description"]) == (1200, "Coffee.")
    entry = (await audit_entries(connection, merchant.id))[-1]
    assert entry["action"] == "merchant.update"
    assert (entry["before"]["commission_bps"], entry["after"]["commission_bps"]) == (0, 1200)


async def status(client: httpx.AsyncClient, admin: Actor, merchant_id: str, to: str,
                 reason: str | None = None) -> httpx.Response:
    return await client.post(f"{ADMIN}/{merchant_id}/status",
                             json={"status": to, "reason": reason}, headers=admin.headers)


async def upload(client: httpx.AsyncClient, owner: Actor) -> str:
    r = await client.post("/v1/merchant/documents", headers=owner.headers, json={
        "document_type": "gstin", "number": GSTIN, "file_url": "https://files.example/gst.pdf"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_the_whole_workflow(client: httpx.AsyncClient, connection: AsyncConnection,
                                  session: AsyncSession, admin: Actor) -> None:
    merchant = await new_merchant(session, gstin=GSTIN)
    mid = str(merchant.id)
    owner = await staff_of(client, session, merchant.id)
    # Nothing to submit yet.
    assert_problem(await client.post("/v1/merchant/submit", headers=owner.headers), 409,
                   "documents_missing")
    first = await upload(client, owner)
    r = await client.post("/v1/merchant/submit", headers=owner.headers)
    assert r.status_code == 200 and r.json()["status"] == "documents_submitted"
    # Not verified while a document waits for review.
    assert_problem(await status(client, admin, mid, "verified"), 409, "documents_pending")
    review = f"{ADMIN}/{mid}/documents/{first}/review"
    assert_problem(await client.post(review, json={"verdict": "rejected"},
                                     headers=admin.headers), 422, "reason_required")
    r = await client.post(review, json={"verdict": "rejected", "reason": "Blurred scan"},
                          headers=admin.headers)
    assert (r.json()["status"], r.json()["reason"]) == ("rejected", "Blurred scan")
    assert_problem(await client.post(review, json={"verdict": "verified"},
                                     headers=admin.headers), 409, "already_reviewed")
    assert_problem(await status(client, admin, mid, "verified"), 409, "documents_missing")
    second = await upload(client, owner)
    r = await client.post(f"{ADMIN}/{mid}/documents/{second}/review",
                          json={"verdict": "verified"}, headers=admin.headers)
    assert r.json()["status"] == "verified"
    assert (await status(client, admin, mid, "verified")).json()["status"] == "verified"
    r = await status(client, admin, mid, "live")
    assert r.json()["status"] == "live" and r.json()["live_at"]
    assert (await client.get(f"/v1/merchants/{mid}")).status_code == 200
    # Suspension needs a reason, and hides the merchant from the public.
    assert_problem(await status(client, admin, mid, "suspended"), 422, "reason_required")
    r = await status(client, admin, mid, "suspended", "Complaints under review")
    assert (r.json()["status"], r.json()["status_reason"]) == ("suspended",
                                                               "Complaints under review")
    assert_problem(await client.get(f"/v1/merchants/{mid}"), 404, "merchant_not_found")
    assert (await status(client, admin, mid, "live")).json()["status"] == "live"
    actions = [e["action"] for e in await audit_entries(connection, mid)]
    assert actions == ["merchant.create", "merchant.status.documents_submitted",
                       "merchant.status.verified", "merchant.status.live",
                       "merchant.status.suspended", "merchant.status.live"]
    transitions = [(e["before"]["status"], e["after"]["status"])
                   for e in await audit_entries(connection, mid) if e["before"]]
    assert transitions[0] == ("pending", "documents_submitted")


async def test_rejection_with_a_reason_and_a_new_application(
        client: httpx.AsyncClient, session: AsyncSession, admin: Actor) -> None:
    mid = str((await new_merchant(session)).id)
    assert_problem(await status(client, admin, mid, "rejected", "  "), 422, "reason_required")
    r = await status(client, admin, mid, "rejected", "Not a registered business")
    assert (r.json()["status"], r.json()["status_reason"]) == ("rejected",
                                                               "Not a registered business")
    assert (await status(client, admin, mid, "pending")).json()["status"] == "pending"


async def test_illegal_transitions_are_refused_and_change_nothing(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        admin: Actor) -> None:
    pending = str((await new_merchant(session)).id)
    rejected = str((await new_merchant(session, "Rejected")).id)
    assert (await status(client, admin, rejected, "rejected", "because")).status_code == 200
    live = str((await live_merchant(session, "Live")).id)
    before = await fingerprint(connection)
    for mid, target in ((pending, "live"), (pending, "verified"), (pending, "suspended"),
                        (pending, "pending"), (rejected, "live"), (rejected, "verified"),
                        (live, "verified"), (live, "pending"), (live, "live")):
        body = assert_problem(await status(client, admin, mid, target, "because"), 409,
                              "illegal_transition")
        assert body["requested"] == target
    assert await fingerprint(connection) == before


async def test_unknown_merchant_and_unknown_status(client: httpx.AsyncClient,
                                                   admin: Actor) -> None:
    missing = "01900000-0000-7000-8000-00000000dead"
    assert_problem(await status(client, admin, missing, "live"), 404, "merchant_not_found")
    assert_problem(await client.get(f"{ADMIN}/{missing}", headers=admin.headers), 404,
                   "merchant_not_found")
    r = await client.post(f"{ADMIN}/{missing}/status", json={"status": "open"},
                          headers=admin.headers)
    assert_problem(r, 422, "validation_error", "status")


async def test_permissions_are_enforced_and_denials_audited(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        settings: Settings) -> None:
    mid = str((await new_merchant(session)).id)
    reader = await admin_with(client, session, settings, "merchants.read")
    assert (await client.get(f"{ADMIN}/{mid}", headers=reader.headers)).status_code == 200
    before = await fingerprint(connection, exclude=("audit_log",))
    r = await client.post(f"{ADMIN}/{mid}/status",
                          json={"status": "rejected", "reason": "x"}, headers=reader.headers)
    assert_problem(r, 403, "forbidden")
    r = await client.post(ADMIN, json=merchant_body(), headers=reader.headers)
    assert_problem(r, 403, "forbidden")
    assert await fingerprint(connection, exclude=("audit_log",)) == before
    assert_problem(await client.get(ADMIN), 401, "unauthorized")


async def test_admin_list_is_newest_first_with_a_cursor(
        client: httpx.AsyncClient, session: AsyncSession, admin: Actor) -> None:
    ids = [str((await new_merchant(session, f"Shop {i}", city="Pune")).id) for i in range(5)]
    r = await client.get(ADMIN, params={"city": "pune", "limit": 3}, headers=admin.headers)
    page = r.json()
    assert [m["id"] for m in page["items"]] == ids[::-1][:3]
    r = await client.get(ADMIN, params={"city": "Pune", "limit": 3,
                                        "cursor": page["next_cursor"]}, headers=admin.headers)
    assert [m["id"] for m in r.json()["items"]] == ids[::-1][3:]
    assert r.json()["next_cursor"] is None
