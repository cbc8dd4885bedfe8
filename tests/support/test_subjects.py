"""A ticket's subject must be the user's own, as its domain says: another user's payment, or
an order, withdrawal or redemption that is not theirs, is refused with nothing written."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.payments import service as payments
from tests.helpers.problems import assert_problem
from tests.helpers.state import count
from tests.helpers.users import SignedIn
from tests.support.tickets import open_ticket


async def tickets(connection: AsyncConnection) -> int:
    return await count(connection, "SELECT count(*) FROM support_tickets")


async def test_about_my_own_payment(api: httpx.AsyncClient, session: AsyncSession,
                                    connection: AsyncConnection, alice: SignedIn,
                                    bob: SignedIn) -> None:
    payment = await payments.create_payment(
        session, user_id=uuid.UUID(alice.user["id"]), purpose="topup", reference_id="topup",
        amount=10_000, key=f"support-{uuid.uuid4()}")
    ticket = await open_ticket(api, alice, subject_type="payment",
                               subject_id=str(payment.id), category="payment")
    assert (ticket["subject_type"], ticket["subject_id"]) == ("payment", str(payment.id))
    before = await tickets(connection)
    r = await api.post("/v1/me/tickets", headers=bob.headers, json={
        "title": "t", "body": "b", "subject_type": "payment", "subject_id": str(payment.id)})
    assert_problem(r, 422, "ticket_subject_not_found", field="subject_id")
    assert await tickets(connection) == before


@pytest.mark.parametrize("kind", ["order", "payment", "withdrawal", "redemption"])
async def test_unknown_subjects_are_refused(api: httpx.AsyncClient,
                                            connection: AsyncConnection, alice: SignedIn,
                                            kind: str) -> None:
    r = await api.post("/v1/me/tickets", headers=alice.headers, json={
        "title": "t", "body": "b", "subject_type": kind, "subject_id": str(uuid.uuid4())})
    assert_problem(r, 422, "ticket_subject_not_found", field="subject_id")
    assert await tickets(connection) == 0


@pytest.mark.parametrize(("kind", "subject"), [
    ("general", "01900000-0000-7000-8000-000000000001"), ("order", None), ("payment", None)])
async def test_subject_type_and_id_go_together(api: httpx.AsyncClient,
                                               connection: AsyncConnection, alice: SignedIn,
                                               kind: str, subject: str | None) -> None:
    r = await api.post("/v1/me/tickets", headers=alice.headers, json={
        "title": "t", "body": "b", "subject_type": kind, "subject_id": subject})
    assert_problem(r, 422, "invalid_ticket_subject", field="subject_id")
    assert await tickets(connection) == 0
