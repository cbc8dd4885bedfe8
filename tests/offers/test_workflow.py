"""The offer workflow over HTTP: merchants draft and submit their own offers, admins review
them, every move is audited, and bad input is refused with a stable code, changing nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import clock
from gullak.offers import errors, rules, service
from tests.helpers.offers import (
    DAY,
    HOUR,
    Actors,
    Shop,
    live_merchant,
    make_offer,
    offers_state,
    terms,
)
from tests.helpers.problems import assert_problem


async def audit_actions(connection: AsyncConnection, offer_id: str) -> list[tuple[str, str]]:
    rows = await connection.execute(text(
        "SELECT action, actor_type FROM audit_log WHERE entity_type = 'offer'"
        " AND entity_id = :id ORDER BY at, id"), {"id": offer_id})
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_merchant_drafts_and_submits_admin_approves_every_move_audited(
        client: httpx.AsyncClient, actors: Actors, shop: Shop,
        connection: AsyncConnection) -> None:
    merchant = actors.merchant(shop.merchant_id)
    r = await client.post("/v1/merchant/offers", json=terms(
        cities=["Mumbai", " mumbai "], tags=["Pizza", "pizza"]), headers=merchant)
    assert r.status_code == 201, r.text
    offer = r.json()
    assert (offer["status"], offer["merchant_id"]) == ("draft", str(shop.merchant_id))
    assert (offer["cities"], offer["tags"]) == (["mumbai"], ["pizza"])
    oid = offer["id"]
    # Users do not see drafts, or offers under review.
    assert_problem(await client.get(f"/v1/offers/{oid}"), 404, "offer_not_found")

    r = await client.post(f"/v1/merchant/offers/{oid}/submit", headers=merchant)
    assert r.json()["status"] == "pending" and r.json()["submitted_at"]
    assert_problem(await client.get(f"/v1/offers/{oid}"), 404, "offer_not_found")
    # Reviewing takes offers.review; merchants cannot approve their own.
    assert_problem(await client.post(f"/v1/admin/offers/{oid}/approve",
                                     headers=actors.admin("offers.manage")), 403, "forbidden")
    assert_problem(await client.post(f"/v1/admin/offers/{oid}/approve", headers=merchant),
                   403, "forbidden")
    reviewer = actors.admin("offers.review")
    r = await client.post(f"/v1/admin/offers/{oid}/approve", headers=reviewer)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active" and r.json()["reviewed_at"]
    assert (await client.get(f"/v1/offers/{oid}")).json()["status"] == "active"

    assert (await client.post(f"/v1/merchant/offers/{oid}/pause",
                              headers=merchant)).json()["status"] == "paused"
    # A paused offer is still shown (saved and shared links keep working), not redeemable.
    assert (await client.get(f"/v1/offers/{oid}")).json()["status"] == "paused"
    assert (await client.post(f"/v1/merchant/offers/{oid}/resume",
                              headers=merchant)).json()["status"] == "active"
    assert await audit_actions(connection, oid) == [
        ("offer.create", "merchant_user"), ("offer.submit", "merchant_user"),
        ("offer.approve", "admin"), ("offer.pause", "merchant_user"),
        ("offer.resume", "merchant_user")]
    before, after = (await connection.execute(text(
        "SELECT before->>'status', after->>'status' FROM audit_log"
        " WHERE entity_id = :id AND action = 'offer.approve'"), {"id": oid})).one()
    assert (before, after) == ("pending", "active")


async def test_rejected_with_a_reason_edited_back_to_draft_and_resubmitted(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    offer = await make_offer(session, shop.merchant_id, status="pending")
    reviewer = actors.admin("offers.review")
    r = await client.post(f"/v1/admin/offers/{offer.id}/reject", json={}, headers=reviewer)
    assert_problem(r, 422, "validation_error")
    r = await client.post(f"/v1/admin/offers/{offer.id}/reject",
                          json={"reason": "The image is blurry."}, headers=reviewer)
    assert (r.json()["status"], r.json()["status_reason"]) == ("rejected", "The image is blurry.")
    merchant = actors.merchant(shop.merchant_id)
    r = await client.patch(f"/v1/merchant/offers/{offer.id}",
                           json={"image_url": "https://img.example/sharp.png"}, headers=merchant)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["image_url"]) == ("draft",
                                                           "https://img.example/sharp.png")
    r = await client.post(f"/v1/merchant/offers/{offer.id}/submit", headers=merchant)
    assert r.json()["status"] == "pending"


BAD_TERMS: list[tuple[str, dict[str, Any], int, str]] = [
    ("window ends before it starts", {"valid_until": "2020-01-01T00:00:00+00:00"}, 422,
     "invalid_window"),
    ("window ends as it starts", {"valid_from": "2030-01-01T00:00:00+00:00",
                                  "valid_until": "2030-01-01T00:00:00+00:00"}, 422,
     "invalid_window"),
    ("percent over 100", {"discount_value": 10_001}, 422, "percent_out_of_range"),
    ("cashback percent over 100", {"type": "cashback", "discount_kind": None,
                                   "discount_value": None, "cashback_kind": "percent",
                                   "cashback_value": 20_000}, 422, "percent_out_of_range"),
    ("percent offer with a fixed value", {"discount_kind": "fixed"}, 422,
     "invalid_offer_terms"),
    ("kind without value", {"discount_value": None}, 422, "invalid_offer_terms"),
    ("bogo without what you get", {"type": "bogo", "bogo_buy": 1}, 422,
     "invalid_offer_terms"),
    ("coupon offer without a code", {"type": "coupon_code"}, 422, "invalid_offer_terms"),
    ("freebie without an item", {"type": "freebie"}, 422, "invalid_offer_terms"),
    ("cap without a discount", {"type": "deal", "discount_kind": None,
                                "discount_value": None, "max_discount": 100}, 422,
     "invalid_offer_terms"),
    ("empty hours window", {"hours": [{"start": "10:00", "end": "10:00"}]}, 422,
     "invalid_hours"),
    ("hour 25", {"hours": [{"start": "10:00", "end": "25:00"}]}, 422, "validation_error"),
    ("money as a string", {"min_order_value": "100"}, 422, "validation_error"),
    ("money as a fraction", {"discount_value": 10.5}, 422, "validation_error"),
    ("a time without zone", {"valid_from": "2030-01-01T00:00:00"}, 422, "validation_error"),
    ("unknown segment", {"segments": ["everyone"]}, 422, "validation_error"),
    ("merchants do not feature themselves", {"is_featured": True}, 422, "validation_error"),
    ("unknown type", {"type": "lottery"}, 422, "validation_error"),
]


@pytest.mark.parametrize("overrides,status,code", [b[1:] for b in BAD_TERMS],
                         ids=[b[0] for b in BAD_TERMS])
async def test_bad_terms_are_refused_and_change_nothing(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, connection: AsyncConnection,
        session: AsyncSession, overrides: dict[str, Any], status: int, code: str) -> None:
    offer = await make_offer(session, shop.merchant_id, status="draft")
    merchant = actors.merchant(shop.merchant_id)
    before = await offers_state(connection)
    assert_problem(await client.post("/v1/merchant/offers", json=terms(**overrides),
                                     headers=merchant), status, code)
    # The same terms as an edit of an existing draft: refused the same way.
    assert_problem(await client.patch(f"/v1/merchant/offers/{offer.id}", json=overrides,
                                      headers=merchant), status, code)
    assert await offers_state(connection) == before


async def test_outlets_in_scope_must_be_the_merchants_own(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    _, their_outlets = await live_merchant(session)
    merchant = actors.merchant(shop.merchant_id)
    before = await offers_state(connection)
    for outlets in ([str(their_outlets[0])], [str(uuid.uuid4())]):
        r = await client.post("/v1/merchant/offers", json=terms(outlet_ids=outlets),
                              headers=merchant)
        assert_problem(r, 422, "invalid_outlet")
    assert await offers_state(connection) == before
    r = await client.post("/v1/merchant/offers", json=terms(
        outlet_ids=[str(shop.outlet_ids[1])]), headers=merchant)
    assert r.status_code == 201 and r.json()["outlet_ids"] == [str(shop.outlet_ids[1])]


async def test_a_merchant_user_cannot_touch_another_merchants_offer(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    theirs = await make_offer(session, shop.merchant_id, status="draft")
    other_id, _ = await live_merchant(session)
    other = actors.merchant(other_id)
    before = await offers_state(connection)
    path = f"/v1/merchant/offers/{theirs.id}"
    assert_problem(await client.get(path, headers=other), 404, "offer_not_found")
    assert_problem(await client.patch(path, json={"title": "Mine now"}, headers=other), 404,
                   "offer_not_found")
    for action in ("submit", "pause", "resume"):
        assert_problem(await client.post(f"{path}/{action}", headers=other), 404, "offer_not_found")
    assert_problem(await client.get(f"{path}/stats", headers=other), 404, "offer_not_found")
    listed = (await client.get("/v1/merchant/offers", headers=other)).json()
    assert listed["items"] == []
    assert await offers_state(connection) == before


async def test_staff_read_but_only_managers_write(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    offer = await make_offer(session, shop.merchant_id, status="draft")
    staff = actors.merchant(shop.merchant_id, "merchant.read", "merchant.redemptions.manage")
    assert (await client.get(f"/v1/merchant/offers/{offer.id}", headers=staff)).status_code \
        == 200
    before = await offers_state(connection)
    assert_problem(await client.post("/v1/merchant/offers", json=terms(), headers=staff), 403,
                   "forbidden")
    assert_problem(await client.post(f"/v1/merchant/offers/{offer.id}/submit", headers=staff), 403,
                   "forbidden")
    # Users and admins are not merchant users.
    assert_problem(await client.post("/v1/merchant/offers", json=terms(),
                                     headers=actors.user(uuid.uuid4())), 403, "forbidden")
    assert await offers_state(connection) == before


async def test_only_drafts_are_the_merchants_to_edit_the_platform_edits_and_promotes(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    offer = await make_offer(session, shop.merchant_id)
    before = await offers_state(connection)
    r = await client.patch(f"/v1/merchant/offers/{offer.id}", json={"title": "Bigger"},
                           headers=actors.merchant(shop.merchant_id))
    assert_problem(r, 409, "offer_locked")
    assert await offers_state(connection) == before
    boost = (clock.now() + DAY).isoformat()
    r = await client.patch(f"/v1/admin/offers/{offer.id}", json={
        "is_featured": True, "boosted_until": boost, "display_priority": 7,
        "total_limit": 10}, headers=actors.admin("offers.manage"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["is_featured"], body["display_priority"], body["total_limit"]) == (True, 7, 10)
    assert body["status"] == "active"
    public = (await client.get(f"/v1/offers/{offer.id}")).json()
    assert public["boosted"] is True and "reviewed_by" not in public
    # Fields that cannot be cleared.
    assert_problem(await client.patch(f"/v1/admin/offers/{offer.id}", json={"title": None},
                                      headers=actors.admin()), 422, "invalid_offer_terms")


async def test_workflow_refuses_moves_it_does_not_allow(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    draft = await make_offer(session, shop.merchant_id, status="draft")
    active = await make_offer(session, shop.merchant_id, title="Already active")
    admin, merchant = actors.admin(), actors.merchant(shop.merchant_id)
    before = await offers_state(connection)
    assert_problem(await client.post(f"/v1/admin/offers/{draft.id}/approve", headers=admin), 409,
                   "invalid_transition")
    assert_problem(await client.post(f"/v1/admin/offers/{active.id}/reject",
                                     json={"reason": "late"}, headers=admin), 409,
                   "invalid_transition")
    assert_problem(await client.post(f"/v1/merchant/offers/{draft.id}/resume", headers=merchant),
                   409, "invalid_transition")
    assert_problem(await client.post(f"/v1/merchant/offers/{active.id}/submit", headers=merchant),
                   409, "invalid_transition")
    assert await offers_state(connection) == before
    # A window that has ended cannot be submitted.
    clock.freeze(clock.now() + 31 * DAY)
    assert_problem(await client.post(f"/v1/merchant/offers/{draft.id}/submit", headers=merchant),
                   409, "window_ended")


async def test_coupon_codes_are_unique_among_live_offers_ignoring_case(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    first = await make_offer(session, shop.merchant_id, type="coupon_code",
                             coupon_code="PIZZA20")
    other_id, _ = await live_merchant(session)
    body = terms(type="coupon_code", coupon_code="pizza20")
    before = await offers_state(connection)
    assert_problem(await client.post("/v1/merchant/offers", json=body,
                                     headers=actors.merchant(other_id)), 409, "coupon_code_taken")
    assert await offers_state(connection) == before
    # Once the first is no longer live, the code is free again.
    await service.transition(session, first.id, "expire", None)
    r = await client.post("/v1/merchant/offers", json=body, headers=actors.merchant(other_id))
    assert r.status_code == 201, r.text


async def test_the_total_limit_cannot_go_below_redemptions_made(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    offer = await make_offer(session, shop.merchant_id, total_limit=5)
    await session.execute(text("UPDATE offers SET redemptions_count = 3 WHERE id = :id"),
                          {"id": offer.id})
    r = await client.patch(f"/v1/admin/offers/{offer.id}", json={"total_limit": 2},
                           headers=actors.admin())
    assert_problem(r, 422, "invalid_limit")
    r = await client.patch(f"/v1/admin/offers/{offer.id}", json={"total_limit": 3},
                           headers=actors.admin())
    assert r.json()["total_limit"] == 3


async def test_offers_past_their_window_expire(shop: Shop, session: AsyncSession,
                                               connection: AsyncConnection) -> None:
    now = clock.now()
    ending = await make_offer(session, shop.merchant_id,
                              valid_until=(now + 2 * HOUR).isoformat())
    paused = await make_offer(session, shop.merchant_id, status="paused",
                              valid_until=(now + 2 * HOUR).isoformat())
    lasting = await make_offer(session, shop.merchant_id)
    rejected = await make_offer(session, shop.merchant_id, status="rejected",
                                valid_until=(now + 2 * HOUR).isoformat())
    assert await service.expire_offers(session) == 0
    clock.freeze(now + 3 * HOUR)
    assert await service.expire_offers(session) == 2
    statuses = {o.id: (await service.get_offer(session, o.id)).status
                for o in (ending, paused, lasting, rejected)}
    assert statuses == {ending.id: "expired", paused.id: "expired", lasting.id: "active",
                        rejected.id: "rejected"}
    assert await audit_actions(connection, str(ending.id)) == [
        ("offer.create", "system"), ("offer.submit", "system"), ("offer.approve", "system"),
        ("offer.expire", "system")]
    assert await service.expire_offers(session) == 0


async def test_listing_pages_newest_first(client: httpx.AsyncClient, actors: Actors,
                                          shop: Shop, session: AsyncSession) -> None:
    made = [await make_offer(session, shop.merchant_id, status="draft", title=f"Offer {i}")
            for i in range(5)]
    merchant = actors.merchant(shop.merchant_id)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/merchant/offers", params=params, headers=merchant)).json()
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(o.id) for o in reversed(made)]
    assert_problem(await client.get("/v1/merchant/offers", params={"cursor": "nope"},
                                    headers=merchant), 422, "invalid_cursor")
    admin = (await client.get("/v1/admin/offers", params={
        "merchant_id": str(shop.merchant_id), "status": "draft"},
        headers=actors.admin("offers.read"))).json()
    assert len(admin["items"]) == 5


def test_window_check_compares_moments_not_wall_clocks() -> None:
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    start = dt.datetime(2030, 1, 1, 10, tzinfo=ist)
    base = {k: None for k in ("discount_kind", "discount_value", "max_discount",
                              "cashback_kind", "cashback_value", "max_cashback", "bogo_buy",
                              "bogo_get", "freebie_item", "coupon_code", "hours")}
    rules.check_terms({**base, "type": "deal", "valid_from": start,
                       "valid_until": start.astimezone(dt.UTC) + dt.timedelta(seconds=1)})
    with pytest.raises(errors.InvalidWindow):
        rules.check_terms({**base, "type": "deal", "valid_from": start,
                           "valid_until": start.astimezone(dt.UTC)})


async def test_the_platform_drafts_offers_for_a_merchant(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, connection: AsyncConnection) -> None:
    body = terms(merchant_id=str(shop.merchant_id), is_featured=True, display_priority=3)
    # (A refused permission is itself audited, so it comes before the snapshot.)
    assert_problem(await client.post("/v1/admin/offers", json=body,
                                     headers=actors.admin("offers.read")), 403, "forbidden")
    before = await offers_state(connection)
    r = await client.post("/v1/admin/offers", json={**body, "merchant_id": str(uuid.uuid4())},
                          headers=actors.admin("offers.manage"))
    assert_problem(r, 404, "merchant_not_found")
    assert await offers_state(connection) == before
    r = await client.post("/v1/admin/offers", json=body, headers=actors.admin("offers.manage"))
    assert r.status_code == 201, r.text
    assert (r.json()["merchant_id"], r.json()["is_featured"], r.json()["status"]) == (
        str(shop.merchant_id), True, "draft")
    # The merchant sees it among its own.
    mine = (await client.get("/v1/merchant/offers",
                             headers=actors.merchant(shop.merchant_id))).json()["items"]
    assert [o["id"] for o in mine] == [r.json()["id"]]
