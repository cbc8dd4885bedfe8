"""Colleges, student verification and ambassadors over HTTP: the admin's colleges, a student's
claim reviewed (audited), an ambassador's application approved with a commission, commission
paid once per qualified referral into the ambassador's INR commission account (read back from
the ledger), and every endpoint's refusal of the wrong subject."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.ledger import service as ledger
from gullak.ledger.schemas import OwnerType
from gullak.ledger.verify import verify
from tests.helpers.offers import Actors
from tests.helpers.problems import assert_problem
from tests.helpers.users import SignedIn
from tests.orders.support import platform_balance
from tests.referrals.support import order_completed, referral_of, sign_up, user_id

pytestmark = pytest.mark.usefixtures("assets")
ADMIN = ("referrals.read", "referrals.manage")


async def college(client: httpx.AsyncClient, actors: Actors, **extra: Any) -> dict[str, Any]:
    r = await client.post("/v1/admin/colleges", headers=actors.admin(*ADMIN), json={
        "name": f"College {uuid.uuid4().hex[:6]}", "city": "Pune", "domain": "coep.ac.in",
        **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def verified_student(client: httpx.AsyncClient, connection: AsyncConnection,
                           actors: Actors, college_id: str) -> SignedIn:
    student = await sign_up(client, connection)
    r = await client.post("/v1/me/college", headers=student.headers, json={
        "college_id": college_id, "student_id_number": "COEP-2024-117",
        "document_ref": "uploads/id-cards/abc123.jpg"})
    assert r.status_code == 201, r.text
    r = await client.post(f"/v1/admin/student-verifications/{r.json()['id']}/review",
                          headers=actors.admin(*ADMIN), json={"decision": "approve"})
    assert r.status_code == 200, r.text
    return student


async def test_colleges_are_kept_by_admins_and_listed_to_users(
        client: httpx.AsyncClient, connection: AsyncConnection, actors: Actors) -> None:
    admin = actors.admin(*ADMIN)
    open_one = await college(client, actors, name="College of Engineering")
    r = await client.post("/v1/admin/colleges", headers=admin, json={
        "name": "college of engineering", "city": "PUNE"})
    assert_problem(r, 409, "college_exists", "name")
    closed = await college(client, actors, status="inactive")
    r = await client.put(f"/v1/admin/colleges/{closed['id']}", headers=admin, json={
        "name": closed["name"], "city": "Mumbai", "status": "inactive"})
    assert r.status_code == 200 and r.json()["city"] == "Mumbai"
    r = await client.post("/v1/admin/colleges", headers=admin, json={
        "name": "X", "city": "Y", "domain": "not a domain"})
    assert_problem(r, 422, "validation_error")

    user = await sign_up(client, connection)
    r = await client.get("/v1/colleges", headers=user.headers, params={"city": "pune"})
    ids = [c["id"] for c in r.json()]
    assert open_one["id"] in ids and closed["id"] not in ids
    r = await client.post("/v1/me/college", headers=user.headers, json={
        "college_id": closed["id"], "student_id_number": "1", "document_ref": "doc"})
    assert_problem(r, 422, "college_unavailable", "college_id")
    r = await client.post("/v1/me/college", headers=user.headers, json={
        "college_id": str(uuid.uuid4()), "student_id_number": "1", "document_ref": "doc"})
    assert_problem(r, 404, "college_not_found", "college_id")
    audited = await connection.scalar(text(
        "SELECT count(*) FROM audit_log WHERE action LIKE 'college.%'"))
    assert audited == 3


async def test_a_claim_is_reviewed_once_and_a_rejected_student_may_claim_again(
        client: httpx.AsyncClient, connection: AsyncConnection, actors: Actors) -> None:
    place = await college(client, actors)
    student = await sign_up(client, connection)
    body = {"college_id": place["id"], "student_id_number": "S-1", "document_ref": "doc/1"}
    r = await client.post("/v1/me/college", headers=student.headers, json=body)
    assert r.status_code == 201 and r.json()["status"] == "pending"
    claim = r.json()["id"]
    r = await client.post("/v1/me/college", headers=student.headers, json=body)
    assert_problem(r, 409, "student_verification_exists")

    admin = actors.admin(*ADMIN)
    queue = (await client.get("/v1/admin/student-verifications", headers=admin)).json()
    assert claim in [c["id"] for c in queue]
    r = await client.post(f"/v1/admin/student-verifications/{claim}/review", headers=admin,
                          json={"decision": "reject"})
    assert_problem(r, 422, "validation_error")
    r = await client.post(f"/v1/admin/student-verifications/{claim}/review", headers=admin,
                          json={"decision": "reject", "reason": "The ID card is unreadable"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    r = await client.post(f"/v1/admin/student-verifications/{claim}/review", headers=admin,
                          json={"decision": "approve"})
    assert_problem(r, 409, "already_reviewed")
    action = await connection.scalar(text(
        "SELECT action FROM audit_log WHERE entity_id = :c"), {"c": claim})
    assert action == "student_verification.reject"

    # Rejected: not a student, and free to claim again.
    assert_problem(await client.post("/v1/me/ambassador", headers=student.headers), 422,
                   "not_a_verified_student")
    r = await client.post("/v1/me/college", headers=student.headers, json=body)
    assert r.status_code == 201, r.text
    mine = (await client.get("/v1/me/college", headers=student.headers)).json()
    assert [c["status"] for c in mine] == ["pending", "rejected"]


async def test_an_ambassadors_referrals_pay_commission_once_into_a_withdrawable_account(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        actors: Actors) -> None:
    admin = actors.admin(*ADMIN)
    r = await client.post("/v1/admin/referral-programs", headers=admin, json={
        "name": "Campus", "condition": "first_order", "commission_amount": 2_000,
        "active": True})
    assert r.status_code == 201, r.text
    place = await college(client, actors)
    student = await verified_student(client, connection, actors, place["id"])
    r = await client.post("/v1/me/ambassador", headers=student.headers)
    assert r.status_code == 201 and r.json()["status"] == "applied"
    assert r.json()["code"] == student.user["referral_code"]
    assert_problem(await client.post("/v1/me/ambassador", headers=student.headers), 409,
                   "ambassador_exists")
    ambassador = r.json()["id"]
    applied = (await client.get("/v1/admin/ambassadors", headers=admin,
                                params={"status": "applied"})).json()
    assert ambassador in [a["id"] for a in applied]
    r = await client.post(f"/v1/admin/ambassadors/{ambassador}/review", headers=admin, json={
        "decision": "approve", "commission_amount": 5_000, "commission_bp": 1_000})
    assert r.status_code == 200 and r.json()["status"] == "active", r.text

    referee = await sign_up(client, connection, student.user["referral_code"])
    order = uuid.uuid4()
    await order_completed(session, user_id(referee), total=20_000, order_id=order)
    await order_completed(session, user_id(referee), total=20_000, order_id=order)
    await order_completed(session, user_id(referee), total=90_000)
    row = await referral_of(connection, user_id(referee)) or {}
    # The ambassador's own terms: ₹50 plus 10% of the ₹200 order.
    assert (row["status"], row["commission"]) == ("rewarded", 7_000)

    account = await ledger.find_account(session, OwnerType.user, user_id(student), "INR",
                                        "commission")
    assert account is not None
    assert (await ledger.balance(session, account.id)).available == 7_000
    assert await platform_balance(session, "INR", "referral_commission") == -7_000
    transfers = await connection.scalar(text(
        "SELECT count(*) FROM ledger_transfers WHERE reference_type = 'referral'"
        " AND reference_id = :r"), {"r": str(row["id"])})
    assert transfers == 1

    # A referral that is not the ambassador's pays nothing; the program's terms otherwise.
    stranger = await sign_up(client, connection)
    theirs = await sign_up(client, connection, stranger.user["referral_code"])
    await order_completed(session, user_id(theirs))
    assert (await referral_of(connection, user_id(theirs)) or {})["commission"] is None

    r = await client.get("/v1/me/ambassador", headers=student.headers)
    assert r.status_code == 200, r.text
    mine = r.json()
    assert (mine["commission_earned"], mine["commission_balance"]) == (7_000, 7_000)
    assert mine["referrals"]["rewarded"] == 1 and mine["ambassador"]["code"] == (
        student.user["referral_code"])
    assert_problem(await client.get("/v1/me/ambassador", headers=stranger.headers), 404,
                   "ambassador_not_found")
    r = await client.get("/v1/admin/referrals", headers=actors.admin(ADMIN[0]),
                         params={"ambassador_id": ambassador})
    assert [i["commission"] for i in r.json()["items"]] == [7_000]
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]


async def test_the_programs_default_commission_applies_without_terms_of_its_own(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        actors: Actors) -> None:
    admin = actors.admin(*ADMIN)
    await client.post("/v1/admin/referral-programs", headers=admin, json={
        "name": "Campus default", "condition": "first_order", "commission_bp": 500,
        "active": True})
    place = await college(client, actors)
    student = await verified_student(client, connection, actors, place["id"])
    ambassador = (await client.post("/v1/me/ambassador", headers=student.headers)).json()["id"]
    r = await client.post(f"/v1/admin/ambassadors/{ambassador}/review", headers=admin,
                          json={"decision": "approve"})
    assert r.status_code == 200, r.text
    referee = await sign_up(client, connection, student.user["referral_code"])
    await order_completed(session, user_id(referee), total=40_000)
    assert (await referral_of(connection, user_id(referee)) or {})["commission"] == 2_000


# -- who may call what ------------------------------------------------------------------------

ID = "01900000-0000-7000-8000-000000000001"
USER_ENDPOINTS = [("GET", "/v1/me/referrals"), ("GET", "/v1/colleges"),
                  ("POST", "/v1/me/college"), ("GET", "/v1/me/college"),
                  ("POST", "/v1/me/ambassador"), ("GET", "/v1/me/ambassador")]
READ_ENDPOINTS = [("GET", "/v1/admin/referrals"), ("GET", f"/v1/admin/referrals/{ID}"),
                  ("GET", "/v1/admin/referral-risk-events"),
                  ("GET", "/v1/admin/referral-programs"), ("GET", "/v1/admin/referral-tiers"),
                  ("GET", "/v1/admin/colleges"), ("GET", "/v1/admin/student-verifications"),
                  ("GET", "/v1/admin/ambassadors")]
MANAGE_ENDPOINTS = [("POST", "/v1/admin/referral-programs"),
                    ("PUT", f"/v1/admin/referral-programs/{ID}"),
                    ("POST", "/v1/admin/referral-tiers"),
                    ("DELETE", f"/v1/admin/referral-tiers/{ID}"),
                    ("POST", "/v1/admin/colleges"), ("PUT", f"/v1/admin/colleges/{ID}"),
                    ("POST", f"/v1/admin/student-verifications/{ID}/review"),
                    ("POST", f"/v1/admin/ambassadors/{ID}/review")]


@pytest.mark.parametrize(("method", "path"),
                         USER_ENDPOINTS + READ_ENDPOINTS + MANAGE_ENDPOINTS)
async def test_every_endpoint_wants_a_subject(client: httpx.AsyncClient, method: str,
                                              path: str) -> None:
    assert_problem(await client.request(method, path), 401, "unauthorized")


async def test_every_endpoint_refuses_the_wrong_subject(client: httpx.AsyncClient,
                                                        actors: Actors) -> None:
    for method, path in USER_ENDPOINTS:
        r = await client.request(method, path, headers=actors.admin())
        assert_problem(r, 403, "forbidden")
    for method, path in READ_ENDPOINTS + MANAGE_ENDPOINTS:
        r = await client.request(method, path, headers=actors.user(uuid.uuid4()))
        assert_problem(r, 403, "forbidden")
    # Reading does not let an admin change anything.
    for method, path in MANAGE_ENDPOINTS:
        r = await client.request(method, path, headers=actors.admin("referrals.read"),
                                 json={})
        assert_problem(r, 403, "forbidden")
        assert r.json()["permission"] == "referrals.manage"
    for method, path in READ_ENDPOINTS:
        r = await client.request(method, path, headers=actors.admin("referrals.manage"))
        assert_problem(r, 403, "forbidden")
