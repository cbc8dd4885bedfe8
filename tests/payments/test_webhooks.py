"""Webhooks: verified before anything else, stored once per event id, processed exactly once,
in any order, and a late failure never undoes a success."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak import domains
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import events
from gullak.ledger.verify import verify_database
from gullak.payments import errors, flows, service
from gullak.payments.gateways.base import GatewayOrder
from tests.helpers.problems import assert_problem
from tests.payments.support import (
    SANDBOX_SECRET,
    as_user,
    count,
    run_payment_jobs,
    signed,
    wallet,
)

HOOK = "/v1/payments/webhooks/sandbox"


@pytest.fixture
def published(pay: httpx.AsyncClient) -> Iterator[list[events.Event]]:
    """The payment events published, as a handler contributed by another domain sees them
    (installed after the app, whose making wires the domains' own)."""
    seen: list[events.Event] = []

    async def record(session: AsyncSession, event: events.Event) -> None:
        seen.append(event)

    events.install({name: [record] for name in
                    ("payment.succeeded", "payment.failed", "payment.refunded")})
    yield seen
    domains.install()


async def started(pay: httpx.AsyncClient, user: uuid.UUID, amount: int = 5_000) -> Any:
    r = await pay.post("/v1/me/topups", json={"amount": amount}, headers=as_user(user))
    assert r.status_code == 201, r.text
    return r.json()


def event(ref: str, status: str, amount: int, event_id: str | None = None) -> dict[str, Any]:
    return {"event_id": event_id or f"evt_{uuid.uuid4().hex}", "ref": ref, "status": status,
            "amount": amount}


async def test_bad_signature_is_refused_logged_and_not_stored(
        pay: httpx.AsyncClient, fresh_db: Database) -> None:
    topup = await started(pay, uuid.uuid4())
    raw, headers = signed(event(topup["gateway_ref"], "paid", 5_000), secret="wrong")
    with structlog.testing.capture_logs() as logs:
        r = await pay.post(HOOK, content=raw, headers=headers)
    assert_problem(r, 401, "invalid_signature")
    assert any(e["event"] == "webhook_invalid_signature" for e in logs)
    unsigned = {k: v for k, v in headers.items() if k != "x-sandbox-signature"}
    assert_problem(await pay.post(HOOK, content=raw, headers=unsigned), 401, "invalid_signature")
    assert await count(fresh_db, "gateway_events") == 0
    assert await count(fresh_db, "procrastinate_jobs",
                       "task_name = 'payments.process_event'") == 0


async def test_unknown_gateway_and_bad_bodies(pay: httpx.AsyncClient,
                                              fresh_db: Database) -> None:
    raw, headers = signed(event("x", "paid", 1))
    assert_problem(await pay.post("/v1/payments/webhooks/paypal", content=raw, headers=headers),
                   404, "unknown_gateway")
    # Signed, but not an event: refused, nothing stored.
    for body in (b"[1, 2]", b'{"ref": "x"}', b"not json"):
        good = {"x-sandbox-signature": hmac.new(SANDBOX_SECRET.encode(), body,
                                                hashlib.sha256).hexdigest(),
                "content-type": "application/json"}
        assert_problem(await pay.post(HOOK, content=body, headers=good), 422, "invalid_webhook")
    assert await count(fresh_db, "gateway_events") == 0


async def test_event_for_an_unknown_payment_is_stored_and_ignored(
        pay: httpx.AsyncClient, fresh_db: Database, published: list[events.Event]) -> None:
    raw, headers = signed(event("sandbox_nobody", "paid", 5_000, "evt_orphan"))
    r = await pay.post(HOOK, content=raw, headers=headers)
    assert r.status_code == 200 and r.json() == {"received": True, "duplicate": False}
    assert await run_payment_jobs(fresh_db) == ["unknown_payment"]
    assert await count(fresh_db, "gateway_events", "outcome = 'unknown_payment'") == 1
    assert await count(fresh_db, "payments") == 0
    assert published == []


async def test_ten_copies_at_once_have_one_effect(
        pay: httpx.AsyncClient, fresh_db: Database, published: list[events.Event]) -> None:
    user = uuid.uuid4()
    topup = await started(pay, user, 7_500)
    raw, headers = signed(event(topup["gateway_ref"], "paid", 7_500, "evt_once"))
    answers = await asyncio.gather(*(pay.post(HOOK, content=raw, headers=headers)
                                     for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 9
    assert await count(fresh_db, "gateway_events") == 1
    assert await count(fresh_db, "procrastinate_jobs",
                       "task_name = 'payments.process_event'") == 1
    assert await run_payment_jobs(fresh_db) == ["succeeded"]
    assert await wallet(fresh_db, user) == 7_500
    assert [e.name for e in published] == ["payment.succeeded"]
    assert published[0].data == {
        "payment_id": topup["id"], "purpose": "topup", "reference_id": f"topup:{user}",
        "user_id": str(user), "amount": 7_500, "currency": "INR"}
    # The job run again (a retry) finds the event processed.
    event_id = await _event_row(fresh_db, "evt_once")
    async with unit_of_work(fresh_db) as session:
        assert await service.process_event(session, event_id) == "succeeded"
    # The same capture under another event id (the provider's order.paid) credits nothing.
    raw, headers = signed(event(topup["gateway_ref"], "paid", 7_500, "evt_other"))
    await pay.post(HOOK, content=raw, headers=headers)
    assert await run_payment_jobs(fresh_db) == ["already_succeeded"]
    assert await wallet(fresh_db, user) == 7_500
    assert len(published) == 1
    assert (await verify_database(fresh_db)).ok


async def test_late_failure_never_undoes_a_success(
        pay: httpx.AsyncClient, fresh_db: Database, published: list[events.Event]) -> None:
    user = uuid.uuid4()
    topup = await started(pay, user)
    for status, name in (("paid", "evt_paid"), ("failed", "evt_failed_late")):
        raw, headers = signed(event(topup["gateway_ref"], status, 5_000, name))
        assert (await pay.post(HOOK, content=raw, headers=headers)).status_code == 200
    assert await run_payment_jobs(fresh_db) == ["succeeded", "ignored_succeeded"]
    r = await pay.get(f"/v1/payments/{topup['id']}", headers=as_user(user))
    assert r.json()["status"] == "succeeded"
    assert await wallet(fresh_db, user) == 5_000
    assert [e.name for e in published] == ["payment.succeeded"]


async def test_capture_after_a_failed_attempt_still_succeeds(
        pay: httpx.AsyncClient, fresh_db: Database, published: list[events.Event]) -> None:
    """A failed attempt, then a successful retry at the provider: the money was taken."""
    user = uuid.uuid4()
    topup = await started(pay, user)
    for status, name in (("failed", "evt_f"), ("paid", "evt_p")):
        raw, headers = signed(event(topup["gateway_ref"], status, 5_000, name))
        await pay.post(HOOK, content=raw, headers=headers)
    assert await run_payment_jobs(fresh_db) == ["failed", "succeeded"]
    assert await wallet(fresh_db, user) == 5_000
    assert [e.name for e in published] == ["payment.failed", "payment.succeeded"]
    assert published[0].data["status"] == "failed"


async def test_a_captured_amount_that_differs_is_not_credited(
        pay: httpx.AsyncClient, fresh_db: Database) -> None:
    user = uuid.uuid4()
    topup = await started(pay, user)
    raw, headers = signed(event(topup["gateway_ref"], "paid", 4_999))
    await pay.post(HOOK, content=raw, headers=headers)
    assert await run_payment_jobs(fresh_db) == ["amount_mismatch"]
    assert await wallet(fresh_db, user) == 0


async def test_gateway_events_are_append_only(pay: httpx.AsyncClient,
                                              fresh_db: Database) -> None:
    raw, headers = signed(event("sandbox_x", "paid", 1, "evt_kept"))
    await pay.post(HOOK, content=raw, headers=headers)
    await run_payment_jobs(fresh_db)
    for statement in ("UPDATE gateway_events SET payload = '{}'",
                      "UPDATE gateway_events SET outcome = 'changed'",
                      "DELETE FROM gateway_events"):
        with pytest.raises(Exception, match="append-only"):
            async with fresh_db.engine.begin() as conn:
                await conn.execute(text(statement))
    assert await count(fresh_db, "gateway_events", "outcome = 'unknown_payment'") == 1


async def test_order_payment_in_the_callers_unit_then_started(
        fresh_db: Database, pay: httpx.AsyncClient, published: list[events.Event]) -> None:
    """What orders do: create the payment inside their own unit of work (no provider call),
    start it afterwards, and hear of its success; the money waits in escrow."""
    user, order_id = uuid.uuid4(), str(uuid.uuid4())
    async with unit_of_work(fresh_db) as session:
        created = await service.create_payment(session, user_id=user, purpose="order",
                                               reference_id=order_id, amount=12_345,
                                               key=f"order:{order_id}")
        assert created.status == "created" and created.checkout_url is None
        assert created.invoice_number is None
    assert await count(fresh_db, "payment_sandbox_orders") == 0
    out = await flows.start(fresh_db, created.id)
    assert out.status == "pending" and out.checkout_url and out.gateway_ref
    assert (await flows.start(fresh_db, created.id)).gateway_ref == out.gateway_ref
    assert await count(fresh_db, "payment_attempts") == 1
    await pay.post(httpx.URL(out.checkout_url).path, params={"outcome": "paid"})
    assert await run_payment_jobs(fresh_db) == ["succeeded"]
    async with unit_of_work(fresh_db) as session:
        assert (await service.get_payment(session, created.id)).status == "succeeded"
    assert published[0].data["purpose"] == "order"
    assert published[0].data["reference_id"] == order_id
    assert await wallet(fresh_db, user) == 0  # an order's money is not the user's wallet
    async with fresh_db.engine.connect() as conn:
        escrow = await conn.scalar(text(
            "SELECT sum(b.balance) FROM ledger_balances b JOIN ledger_accounts a"
            " ON a.id = b.account_id WHERE a.purpose = 'order_escrow'"))
    assert escrow == 12_345


async def _event_row(db: Database, event_id: str) -> uuid.UUID:
    async with db.engine.connect() as conn:
        found = await conn.scalar(text("SELECT id FROM gateway_events WHERE event_id = :e"),
                                  {"e": event_id})
    assert found is not None
    return uuid.UUID(str(found))


async def test_a_payment_cancelled_while_its_provider_was_asked_keeps_the_answer_only(
        fresh_db: Database) -> None:
    """The provider's order is recorded (an event about it must find the payment) and so is
    the attempt, but a cancelled payment stays cancelled and sends nobody to pay it."""
    user, order_id = uuid.uuid4(), str(uuid.uuid4())
    async with unit_of_work(fresh_db) as session:
        created = await service.create_payment(session, user_id=user, purpose="order",
                                               reference_id=order_id, amount=4_200,
                                               key=f"order:{order_id}")
    async with unit_of_work(fresh_db) as session:
        _, request = await service.starting(session, created.id, user)
    assert request is not None
    async with unit_of_work(fresh_db) as session:  # the order is cancelled meanwhile
        assert await service.cancel_open(session, order_id) == 0
    order = GatewayOrder("sandbox_late", "http://pay.invalid/late", {"sandbox": True})
    with pytest.raises(errors.InvalidTransition):
        async with unit_of_work(fresh_db) as session:
            await service.record_started(session, created.id, order)
    async with unit_of_work(fresh_db) as session:
        payment = await service.get_payment(session, created.id)
    assert (payment.status, payment.gateway_ref, payment.checkout_url) == (
        "cancelled", "sandbox_late", None)
    assert await count(fresh_db, "payment_attempts", "payment_id = :p", p=created.id) == 1
