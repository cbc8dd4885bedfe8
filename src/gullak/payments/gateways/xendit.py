"""Xendit, from its public API reference (docs.xendit.co):

- Invoices API: POST /v2/invoices {external_id, amount, currency, description} with HTTP
  basic auth (the secret key as user name, an empty password); answers {id, external_id,
  status: "PENDING", amount, invoice_url, ...}. GET /v2/invoices/{id} answers the same with
  status PENDING, PAID, SETTLED or EXPIRED (and paid_amount once paid).
- Refunds: POST /refunds {payment_request_id | invoice_id, reference_id, amount, reason},
  idempotent by the idempotency-key header; answers {id, status, amount, ...}. Which id names
  the payment depends on how it was taken: the Payments API reference
  (docs.xendit.co/apidocs/refund-payment-request) requires `payment_request_id` ("pr-...")
  for a payment request, and the Refunds API as Xendit's own SDKs model it
  (xendit-node docs/refund/models/CreateRefund.md, xendit-php docs/Refund/CreateRefund.md)
  takes `invoice_id` instead for a payment made through an invoice or payment link, which
  the refund object still reports (marked "to be deprecated"). Ours are invoices; a payment
  request's id is sent as one.
- Invoice callbacks: the x-callback-token header equals the callback verification token of
  the account; the body is the invoice ({id, external_id, status, amount, paid_amount, ...}).
  Invoice callbacks carry no event id of their own: (invoice id, status) is one event, as an
  invoice reaches each status once. A `webhook-id` header, where sent, is used instead.

Amounts: Xendit takes amounts in the currency's unit (rupiah have no minor unit; INR at
Xendit is in rupees with decimals): we send and read them as minor units divided by 100.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from decimal import Decimal
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
    Status,
    check,
)

API = "https://api.xendit.co"
PAYMENT_REQUEST = "pr-"  # how the ids of the Payments API's payment requests begin
STATUSES: dict[str, Status] = {"PENDING": "pending", "PAID": "captured",
                               "SETTLED": "captured", "EXPIRED": "expired"}
KINDS: dict[str, Kind] = {"PAID": "captured", "SETTLED": "captured", "EXPIRED": "expired"}


def to_major(minor: int) -> str:
    return str(Decimal(minor) / 100)


def to_minor(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return int(Decimal(str(value)) * 100)
    except ArithmeticError:
        return None


class Xendit:
    name = "xendit"

    def __init__(self, secret_key: str, callback_token: str, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._auth = httpx.BasicAuth(secret_key, "")
        self._token = callback_token.encode()
        self._transport = transport

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with httpx.AsyncClient(base_url=API, auth=self._auth, timeout=TIMEOUT,
                                         transport=self._transport) as client:
                response = await client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise GatewayError(f"xendit unreachable: {type(exc).__name__}") from None
        return check(response, "xendit").json()

    async def create(self, payment: PaymentRequest) -> GatewayOrder:
        body = await self._call("POST", "/v2/invoices", json={
            "external_id": str(payment.id), "amount": float(Decimal(payment.amount) / 100),
            "currency": payment.currency, "description": payment.description})
        if not isinstance(body.get("id"), str) or not isinstance(body.get("invoice_url"), str):
            raise GatewayError("xendit answered an invoice without id or invoice_url")
        return GatewayOrder(body["id"], body["invoice_url"], body)

    async def fetch(self, ref: str) -> GatewayStatus:
        body = await self._call("GET", f"/v2/invoices/{ref}")
        status = STATUSES.get(str(body.get("status")), "pending")
        captured = to_minor(body.get("paid_amount", body.get("amount"))) or 0
        refunded = to_minor(body.get("refunded_amount", 0)) or 0
        return GatewayStatus(status, captured if status == "captured" else 0, refunded)

    async def refund(self, ref: str, amount: int, key: str) -> str:
        # One id or the other, never both: see the module's note on the Refunds API.
        field = "payment_request_id" if ref.startswith(PAYMENT_REQUEST) else "invoice_id"
        body = await self._call("POST", "/refunds", json={
            field: ref, "reference_id": key, "amount": float(Decimal(amount) / 100),
            "reason": "REQUESTED_BY_CUSTOMER"}, headers={"idempotency-key": key})
        if body.get("status") == "FAILED":
            raise GatewayError(f"xendit refused the refund: {body.get('failure_code')}")
        return str(body["id"])

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        given = headers.get("x-callback-token", "").encode()
        return bool(self._token) and hmac.compare_digest(given, self._token)

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> GatewayEvent:
        try:
            body = read_json(raw_body)
            ref, status = body["id"], body["status"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidPayload("not a Xendit invoice callback") from exc
        if not isinstance(ref, str) or not isinstance(status, str):
            raise InvalidPayload("a Xendit invoice callback needs id and status")
        event_id = headers.get("webhook-id") or f"{ref}:{status}"
        return GatewayEvent(event_id, ref, KINDS.get(status, "other"),
                            to_minor(body.get("paid_amount", body.get("amount"))))
