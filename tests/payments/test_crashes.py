"""A process that stops right after a provider call, before the outcome is recorded, leaves no
money unaccounted: the intent was committed before the call, and the retry or the periodic
check completes it with the same key, so the provider moves the money once."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from sqlalchemy import text

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger.verify import verify_database
from gullak.payments import flows, gateways, service
from gullak.payments.gateways.base import GatewayOrder, PaymentRequest
from gullak.payments.gateways.sandbox import Sandbox
from tests.payments.support import PUBLIC_URL, SANDBOX_SECRET, as_user, count, run_payment_jobs
from tests.payments.test_refunds import clearing_balance, paid_topup


class Stopped(Exception):
    """The process stops (a deploy, an out-of-memory kill) after the provider answered."""


class StopsAfterTheCall(Sandbox):
    """The sandbox, whose answer never reaches us the first time it is asked."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, SANDBOX_SECRET, public_url=PUBLIC_URL)
        self.stop = True

    async def create(self, payment: PaymentRequest) -> GatewayOrder:
        order = await super().create(payment)
        if self.stop:
            self.stop = False
            raise Stopped
        return order

    async def refund(self, ref: str, amount: int, key: str) -> str:
        done = await super().refund(ref, amount, key)
        if self.stop:
            self.stop = False
            raise Stopped
        return done


async def sandbox_refunded(db: Database, ref: str) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(text(
            "SELECT refunded FROM payment_sandbox_orders WHERE ref = :r"), {"r": ref}))


async def test_stopped_after_the_refund_call_the_check_completes_it_once(
        pay: httpx.AsyncClient, fresh_db: Database, sandbox: Sandbox) -> None:
    user = uuid.uuid4()
    topup = await paid_topup(pay, fresh_db, user)
    payment_id = uuid.UUID(topup["id"])
    flaky = StopsAfterTheCall(fresh_db)
    with gateways.override(flaky):
        try:
            await flows.refund(fresh_db, payment_id, 4_000, "refund-stopped")
        except Stopped:
            pass
        else:
            raise AssertionError("the refund call should have stopped the process")
        # The intent is there and its money is back in clearing; the provider refunded.
        async with fresh_db.engine.connect() as conn:
            pending = (await conn.execute(text(
                "SELECT status, amount FROM payment_refunds"))).all()
        assert [tuple(r) for r in pending] == [("pending", 4_000)]
        assert await clearing_balance(fresh_db) == -10_000 + 4_000
        assert await sandbox_refunded(fresh_db, topup["gateway_ref"]) == 4_000

        # The periodic check asks again with the same key: one refund at the provider.
        assert await flows.check_overdue(fresh_db, dt.timedelta(minutes=30)) == 0
        assert await flows.check_overdue(fresh_db, dt.timedelta(0)) == 1
        assert await flows.check_overdue(fresh_db, dt.timedelta(0)) == 0
    async with unit_of_work(fresh_db) as session:
        payment = await service.get_payment(session, payment_id)
    assert payment.refunded_amount == 4_000
    assert await sandbox_refunded(fresh_db, topup["gateway_ref"]) == 4_000
    assert await count(fresh_db, "payment_refunds", "status = 'succeeded'") == 1
    assert await count(fresh_db, "ledger_transfers", "kind = 'refund'") == 1
    assert await clearing_balance(fresh_db) == -6_000
    assert (await verify_database(fresh_db)).ok


async def test_stopped_after_the_create_call_the_paid_order_is_found(
        pay: httpx.AsyncClient, fresh_db: Database, sandbox: Sandbox) -> None:
    """The provider made its order, we never heard: the payment stays 'created' (its intent)
    and the person's payment arrives as an event for no payment we know. The client asks to
    start again: the same provider order (the sandbox's is keyed by our payment id) is
    recorded, and the periodic check applies what the provider says, once."""
    user, order_id = uuid.uuid4(), str(uuid.uuid4())
    async with unit_of_work(fresh_db) as session:
        created = await service.create_payment(session, user_id=user, purpose="order",
                                               reference_id=order_id, amount=9_000,
                                               key=f"order:{order_id}", gateway="sandbox")
    flaky = StopsAfterTheCall(fresh_db)
    with gateways.override(flaky):
        try:
            await flows.start(fresh_db, created.id, user_id=user)
        except Stopped:
            pass
        ref = f"sandbox_{created.id.hex}"
        async with unit_of_work(fresh_db) as session:
            assert (await service.get_payment(session, created.id)).status == "created"
        await pay.post(f"/v1/payments/sandbox/{ref}", params={"outcome": "paid"})
        assert await run_payment_jobs(fresh_db) == ["unknown_payment"]

        r = await pay.post(f"/v1/payments/{created.id}/start", headers=as_user(user))
        assert r.status_code == 200 and r.json()["gateway_ref"] == ref
        assert await flows.check_overdue(fresh_db, dt.timedelta(0)) == 1
        assert await flows.check_overdue(fresh_db, dt.timedelta(0)) == 0
    async with unit_of_work(fresh_db) as session:
        assert (await service.get_payment(session, created.id)).status == "succeeded"
    assert await count(fresh_db, "ledger_transfers", "kind = 'payment'") == 1
    assert await clearing_balance(fresh_db) == -9_000
    assert (await verify_database(fresh_db)).ok
