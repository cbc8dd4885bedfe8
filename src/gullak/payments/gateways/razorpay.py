"""Razorpay, from its public API reference (razorpay.com/docs/api):

- Orders API: POST /v1/orders {amount (paise), currency, receipt, notes} with HTTP basic auth
  key_id:key_secret; answers {id: "order_...", status: "created", amount, ...}.
- GET /v1/orders/{id}/payments: {entity: "collection", items: [{id: "pay_...", status:
  "captured" | "failed" | "authorized" | "refunded", amount, amount_refunded, ...}]}.
- Refunds: POST /v1/payments/{payment_id}/refund {amount, receipt, notes}, made idempotent
  by the X-Refund-Idempotency header (docs: "Create a Normal Refund (Idempotent Request)");
  answers {id: "rfnd_...", status: "processed" | "pending", ...}.
- Webhooks: X-Razorpay-Signature is the hex HMAC-SHA256 of the raw body with the webhook
  secret; the event id is the x-razorpay-event-id header; events payment.captured,
  payment.failed and refund.processed carry payload.payment.entity (and payload.refund.entity).

Razorpay's checkout is a script on the merchant's page given the order id: our checkout URL
is that page, `{checkout_base}/{order id}`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import httpx

from gullak.kit.schemas import read_json
from gullak.payments.gateways.base import (
    TIMEOUT,
    GatewayError,
    GatewayEvent,
    GatewayOrder,
    GatewayStatus,
    InvalidPayload,
    Kind,
    PaymentRequest,
    check,
)

API = "https://api.razorpay.com/v1"
EVENTS: dict[str, Kind] = {"payment.captured": "captured", "payment.failed": "failed",
                           "refund.processed": "refunded", "order.paid": "captured"}


class Razorpay:
    name = "razorpay"

    def __init__(self, key_id: str, key_secret: str, webhook_secret: str, *,
                 checkout_base: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._auth = httpx.BasicAuth(key_id, key_secret)
        self._webhook_secret = webhook_secret.encode()
        self._checkout_base = checkout_base.rstrip("/")
        self._transport = transport

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=API, auth=self._auth, timeout=TIMEOUT,
                                 transport=self._transport)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with self._client() as client:
                response = await client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise GatewayError(f"razorpay unreachable: {type(exc).__name__}") from None
        return check(response, "razorpay").json()

    async def create(self, payment: PaymentRequest) -> GatewayOrder:
        # The receipt (our payment id, at most 40 characters) is unique per order at Razorpay.
        body = await self._call("POST", "/orders", json={
            "amount": payment.amount, "currency": payment.currency,
            "receipt": payment.id.hex, "notes": {"purpose": payment.purpose,
                                                  "reference": payment.reference}})
        ref = body.get("id")
        if not isinstance(ref, str):
            raise GatewayError("razorpay answered an order without an id")
        return GatewayOrder(ref, f"{self._checkout_base}/{ref}", body)

    async def _payments(self, ref: str) -> list[dict[str, Any]]:
        body = await self._call("GET", f"/orders/{ref}/payments")
        return [p for p in body.get("items", []) if isinstance(p, dict)]

    async def fetch(self, ref: str) -> GatewayStatus:
        payments = await self._payments(ref)
        paid = [p for p in payments if p.get("status") in ("captured", "refunded")]
        captured = sum(int(p.get("amount", 0)) for p in paid)
        refunded = sum(int(p.get("amount_refunded", 0)) for p in paid)
        if paid:
            return GatewayStatus("captured", captured, refunded)
        failed = payments and all(p.get("status") == "failed" for p in payments)
        return GatewayStatus("failed" if failed else "pending", 0, 0)

    async def refund(self, ref: str, amount: int, key: str) -> str:
        paid = [p for p in await self._payments(ref) if p.get("status") in ("captured",
                                                                             "refunded")]
        if not paid:
            raise GatewayError("razorpay has no captured payment for this order")
        body = await self._call(
            "POST", f"/payments/{paid[0]['id']}/refund",
            json={"amount": amount, "receipt": key[:40]},
            headers={"X-Refund-Idempotency": key})
        return str(body["id"])

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        given = headers.get("x-razorpay-signature", "")
        expected = hmac.new(self._webhook_secret, raw_body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given.encode(), expected.encode())

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> GatewayEvent:
        event_id = headers.get("x-razorpay-event-id")
        try:
            body = read_json(raw_body)
            name = body["event"]
            payment = body.get("payload", {}).get("payment", {}).get("entity", {})
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            raise InvalidPayload("not a Razorpay event") from exc
        if not event_id or not isinstance(name, str) or not isinstance(payment, dict):
            raise InvalidPayload("a Razorpay event needs x-razorpay-event-id and an event")
        kind = EVENTS.get(name, "other")
        amount = payment.get("amount")
        if kind == "refunded":
            refund = body.get("payload", {}).get("refund", {}).get("entity", {})
            amount = refund.get("amount") if isinstance(refund, dict) else None
        ref = payment.get("order_id")
        return GatewayEvent(event_id, ref if isinstance(ref, str) else None, kind,
                            amount if type(amount) is int else None)
