"""Referrals: recorded at sign-up through the real OTP endpoint, qualified by the program's
condition (a completed purchase order, a top-up, a step count) exactly once, each side's
rewards evaluated with the referral tier's multiplier, fraud refused with a risk event and
never the sign-up, and the referrer's own view with masked referees."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import clock
from gullak.referrals import fraud, service
from gullak.referrals.schemas import Condition, ProgramIn, TierIn
from gullak.rewards import service as rewards
from tests.helpers.identity import rewind_clock
from tests.helpers.offers import Actors
from tests.helpers.problems import assert_problem
from tests.referrals.support import (
    order_completed,
    referral_of,
    risk_events,
    sign_up,
    topped_up,
    user_id,
)

pytestmark = pytest.mark.usefixtures("assets")
ADMIN = ("referrals.read", "referrals.manage")
Calls = list[tuple[str, uuid.UUID, dict[str, Any], str, str]]


@pytest.fixture
def evaluated(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Every evaluation of the `referral` trigger, as it was asked for (other triggers, such
    as the rewards domain's own sign-up rules, go through untouched)."""
    calls: Calls = []
    original = rewards.evaluate

    async def evaluate(session: AsyncSession, trigger: str, user: uuid.UUID,
                       context: dict[str, Any], **kw: Any) -> list[Any]:
        if trigger != "referral":
            return list(await original(session, trigger, user, context, **kw))
        calls.append((trigger, user, dict(context), kw["reference_type"], kw["reference_id"]))
        return []

    monkeypatch.setattr(rewards, "evaluate", evaluate)
    return calls


