"""The inbox and preferences over HTTP: newest first with a cursor, unread count, read one and
all, delete; another user's notification is not found (404) and stays as it was; bad input
is a 4xx that changes nothing."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.notifications import service
from tests.helpers.problems import assert_problem
from tests.helpers.users import SignedIn, sign_in


async def _fill(session: AsyncSession, who: SignedIn, n: int) -> list[uuid.UUID]:
    ids = []
    for i in range(n):
        found = await service.notify(session, uuid.UUID(who.user["id"]), "orders.status_changed",
                                     {"number": f"ORD-{i}", "status": "shipped"})
        assert found is not None
        ids.append(found)
    return ids


async def test_the_inbox(client: httpx.AsyncClient, connection: AsyncConnection,
                         session: AsyncSession) -> None:
    me = await sign_in(client, connection)
    ids = await _fill(session, me, 5)
    h = me.headers
    r = await client.get("/v1/me/notifications", params={"limit": 2}, headers=h)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [i["id"] for i in page["items"]] == [str(x) for x in ids[::-1][:2]]
    assert page["items"][0]["title"] == "Order ORD-4: shipped"
    seen = [i["id"] for i in page["items"]]
    while page["next_cursor"]:
        page = (await client.get("/v1/me/notifications", headers=h, params={
            "limit": 2, "cursor": page["next_cursor"]})).json()
        seen += [i["id"] for i in page["items"]]
    assert seen == [str(x) for x in ids[::-1]]
    assert (await client.get("/v1/me/notifications/unread-count", headers=h)).json() == {
        "unread": 5}

    r = await client.post(f"/v1/me/notifications/{ids[0]}/read", headers=h)
    assert r.status_code == 200 and r.json()["read_at"] is not None
    first_read = r.json()["read_at"]
    r = await client.post(f"/v1/me/notifications/{ids[0]}/read", headers=h)
    assert r.json()["read_at"] == first_read  # reading again keeps the first time
    assert (await client.get("/v1/me/notifications/unread-count", headers=h)).json() == {
        "unread": 4}
    unread = (await client.get("/v1/me/notifications", params={"unread": True},
                               headers=h)).json()
    assert str(ids[0]) not in {i["id"] for i in unread["items"]} and len(unread["items"]) == 4

    r = await client.delete(f"/v1/me/notifications/{ids[1]}", headers=h)
    assert r.status_code == 204
    assert_problem(await client.get(f"/v1/me/notifications/{ids[1]}", headers=h),
                   404, "notification_not_found")
    assert_problem(await client.delete(f"/v1/me/notifications/{ids[1]}", headers=h),
                   404, "notification_not_found")
    assert (await client.post("/v1/me/notifications/read-all", headers=h)).json() == {
        "marked": 3}
    assert (await client.get("/v1/me/notifications/unread-count", headers=h)).json() == {
        "unread": 0}
    listed = (await client.get("/v1/me/notifications", headers=h)).json()["items"]
    assert len(listed) == 4 and all(i["read_at"] for i in listed)


async def test_another_users_notification_is_not_found(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession) -> None:
    me, other = await sign_in(client, connection), await sign_in(client, connection)
    [theirs] = await _fill(session, other, 1)
    for method, path in [("GET", f"/v1/me/notifications/{theirs}"),
                         ("POST", f"/v1/me/notifications/{theirs}/read"),
                         ("DELETE", f"/v1/me/notifications/{theirs}")]:
        assert_problem(await client.request(method, path, headers=me.headers),
                       404, "notification_not_found")
    assert (await client.get("/v1/me/notifications", headers=me.headers)).json()["items"] == []
    assert (await client.post("/v1/me/notifications/read-all", headers=me.headers)).json() == {
        "marked": 0}
    # Theirs is untouched.
    r = await client.get(f"/v1/me/notifications/{theirs}", headers=other.headers)
    assert r.status_code == 200 and r.json()["read_at"] is None
    assert (await client.get("/v1/me/notifications/unread-count",
                             headers=other.headers)).json() == {"unread": 1}


async def test_inbox_needs_a_user(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/me/notifications")).status_code == 401
    assert (await client.get("/v1/me/notification-preferences")).status_code == 401


async def test_bad_inbox_input_is_a_4xx(client: httpx.AsyncClient,
                                        connection: AsyncConnection) -> None:
    me = await sign_in(client, connection)
    for params in ({"limit": 0}, {"limit": 10_000}, {"cursor": "not-a-uuid"},
                   {"limit": "ten"}, {"unread": "maybe"}):
        r = await client.get("/v1/me/notifications", params=params, headers=me.headers)
        assert r.status_code == 422, (params, r.text)
    assert (await client.post("/v1/me/notifications/nope/read",
                              headers=me.headers)).status_code == 422


async def test_preferences(client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    me = await sign_in(client, connection)
    h = me.headers
    r = await client.get("/v1/me/notification-preferences", headers=h)
    assert r.status_code == 200
    defaults = r.json()
    assert defaults["quiet_start"] is None
    assert defaults["channels"]["marketing"] == {"push": True, "sms": True, "email": True}
    r = await client.put("/v1/me/notification-preferences", headers=h, json={
        "time_zone": "Asia/Kolkata", "quiet_start": "22:00:00", "quiet_end": "07:00:00",
        "channels": {"marketing": {"sms": False, "email": False}}})
    assert r.status_code == 200, r.text
    r = await client.put("/v1/me/notification-preferences", headers=h, json={
        "time_zone": "Asia/Kolkata", "quiet_start": "22:00:00", "quiet_end": "07:00:00",
        "channels": {"marketing": {"push": False}, "orders": {"sms": False}}})
    out = r.json()
    # Choices merge: the second call kept the first's.
    assert out["channels"]["marketing"] == {"push": False, "sms": False, "email": False}
    assert out["channels"]["orders"] == {"push": True, "sms": False, "email": True}
    assert out["channels"]["transactional"] == {"push": True, "sms": True, "email": True}
    assert (out["quiet_start"], out["quiet_end"]) == ("22:00:00", "07:00:00")
    assert (await client.get("/v1/me/notification-preferences", headers=h)).json() == out
    for body in ({"time_zone": "Mars/Olympus"}, {"time_zone": "Asia/Kolkata\x00"},
                 {"time_zone": "../../etc/passwd"}, {"quiet_start": "25:00"},
                 {"channels": {"gossip": {"push": False}}},
                 {"channels": {"orders": {"inbox": False}}},
                 {"channels": {"orders": {"push": "no"}}}, {"quiet_start": "22:00"},
                 {"quiet_start": "22:00+05:30", "quiet_end": "07:00"}, {"extra": 1}):
        r = await client.put("/v1/me/notification-preferences", headers=h, json=body)
        assert r.status_code == 422, (body, r.text)
    assert (await client.get("/v1/me/notification-preferences", headers=h)).json() == out
    assert_problem(await client.put("/v1/me/notification-preferences", headers=h,
                                    json={"time_zone": "Mars/Olympus"}),
                   422, "invalid_time_zone", field="time_zone")
