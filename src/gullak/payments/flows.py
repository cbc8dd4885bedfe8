"""Payments workflows that call a provider: each opens its own units of work, so the call
happens outside any database transaction (DESIGN §3). The intent is committed first, the
provider is called with an idempotency key (our payment id or refund key), and the outcome
is recorded in a unit of its own; a failed call is recorded too.

`settings` are the caller's (the app's `app.state.settings`, the job's): they hold the
gateways' credentials. A caller without them at hand leaves them out, and the gateways are
built from the process's settings.
"""

from __future__ import annotations

import datetime as dt
import uuid

import structlog

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.payments import errors, gateways, reconcile, service
from gullak.payments.common import load
from gullak.payments.gateways.base import GatewayError, GatewayStatus
from gullak.payments.schemas import Difference, PaymentOut, ReconcileOut, RefundOut
from gullak.settings import Settings

log = structlog.get_logger("gullak.payments")


async def start(db: Database, payment_id: uuid.UUID, *, user_id: uuid.UUID | None = None,
                settings: Settings | None = None) -> PaymentOut:
    """Ask the payment's gateway for an order (once) and return the payment with its checkout
    URL. `user_id`, when given, must own the payment."""
    async with unit_of_work(db) as session:
        payment, request = await service.starting(session, payment_id, user_id)
    if request is None:
        return payment
    gateway = gateways.get(payment.gateway, db, settings)
    try:
        order = await gateway.create(request)
    except GatewayError as exc:
        await _failed_call(db, payment_id, "create", exc)
        raise errors.GatewayFailed(exc.detail) from None
    async with unit_of_work(db) as session:
        return await service.record_started(session, payment_id, order)


async def topup(db: Database, settings: Settings, user_id: uuid.UUID, amount: int,
                key: str) -> PaymentOut:
    """A top-up of the user's INR wallet, started at its gateway at once: its invoice number
    and checkout URL. The payment is committed before the provider is asked."""
    async with unit_of_work(db) as session:
        payment = await service.create_topup(session, settings, user_id=user_id, amount=amount,
                                              key=key)
    return await start(db, payment.id, user_id=user_id, settings=settings)


async def refund(db: Database, payment_id: uuid.UUID, amount: int, key: str, *,
                 settings: Settings | None = None) -> RefundOut:
    """Refund all or part of a succeeded payment through its gateway (the sandbox answers at
    once). The same key gives the same refund."""
    async with unit_of_work(db) as session:
        opened, ask = await service.open_refund(session, payment_id, amount, key)
        payment = await service.get_payment(session, payment_id)
    if not ask:
        return opened
    assert payment.gateway_ref is not None  # a succeeded payment was started at its gateway
    gateway = gateways.get(payment.gateway, db, settings)
    try:
        ref = await gateway.refund(payment.gateway_ref, amount, f"refund_{opened.id.hex}")
    except GatewayError as exc:
        async with unit_of_work(db) as session:
            await service.close_refund(session, opened.id, gateway_ref=None, error=exc.detail)
        raise errors.GatewayFailed(exc.detail) from None
    async with unit_of_work(db) as session:
        return await service.close_refund(session, opened.id, gateway_ref=ref)


async def check(db: Database, payment_id: uuid.UUID, *,
                settings: Settings | None = None) -> str:
    """Ask the gateway about one payment and act on its answer as on an event."""
    async with unit_of_work(db) as session:
        payment = await service.get_payment(session, payment_id)
    if payment.gateway_ref is None:
        return "not_started"
    try:
        status = await gateways.get(payment.gateway, db, settings).fetch(payment.gateway_ref)
    except (GatewayError, errors.GatewayNotConfigured) as exc:
        log.warning("payment_check_failed", payment_id=str(payment_id), error=str(exc))
        return "gateway_error"
    async with unit_of_work(db) as session:
        return await service.poll_event(session, payment_id, status)


async def check_overdue(db: Database, older_than: dt.timedelta, *, limit: int = 100,
                        settings: Settings | None = None) -> int:
    """Every payment waiting on its gateway past the deadline is asked about, and every
    refund left pending (a process stopped after asking the provider) is asked again with
    its key; how many of both."""
    async with unit_of_work(db) as session:
        due = await service.overdue(session, older_than=older_than, limit=limit)
        stale = await service.stale_refunds(session, older_than=older_than, limit=limit)
    for payment_id in due:
        await check(db, payment_id, settings=settings)
    for payment_id, amount, key in stale:
        try:
            await refund(db, payment_id, amount, key, settings=settings)
        except (errors.GatewayFailed, errors.GatewayNotConfigured) as exc:
            log.warning("refund_retry_failed", payment_id=str(payment_id), error=str(exc))
    return len(due) + len(stale)


async def reconcile_day(db: Database, day: dt.date, *,
                        settings: Settings | None = None) -> ReconcileOut:
    """Our books of `day` against the gateways' and the clearing account: every payment of
    the day is asked about at its gateway (captured, refunded), and the clearing account's
    movement must be the day's refunds less its captures."""
    async with unit_of_work(db) as session:
        books = await reconcile.day_books(session, day)
    differences: list[Difference] = []
    ours = books.captured - books.refunded
    if -books.clearing_movement != ours:
        differences.append(Difference(payment_id=None, what="clearing_account", ours=ours,
                                      theirs=-books.clearing_movement))
    checked = 0
    for payment in books.payments:
        assert payment.gateway_ref is not None
        try:
            theirs = await gateways.get(payment.gateway, db, settings).fetch(
                payment.gateway_ref)
        except (GatewayError, errors.GatewayNotConfigured) as exc:
            log.warning("reconcile_unchecked", payment_id=str(payment.id), error=str(exc))
            continue
        checked += 1
        differences += _compare(payment, theirs)
    return ReconcileOut(day=day, captured=books.captured, refunded=books.refunded,
                        clearing_movement=books.clearing_movement, checked=checked,
                        differences=differences)


def _compare(payment: PaymentOut, theirs: GatewayStatus) -> list[Difference]:
    captured = payment.amount if payment.status == "succeeded" else 0
    found = []
    if theirs.captured != captured:
        found.append(Difference(payment_id=payment.id, what="captured", ours=captured,
                                theirs=theirs.captured))
    if theirs.refunded != payment.refunded_amount:
        found.append(Difference(payment_id=payment.id, what="refunded",
                                ours=payment.refunded_amount, theirs=theirs.refunded))
    return found


async def _failed_call(db: Database, payment_id: uuid.UUID, operation: str,
                       exc: GatewayError) -> None:
    log.warning("gateway_call_failed", payment_id=str(payment_id), operation=operation,
                error=exc.detail)
    async with unit_of_work(db) as session:
        await service.record_attempt(session, await load(session, payment_id), operation, {},
                                     "error", {"error": exc.detail, "status": exc.status})