async def program(client: httpx.AsyncClient, actors: Actors, condition: str,
                  **extra: Any) -> dict[str, Any]:
    r = await client.post("/v1/admin/referral-programs", headers=actors.admin(*ADMIN), json={
        "name": f"Program {uuid.uuid4().hex[:6]}", "condition": condition, "active": True,
        **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_a_first_completed_order_rewards_both_sides_once(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        actors: Actors, evaluated: Calls) -> None:
    await program(client, actors, "first_order")
    referrer = await sign_up(client, connection, device="phone-of-referrer")
    referee = await sign_up(client, connection, referrer.user["referral_code"].lower(),
                            device="phone-of-referee")
    assert referee.user["referred_by_id"] == referrer.user["id"]
    row = await referral_of(connection, user_id(referee))
    assert row is not None
    assert (row["status"], row["condition"], row["code"], row["referrer_id"]) == (
        "pending", "first_order", referrer.user["referral_code"], user_id(referrer))

    # Not the condition: a top-up, a reward-shop order, a completed order of someone else.
    await topped_up(session, user_id(referee))
    await order_completed(session, user_id(referee), kind="reward")
    await order_completed(session, user_id(referrer))
    assert (await referral_of(connection, user_id(referee)) or {})["status"] == "pending"
    assert evaluated == []

    order = uuid.uuid4()
    await order_completed(session, user_id(referee), order_id=order)
    await order_completed(session, user_id(referee), order_id=order)  # told twice
    await order_completed(session, user_id(referee))  # a second order
    row = await referral_of(connection, user_id(referee))
    assert row is not None
    assert (row["status"], row["qualified_by"], row["referral_count"], row["multiplier_bp"]) == (
        "rewarded", f"order:{order}", 1, 10_000)
    ref = str(row["id"])
    context = {"referral_id": ref, "referral_count": 1, "multiplier_bp": 10_000}
    assert evaluated == [
        ("referral", user_id(referrer), {"role": "referrer", **context}, "referral", ref),
        ("referral", user_id(referee), {"role": "referee", **context}, "referral", ref)]


async def test_a_first_top_up_qualifies_under_the_top_up_program(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        actors: Actors, evaluated: Calls) -> None:
    await program(client, actors, "first_topup")
    referrer = await sign_up(client, connection)
    referee = await sign_up(client, connection, referrer.user["referral_code"])
    await order_completed(session, user_id(referee))
    await topped_up(session, user_id(referee), purpose="order")
    assert (await referral_of(connection, user_id(referee)) or {})["status"] == "pending"
    payment = uuid.uuid4()
    await topped_up(session, user_id(referee), payment_id=payment)
    await topped_up(session, user_id(referee), payment_id=payment)
    row = await referral_of(connection, user_id(referee))
    assert row is not None and (row["status"], row["qualified_by"]) == (
        "rewarded", f"payment:{payment}")
    assert len(evaluated) == 2


async def test_steps_qualify_once_the_count_is_reached(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        actors: Actors, evaluated: Calls) -> None:
    await program(client, actors, "steps", steps_required=10_000)
    referrer = await sign_up(client, connection)
    referee = await sign_up(client, connection, referrer.user["referral_code"])
    assert await service.steps_reported(session, user_id(referee), 9_999) is False
    assert await service.steps_reported(session, user_id(referee), 10_000) is True
    assert await service.steps_reported(session, user_id(referee), 20_000) is False
    assert await service.steps_reported(session, user_id(referrer), 20_000) is False
    assert (await referral_of(connection, user_id(referee)) or {})["status"] == "rewarded"
    assert len(evaluated) == 2


async def test_the_referral_tier_is_chosen_by_the_referrers_count(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        actors: Actors, evaluated: Calls) -> None:
    admin = actors.admin(*ADMIN)
    for label, least, bp in (("Friend", 0, 10_000), ("Star", 2, 15_000), ("Hero", 3, 20_000)):
        r = await client.post("/v1/admin/referral-tiers", headers=admin, json={
            "label": label, "min_referrals": least, "multiplier_bp": bp})
        assert r.status_code == 201, r.text
    r = await client.post("/v1/admin/referral-tiers", headers=admin, json={
        "label": "Again", "min_referrals": 2, "multiplier_bp": 1})
    assert_problem(r, 409, "referral_tier_exists", "min_referrals")
    referrer = await sign_up(client, connection)
    referees = [await sign_up(client, connection, referrer.user["referral_code"])
                for _ in range(3)]
    seen = []
    for referee in referees:
        await order_completed(session, user_id(referee))
        row = await referral_of(connection, user_id(referee)) or {}
        seen.append((row["referral_count"], row["tier_label"], row["multiplier_bp"]))
    assert seen == [(1, "Friend", 10_000), (2, "Star", 15_000), (3, "Hero", 20_000)]
    assert [c[2]["multiplier_bp"] for c in evaluated] == [10_000] * 2 + [15_000] * 2 + [
        20_000] * 2

    me = (await client.get("/v1/me/referrals", headers=referrer.headers)).json()
    assert me["tier"]["current"]["label"] == "Hero" and me["tier"]["next"] is None
    assert me["counts"] == {"pending": 0, "qualified": 0, "rewarded": 3, "refused": 0}


async def test_my_referrals_show_referees_masked_with_tier_progress(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        actors: Actors) -> None:
    admin = actors.admin(*ADMIN)
    for label, least in (("Friend", 0), ("Star", 2)):
        await client.post("/v1/admin/referral-tiers", headers=admin, json={
            "label": label, "min_referrals": least, "multiplier_bp": 10_000 + least})
    referrer = await sign_up(client, connection)
    first = await sign_up(client, connection, referrer.user["referral_code"])
    r = await client.patch("/v1/me", headers=first.headers, json={"name": "Ravi Kumar"})
    assert r.status_code == 200, r.text
    second = await sign_up(client, connection, referrer.user["referral_code"])
    await order_completed(session, user_id(first))

    r = await client.get("/v1/me/referrals", headers=referrer.headers, params={"limit": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code"] == referrer.user["referral_code"]
    assert referrer.user["referral_code"] in body["share_text"]
    assert body["counts"] == {"pending": 1, "qualified": 0, "rewarded": 1, "refused": 0}
    assert body["tier"]["current"]["label"] == "Friend"
    assert (body["tier"]["next"]["label"], body["tier"]["referrals_to_next"]) == ("Star", 1)
    assert [(i["referee"], i["status"]) for i in body["items"]] == [("New member", "pending")]
    r = await client.get("/v1/me/referrals", headers=referrer.headers,
                         params={"limit": 1, "cursor": body["next_cursor"]})
    assert [(i["referee"], i["status"]) for i in r.json()["items"]] == [("R*** K***",
                                                                          "rewarded")]
    assert r.json()["next_cursor"] is None
    for signed in (first, second):
        assert signed.phone not in r.text and signed.phone[-4:] not in body["share_text"]
        assert signed.user["id"] not in r.text
    r = await client.get("/v1/me/referrals", headers=referrer.headers,
                         params={"cursor": "nope"})
    assert_problem(r, 422, "invalid_cursor", "cursor")


# -- fraud ------------------------------------------------------------------------------------

async def test_the_referrers_own_device_is_refused_and_logged(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        actors: Actors, evaluated: Calls) -> None:
    referrer = await sign_up(client, connection, device="shared-phone")
    referee = await sign_up(client, connection, referrer.user["referral_code"],
                            device="shared-phone")
    assert referee.user["referred_by_id"] == referrer.user["id"]  # the sign-up went through
    row = await referral_of(connection, user_id(referee)) or {}
    assert (row["status"], row["refused_reason"]) == ("refused", "same_device")
    [(kind, details)] = await risk_events(connection, user_id(referee))
    assert kind == "same_device" and details["device_id"] == "shared-phone"
    assert details["referrer_id"] == referrer.user["id"]
    # Refused stays refused: the condition met later rewards nobody.
    await order_completed(session, user_id(referee))
    assert (await referral_of(connection, user_id(referee)) or {})["status"] == "refused"
    assert evaluated == []

    r = await client.get("/v1/admin/referral-risk-events", headers=actors.admin(ADMIN[0]),
                         params={"user_id": referee.user["id"]})
    assert r.status_code == 200, r.text
    assert [(e["kind"], e["referral_id"]) for e in r.json()["items"]] == [
        ("same_device", str(row["id"]))]
    r = await client.get("/v1/admin/referrals", headers=actors.admin(ADMIN[0]),
                         params={"status": "refused", "referrer_id": referrer.user["id"]})
    assert [i["refused_reason"] for i in r.json()["items"]] == ["same_device"]


async def test_a_device_seen_on_another_referee_is_a_ring(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    referrer = await sign_up(client, connection, device="a")
    first = await sign_up(client, connection, referrer.user["referral_code"], device="burner")
    second = await sign_up(client, connection, referrer.user["referral_code"], device="burner")
    assert (await referral_of(connection, user_id(first)) or {})["status"] == "pending"
    row = await referral_of(connection, user_id(second)) or {}
    assert (row["status"], row["refused_reason"]) == ("refused", "ring_device")
    [(kind, details)] = await risk_events(connection, user_id(second))
    assert (kind, details["other_user_id"]) == ("ring_device", first.user["id"])


async def test_a_device_of_the_referrers_own_referrer_is_a_ring(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    upline = await sign_up(client, connection, device="upline-phone")
    referrer = await sign_up(client, connection, upline.user["referral_code"], device="b")
    referee = await sign_up(client, connection, referrer.user["referral_code"],
                            device="upline-phone")
    row = await referral_of(connection, user_id(referee)) or {}
    assert (row["status"], row["refused_reason"]) == ("refused", "ring_device")


async def test_a_number_referred_again_after_deleting_the_account_is_a_ring(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    rewind_clock()
    referrer = await sign_up(client, connection)
    first = await sign_up(client, connection, referrer.user["referral_code"])
    r = await client.delete("/v1/me", headers=first.headers)
    assert r.status_code == 204, r.text
    clock.advance(dt.timedelta(minutes=5))  # past the OTP cooldown
    again = await sign_up(client, connection, referrer.user["referral_code"], phone=first.phone)
    assert again.user["id"] != first.user["id"]
    row = await referral_of(connection, user_id(again)) or {}
    assert (row["status"], row["refused_reason"]) == ("refused", "ring_phone")
    [(kind, details)] = await risk_events(connection, user_id(again))
    earlier = await referral_of(connection, user_id(first)) or {}
    assert (kind, details["earlier_referral_id"]) == ("ring_phone", str(earlier["id"]))
    assert first.phone not in str(details)


async def test_a_shared_payout_account_is_refused_at_qualification(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        monkeypatch: pytest.MonkeyPatch, evaluated: Calls) -> None:
    async def same_bank(session: AsyncSession, user: uuid.UUID) -> str:
        return "bank:HDFC0001:1234"

    referrer = await sign_up(client, connection)
    referee = await sign_up(client, connection, referrer.user["referral_code"])
    monkeypatch.setattr(fraud, "payout_account_of", same_bank)
    await order_completed(session, user_id(referee))
    row = await referral_of(connection, user_id(referee)) or {}
    assert (row["status"], row["refused_reason"]) == ("refused", "same_payout_account")
    assert [k for k, _ in await risk_events(connection, user_id(referee))] == [
        "same_payout_account"]
    assert evaluated == []


async def test_self_referral_and_the_referrers_phone_are_refused(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession) -> None:
    """Identity never lets these through a sign-up (a code is someone else's, a live phone is
    one account's); the event alone, told as if they had, is still refused."""
    from gullak.kit.events import Event

    referrer = await sign_up(client, connection)
    me = user_id(referrer)
    await service.user_signed_up(session, Event("user.signed_up", {
        "user_id": str(me), "referred_by_id": str(me), "device_id": None, "channel": "otp"}))
    row = await referral_of(connection, me) or {}
    assert (row["status"], row["refused_reason"]) == ("refused", "self_referral")
    assert [k for k, _ in await risk_events(connection, me)] == ["self_referral"]


async def test_a_referral_is_recorded_once_per_referee(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession) -> None:
    from gullak.kit.events import Event

    referrer = await sign_up(client, connection)
    referee = await sign_up(client, connection, referrer.user["referral_code"])
    await service.user_signed_up(session, Event("user.signed_up", {
        "user_id": referee.user["id"], "referred_by_id": referrer.user["id"],
        "device_id": "x", "channel": "otp"}))
    count = await connection.scalar(text("SELECT count(*) FROM referrals WHERE referee_id = :u"),
                                    {"u": user_id(referee)})
    assert count == 1
    # No code, no referral.
    plain = await sign_up(client, connection)
    assert await referral_of(connection, user_id(plain)) is None


# -- programs ---------------------------------------------------------------------------------

async def test_one_program_is_active_and_referrals_keep_their_condition(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        actors: Actors) -> None:
    first = await program(client, actors, "first_order")
    referrer = await sign_up(client, connection)
    early = await sign_up(client, connection, referrer.user["referral_code"])
    second = await program(client, actors, "first_topup", commission_bp=500)
    programs = (await client.get("/v1/admin/referral-programs",
                                 headers=actors.admin(ADMIN[0]))).json()
    assert {p["id"]: p["active"] for p in programs if p["id"] in (
        first["id"], second["id"])} == {first["id"]: False, second["id"]: True}
    late = await sign_up(client, connection, referrer.user["referral_code"])
    assert (await referral_of(connection, user_id(early)) or {})["condition"] == "first_order"
    assert (await referral_of(connection, user_id(late)) or {})["condition"] == "first_topup"

    admin = actors.admin(*ADMIN)
    r = await client.put(f"/v1/admin/referral-programs/{second['id']}", headers=admin, json={
        "name": first["name"], "condition": "first_topup"})
    assert_problem(r, 409, "referral_program_exists", "name")
    r = await client.post("/v1/admin/referral-programs", headers=admin, json={
        "name": "No steps", "condition": "steps"})
    assert r.status_code == 422, r.text
    r = await client.put(f"/v1/admin/referral-programs/{uuid.uuid4()}", headers=admin, json={
        "name": "X", "condition": "first_order"})
    assert_problem(r, 404, "referral_program_not_found")
    audited = await connection.scalar(text(
        "SELECT count(*) FROM audit_log WHERE action LIKE 'referral_program.%'"))
    assert audited == 2


async def test_tiers_are_listed_and_deleted_by_admins(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    admin = actors.admin(*ADMIN)
    tier = await service.create_tier(session, TierIn(label="Gold", min_referrals=10,
                                                     multiplier_bp=20_000),
                                     _subject(admin, actors))
    r = await client.get("/v1/admin/referral-tiers", headers=admin)
    assert [t["label"] for t in r.json()] == ["Gold"]
    r = await client.delete(f"/v1/admin/referral-tiers/{tier.id}", headers=admin)
    assert r.status_code == 204
    r = await client.delete(f"/v1/admin/referral-tiers/{tier.id}", headers=admin)
    assert_problem(r, 404, "referral_tier_not_found")
    assert (await client.get("/v1/admin/referral-tiers", headers=admin)).json() == []


def _subject(headers: dict[str, str], actors: Actors) -> Any:
    return actors.subjects[headers["authorization"].removeprefix("Test ")]


async def test_a_program_is_validated_as_a_schema(session: AsyncSession) -> None:
    with pytest.raises(ValueError):
        ProgramIn(name="Walk", condition=Condition.first_order, steps_required=5)
    assert ProgramIn(name="Walk", condition=Condition.steps, steps_required=5).steps_required
