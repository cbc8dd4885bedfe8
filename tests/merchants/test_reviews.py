"""Reviews: one per user per order, the rating aggregate kept right through create, hide and
restore, merchant responses, flags, moderation, and the public list by keyset."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.db.engine import Database
from gullak.kit.search import SearchQuery
from gullak.merchants import reviews, service
from gullak.merchants.schemas import MerchantIn, Role, UserReviewIn
from gullak.settings import Settings
from tests.helpers.merchants import (
    admin_with,
    audit_entries,
    go_live,
    live_merchant,
    new_merchant,
    staff_of,
)
from tests.helpers.problems import assert_problem
from tests.helpers.state import fingerprint
from tests.helpers.users import sign_in


async def aggregate(connection: AsyncConnection, merchant_id: uuid.UUID) -> tuple[float, int]:
    row = (await connection.execute(text(
        "SELECT rating_avg, rating_count FROM merchants WHERE id = :m"), {"m": merchant_id})).one()
    return float(row.rating_avg), int(row.rating_count)


async def truth(connection: AsyncConnection, merchant_id: uuid.UUID) -> tuple[float, int]:
    """The aggregate recomputed from the visible reviews themselves."""
    row = (await connection.execute(text(
        "SELECT coalesce(round(avg(rating), 2), 0) AS a, count(*) AS n FROM merchant_reviews"
        " WHERE merchant_id = :m AND status = 'visible'"), {"m": merchant_id})).one()
    return float(row.a), int(row.n)


async def test_reviews_keep_the_aggregate_right(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        settings: Settings) -> None:
    merchant = await live_merchant(session)
    users = [await sign_in(client, connection) for _ in range(3)]
    moderator = await admin_with(client, session, settings, "reviews.moderate")
    ids = []
    for user, rating in zip(users, (5, 4, 2)):
        r = await client.post(f"/v1/merchants/{merchant.id}/reviews", headers=user.headers,
                              json={"order_id": f"ORD-{rating}", "rating": rating,
                                    "sub_ratings": {"Food": rating, "service": 3},
                                    "comment": " Good "})
        assert r.status_code == 201, r.text
        assert r.json()["sub_ratings"] == {"food": rating, "service": 3}
        assert r.json()["verified_purchase"] is False
        ids.append(r.json()["id"])
        assert await aggregate(connection, merchant.id) == await truth(connection, merchant.id)
    assert await aggregate(connection, merchant.id) == (3.67, 3)
    moderation = f"/v1/admin/reviews/{ids[2]}/moderation"
    assert_problem(await client.post(moderation, json={"action": "hide"},
                                     headers=moderator.headers), 422, "reason_required")
    r = await client.post(moderation, json={"action": "hide", "reason": "Abusive"},
                          headers=moderator.headers)
    assert r.json()["status"] == "hidden"
    assert await aggregate(connection, merchant.id) == (4.5, 2)
    assert_problem(await client.post(moderation, json={"action": "hide", "reason": "again"},
                                     headers=moderator.headers), 409, "review_status")
    public = (await client.get(f"/v1/merchants/{merchant.id}/reviews")).json()["items"]
    assert ids[2] not in [item["id"] for item in public]
    r = await client.post(moderation, json={"action": "restore"}, headers=moderator.headers)
    assert r.json()["status"] == "visible"
    assert await aggregate(connection, merchant.id) == (3.67, 3)
    assert await aggregate(connection, merchant.id) == await truth(connection, merchant.id)
    actions = [e["action"] for e in await audit_entries(connection, ids[2])]
    assert actions == ["review.hide", "review.restore"]
    hits = await service.search(session, SearchQuery(min_rating=3.5))
    assert [h.id for h in hits] == [merchant.id]


async def test_one_review_per_user_and_order(client: httpx.AsyncClient,
                                             connection: AsyncConnection,
                                             session: AsyncSession) -> None:
    merchant = await live_merchant(session)
    user = await sign_in(client, connection)
    body = {"order_id": "ORD-1", "rating": 4}
    path = f"/v1/merchants/{merchant.id}/reviews"
    assert (await client.post(path, json=body, headers=user.headers)).status_code == 201
    pending = await new_merchant(session, "Pending")
    before = await fingerprint(connection)
    assert_problem(await client.post(path, json=body | {"rating": 1}, headers=user.headers),
                   409, "review_exists", "order_id")
    for bad, code in (({"rating": 6}, "validation_error"), ({"rating": 0}, "validation_error"),
                      ({"order_id": "ORD-2", "sub_ratings": {"food": 9}}, "invalid_sub_rating"),
                      ({"order_id": "ORD-2", "outlet_id": str(uuid.uuid4())},
                       "outlet_not_found")):
        assert_problem(await client.post(path, json=body | bad, headers=user.headers), 422
                       if code != "outlet_not_found" else 404, code)
    assert_problem(await client.post(f"/v1/merchants/{pending.id}/reviews", json=body | {
        "order_id": "ORD-3"}, headers=user.headers), 404, "merchant_not_found")
    assert_problem(await client.post(path, json=body | {"order_id": "ORD-4"}), 401,
                   "unauthorized")
    assert await fingerprint(connection) == before


async def test_verified_purchase_comes_from_the_orders_owner(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    merchant = await live_merchant(session)
    buyer = uuid.uuid4()

    async def bought(_: AsyncSession, user_id: uuid.UUID, merchant_id: uuid.UUID,
                     order_id: str) -> bool:
        return (user_id, merchant_id, order_id) == (buyer, merchant.id, "ORD-9")

    monkeypatch.setattr(reviews, "PURCHASE_CHECKS", [bought])
    yes = await reviews.create_review(session, buyer, merchant.id,
                                      UserReviewIn(order_id="ORD-9", rating=5))
    no = await reviews.create_review(session, uuid.uuid4(), merchant.id,
                                     UserReviewIn(order_id="ORD-9", rating=5))
    assert (yes.verified_purchase, no.verified_purchase) == (True, False)


async def test_merchant_responds_and_users_flag(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        settings: Settings) -> None:
    merchant = await live_merchant(session)
    staff = await staff_of(client, session, merchant.id, Role.staff)
    author, other = await sign_in(client, connection), await sign_in(client, connection)
    r = await client.post(f"/v1/merchants/{merchant.id}/reviews", headers=author.headers,
                          json={"order_id": "ORD-1", "rating": 2, "comment": "Cold coffee"})
    review_id = r.json()["id"]
    r = await client.put(f"/v1/merchant/reviews/{review_id}/response", headers=staff.headers,
                         json={"response": "Sorry! Your next coffee is on us."})
    assert r.status_code == 200, r.text
    assert r.json()["response"] == "Sorry! Your next coffee is on us."
    [entry] = await audit_entries(connection, review_id)
    assert (entry["action"], entry["actor_type"]) == ("review.respond", "merchant_user")
    public = (await client.get(f"/v1/merchants/{merchant.id}/reviews")).json()["items"]
    assert public[0]["response"] == "Sorry! Your next coffee is on us."
    assert "user_id" not in public[0]
    flags = f"/v1/reviews/{review_id}/flags"
    assert (await client.post(flags, json={"reason": "spam"},
                              headers=other.headers)).status_code == 201
    assert_problem(await client.post(flags, json={"reason": "spam"}, headers=other.headers),
                   409, "already_flagged")
    moderator = await admin_with(client, session, settings, "reviews.moderate")
    flagged = (await client.get("/v1/admin/reviews/flagged", headers=moderator.headers)).json()
    assert [(f["id"], f["flag_count"]) for f in flagged] == [(review_id, 1)]


async def test_public_reviews_newest_first_by_keyset(client: httpx.AsyncClient,
                                                     session: AsyncSession) -> None:
    merchant = await live_merchant(session)
    made = []
    for i in range(5):
        out = await reviews.create_review(session, uuid.uuid4(), merchant.id,
                                          UserReviewIn(order_id=f"O{i}", rating=3))
        made.append(str(out.id))
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"/v1/merchants/{merchant.id}/reviews", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]
    assert_problem(await client.get(f"/v1/merchants/{merchant.id}/reviews",
                                    params={"cursor": "not-a-cursor"}), 422, "invalid_cursor")


async def test_concurrent_reviews_keep_the_aggregate_exact(fresh_db: Database) -> None:
    async with fresh_db.sessionmaker() as session, session.begin():
        merchant = await service.create_merchant(session, MerchantIn(name="Busy"), None)
        await go_live(session, merchant.id)
    ratings = [1, 2, 3, 4, 5] * 4

    async def write(i: int, rating: int) -> None:
        async with fresh_db.sessionmaker() as session, session.begin():
            await reviews.create_review(session, uuid.uuid4(), merchant.id,
                                        UserReviewIn(order_id=f"O{i}", rating=rating))

    await asyncio.gather(*(write(i, r) for i, r in enumerate(ratings)))
    async with fresh_db.engine.connect() as conn:
        assert await aggregate(conn, merchant.id) == (3.0, 20)
        assert await aggregate(conn, merchant.id) == await truth(conn, merchant.id)
