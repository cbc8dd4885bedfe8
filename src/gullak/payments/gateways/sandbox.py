"""The SANDBOX gateway: the default, so that `make run` takes payments with no account
anywhere. No money moves: its "provider side" is the table payment_sandbox_orders.

A person (or a test) opens the sandbox checkout page our API serves,
GET /v1/payments/sandbox/{ref}, and clicks succeed, fail or leave pending. The click makes a
webhook exactly as a provider would, signed with the sandbox secret (hex HMAC-SHA256 of the
raw body in X-Sandbox-Signature), and hands it to the same intake the webhook endpoint runs
(`service.receive_webhook`: verify, store raw, enqueue the job) in-process, not over HTTP:
no need to know our own address, and the click's response can say the event was received.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping

import structlog
from sqlalchemy import text

from gullak.db.engine import Database, driver_rows
from gullak.db.uow import autocommit, unit_of_work
from gullak.kit.ids import uuid7
from gullak.kit.schemas import read_json
from gullak.payments.gateways.base import (
    GatewayError,
    GatewayEvent,
    GatewayOrder,
    GatewayStatus,
    InvalidPayload,
    Kind,
    PaymentRequest,
    Status,
)

log = structlog.get_logger("gullak.payments.sandbox")
SIGNATURE = "x-sandbox-signature"
OUTCOMES: dict[str, Kind] = {"paid": "captured", "failed": "failed"}
STATUSES: dict[str, Status] = {"pending": "pending", "paid": "captured", "failed": "failed"}
_CREATE = """
INSERT INTO payment_sandbox_orders (ref, amount, currency) VALUES (%s, %s, %s)
ON CONFLICT (ref) DO NOTHING
"""
_SETTLE = """
UPDATE payment_sandbox_orders SET status = %s WHERE ref = %s AND status = 'pending'
RETURNING amount
"""


class Sandbox:
    name = "sandbox"

    def __init__(self, db: Database, secret: str | Callable[[], str], *,
                 public_url: str) -> None:
        self._db = db
        # Read when first needed: a process that only starts payments never reads it.
        self._secret = secret
        self._public_url = public_url.rstrip("/")

    def checkout_url(self, ref: str) -> str:
        return f"{self._public_url}/v1/payments/sandbox/{ref}"

    async def create(self, payment: PaymentRequest) -> GatewayOrder:
        ref = f"sandbox_{payment.id.hex}"  # one sandbox order per payment, however often asked
        async with unit_of_work(self._db) as session:
            await autocommit(session)  # one statement, on the driver: it is the provider's
            await driver_rows(session, _CREATE, (ref, payment.amount, payment.currency))
        log.info("sandbox_order_created", ref=ref, amount=payment.amount)
        return GatewayOrder(ref, self.checkout_url(ref), {"sandbox": True, "ref": ref})

    async def fetch(self, ref: str) -> GatewayStatus:
        async with unit_of_work(self._db) as session:
            row = (await session.execute(text(
                "SELECT amount, status, refunded FROM payment_sandbox_orders WHERE ref = :ref"),
                {"ref": ref})).first()
        if row is None:
            raise GatewayError("sandbox: no such order", status=404)
        status = STATUSES[row.status]
        return GatewayStatus(status, row.amount if status == "captured" else 0, row.refunded)

    async def refund(self, ref: str, amount: int, key: str) -> str:
        """Refunded at once, never beyond what was paid; the same key refunds once."""
        async with unit_of_work(self._db) as session:
            done = await session.scalar(text(
                "UPDATE payment_sandbox_orders SET refunded = refunded + :amount,"
                " refunds = refunds || jsonb_build_object(:key, :amount)"
                " WHERE ref = :ref AND status = 'paid' AND NOT refunds ? :key"
                " AND refunded + :amount <= amount RETURNING ref"),
                {"ref": ref, "amount": amount, "key": key})
            if done is None and not await session.scalar(text(
                    "SELECT refunds ? :key FROM payment_sandbox_orders WHERE ref = :ref"),
                    {"ref": ref, "key": key}):
                raise GatewayError("sandbox: nothing left to refund on this order")
        log.info("sandbox_refund", ref=ref, amount=amount)
        return "sandbox_rfnd_" + hashlib.sha256(f"{ref}:{key}".encode()).hexdigest()[:24]

    def sign(self, raw_body: bytes) -> str:
        secret = self._secret if isinstance(self._secret, str) else self._secret()
        return hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        return hmac.compare_digest(headers.get(SIGNATURE, "").encode(),
                                   self.sign(raw_body).encode())

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> GatewayEvent:
        try:
            body = read_json(raw_body)
            event_id, ref, status = body["event_id"], body["ref"], body["status"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidPayload("not a sandbox event") from exc
        if not isinstance(event_id, str) or not isinstance(ref, str):
            raise InvalidPayload("a sandbox event needs event_id and ref")
        amount = body.get("amount")
        return GatewayEvent(event_id, ref, OUTCOMES.get(status, "other"),
                            amount if type(amount) is int else None)

    async def settle(self, ref: str, outcome: str) -> tuple[dict[str, str], bytes] | None:
        """The person at the checkout page chose `outcome` (paid or failed): the sandbox
        order moves (once: a second click changes nothing) and the signed webhook a provider
        would send is returned for delivery; None if the order was already settled."""
        async with unit_of_work(self._db) as session:
            await autocommit(session)
            settled = await driver_rows(session, _SETTLE, (outcome, ref))
        if not settled:
            return None
        [(amount,)] = settled
        raw = json.dumps({"event_id": f"sandbox_evt_{uuid7().hex}", "ref": ref,
                          "status": outcome, "amount": amount, "sandbox": True}).encode()
        log.info("sandbox_webhook", ref=ref, status=outcome)
        return {SIGNATURE: self.sign(raw), "content-type": "application/json"}, raw

    async def order(self, ref: str) -> tuple[int, str, str] | None:
        """(amount, currency, status) of a sandbox order, for its checkout page."""
        async with unit_of_work(self._db) as session:
            row = (await session.execute(text(
                "SELECT amount, currency, status FROM payment_sandbox_orders WHERE ref = :ref"),
                {"ref": ref})).first()
        return None if row is None else (row.amount, row.currency, row.status)
