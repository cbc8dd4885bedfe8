"""The Razorpay and Xendit adapters against the providers' documented contracts: each
request checked (URL, auth, body, idempotency header) by an httpx.MockTransport answering
in the provider's documented shape; webhooks verified as documented."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable

import httpx
import pytest

from gullak.payments.gateways.base import GatewayError, InvalidPayload, PaymentRequest
from gullak.payments.gateways.razorpay import Razorpay
from gullak.payments.gateways.xendit import Xendit

KEY_ID, KEY_SECRET, HOOK_SECRET = "rzp_test_abc", "rzp-secret-value-123", "whsec-razor-456"
XENDIT_KEY, CALLBACK_TOKEN = "xnd_development_secret_789", "callback-token-abcdef"
PAYMENT = PaymentRequest(uuid.UUID("01a2479d-0000-7000-8000-000000000001"), 50_000, "INR",
                         "topup", "01a2479d-0000-7000-8000-000000000001", "Wallet top-up")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


Handler = Callable[[httpx.Request], httpx.Response]


def razorpay(handler: Handler) -> Razorpay:
    return Razorpay(KEY_ID, KEY_SECRET, HOOK_SECRET, checkout_base="http://api/v1/payments/razorpay",
                    transport=httpx.MockTransport(handler))


def xendit(handler: Handler) -> Xendit:
    return Xendit(XENDIT_KEY, CALLBACK_TOKEN, transport=httpx.MockTransport(handler))


PAYMENTS_OF_ORDER = {"entity": "collection", "count": 2, "items": [
    {"id": "pay_failed1", "entity": "payment", "amount": 50_000, "currency": "INR",
     "status": "failed", "order_id": "order_ABC", "amount_refunded": 0},
    {"id": "pay_OK2", "entity": "payment", "amount": 50_000, "currency": "INR",
     "status": "captured", "order_id": "order_ABC", "amount_refunded": 1_000}]}


async def test_razorpay_orders_payments_and_refunds() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.headers["authorization"] == basic(KEY_ID, KEY_SECRET)
        if request.method == "POST" and request.url.path == "/v1/orders":
            return httpx.Response(200, json={
                "id": "order_ABC", "entity": "order", "amount": 50_000, "amount_paid": 0,
                "amount_due": 50_000, "currency": "INR", "receipt": PAYMENT.id.hex,
                "status": "created", "attempts": 0, "notes": {}, "created_at": 1_700_000_000})
        if request.url.path == "/v1/orders/order_ABC/payments":
            return httpx.Response(200, json=PAYMENTS_OF_ORDER)
        if request.url.path == "/v1/payments/pay_OK2/refund":
            return httpx.Response(200, json={"id": "rfnd_XYZ", "entity": "refund",
                                             "amount": 2_000, "payment_id": "pay_OK2",
                                             "currency": "INR", "status": "processed"})
        return httpx.Response(404, json={"error": {"code": "BAD_REQUEST_ERROR",
                                                   "description": "not found"}})

    gateway = razorpay(handler)
    order = await gateway.create(PAYMENT)
    assert (order.ref, order.checkout_url) == ("order_ABC",
                                               "http://api/v1/payments/razorpay/order_ABC")
    create = seen[0]
    assert str(create.url) == "https://api.razorpay.com/v1/orders"
    assert json.loads(create.content) == {"amount": 50_000, "currency": "INR",
                                          "receipt": PAYMENT.id.hex,
                                          "notes": {"purpose": "topup",
                                                    "reference": PAYMENT.reference}}
    status = await gateway.fetch("order_ABC")
    assert (status.status, status.captured, status.refunded) == ("captured", 50_000, 1_000)
    assert await gateway.refund("order_ABC", 2_000, "refund_key_0001") == "rfnd_XYZ"
    refund = seen[-1]
    assert str(refund.url) == "https://api.razorpay.com/v1/payments/pay_OK2/refund"
    assert refund.headers["x-refund-idempotency"] == "refund_key_0001"
    assert json.loads(refund.content) == {"amount": 2_000, "receipt": "refund_key_0001"}


async def test_razorpay_errors_name_the_provider_never_the_credentials() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"code": "BAD_REQUEST_ERROR",
                                                   "description": "Authentication failed"}})

    with pytest.raises(GatewayError) as caught:
        await razorpay(handler).create(PAYMENT)
    assert caught.value.status == 401 and "Authentication failed" in caught.value.detail
    for secret in (KEY_ID, KEY_SECRET, HOOK_SECRET):
        assert secret not in str(caught.value)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("boom", request=request)

    with pytest.raises(GatewayError, match="razorpay unreachable"):
        await razorpay(down).fetch("order_ABC")


def test_razorpay_webhooks() -> None:
    gateway = razorpay(lambda r: httpx.Response(500))
    body = json.dumps({"entity": "event", "event": "payment.captured", "contains": ["payment"],
                       "payload": {"payment": {"entity": {
                           "id": "pay_OK2", "amount": 50_000, "currency": "INR",
                           "status": "captured", "order_id": "order_ABC"}}},
                       "created_at": 1_700_000_000}).encode()
    signature = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"x-razorpay-signature": signature, "x-razorpay-event-id": "evt_1"}
    assert gateway.verify_webhook(headers, body)
    assert not gateway.verify_webhook(headers, body + b" ")
    assert not gateway.verify_webhook({"x-razorpay-signature": signature[:-1] + "0"}, body)
    assert not gateway.verify_webhook({}, body)
    event = gateway.parse_webhook(headers, body)
    assert (event.event_id, event.ref, event.kind, event.amount) == (
        "evt_1", "order_ABC", "captured", 50_000)
    failed = json.dumps({"event": "payment.failed", "payload": {"payment": {"entity": {
        "id": "pay_1", "amount": 50_000, "order_id": "order_ABC", "status": "failed"}}}})
    assert gateway.parse_webhook({"x-razorpay-event-id": "evt_2"}, failed.encode()).kind == "failed"
    refunded = json.dumps({"event": "refund.processed", "payload": {
        "refund": {"entity": {"id": "rfnd_1", "amount": 700, "payment_id": "pay_1"}},
        "payment": {"entity": {"id": "pay_1", "amount": 50_000, "order_id": "order_ABC"}}}})
    parsed = gateway.parse_webhook({"x-razorpay-event-id": "evt_3"}, refunded.encode())
    assert (parsed.kind, parsed.amount) == ("refunded", 700)
    with pytest.raises(InvalidPayload):
        gateway.parse_webhook({}, body)  # no event id header
    with pytest.raises(InvalidPayload):
        gateway.parse_webhook(headers, b"[]")


INVOICE = {"id": "inv_579c8d61", "external_id": str(PAYMENT.id), "user_id": "5781d19b",
           "status": "PENDING", "merchant_name": "Gullak", "amount": 500.0,
           "invoice_url": "https://checkout.xendit.co/web/inv_579c8d61",
           "expiry_date": "2026-12-06T08:00:00.000Z", "currency": "INR"}


async def test_xendit_invoices_and_refunds() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.headers["authorization"] == basic(XENDIT_KEY, "")
        if request.method == "POST" and request.url.path == "/v2/invoices":
            return httpx.Response(200, json=INVOICE)
        if request.url.path == "/v2/invoices/inv_579c8d61":
            return httpx.Response(200, json={**INVOICE, "status": "SETTLED",
                                             "paid_amount": 500.0})
        if request.url.path == "/refunds":
            return httpx.Response(200, json={"id": "rfd-123", "invoice_id": "inv_579c8d61",
                                             "amount": 20.5, "status": "SUCCEEDED"})
        return httpx.Response(404, json={"error_code": "NOT_FOUND", "message": "no"})

    gateway = xendit(handler)
    order = await gateway.create(PAYMENT)
    assert (order.ref, order.checkout_url) == ("inv_579c8d61", INVOICE["invoice_url"])
    assert str(seen[0].url) == "https://api.xendit.co/v2/invoices"
    assert json.loads(seen[0].content) == {"external_id": str(PAYMENT.id), "amount": 500.0,
                                           "currency": "INR", "description": "Wallet top-up"}
    status = await gateway.fetch("inv_579c8d61")
    assert (status.status, status.captured) == ("captured", 50_000)
    assert await gateway.refund("inv_579c8d61", 2_050, "refund_k2") == "rfd-123"
    assert str(seen[-1].url) == "https://api.xendit.co/refunds"
    assert seen[-1].headers["idempotency-key"] == "refund_k2"
    # An invoice's payment is named by invoice_id; a payment request's by payment_request_id
    # (docs.xendit.co/apidocs/refund-payment-request), never both.
    assert json.loads(seen[-1].content) == {"invoice_id": "inv_579c8d61",
                                            "reference_id": "refund_k2", "amount": 20.5,
                                            "reason": "REQUESTED_BY_CUSTOMER"}
    request_id = "pr-1102feb0-bb79-47ae-9d1e-e69394d3949c"
    assert await gateway.refund(request_id, 1_000, "refund_k3") == "rfd-123"
    assert json.loads(seen[-1].content) == {"payment_request_id": request_id,
                                            "reference_id": "refund_k3", "amount": 10.0,
                                            "reason": "REQUESTED_BY_CUSTOMER"}
    with pytest.raises(GatewayError) as caught:
        await gateway.fetch("inv_missing")
    assert caught.value.status == 404 and XENDIT_KEY not in str(caught.value)


def test_xendit_callbacks() -> None:
    gateway = xendit(lambda r: httpx.Response(500))
    body = json.dumps({**INVOICE, "status": "PAID", "paid_amount": 500.0}).encode()
    assert gateway.verify_webhook({"x-callback-token": CALLBACK_TOKEN}, body)
    assert not gateway.verify_webhook({"x-callback-token": CALLBACK_TOKEN + "x"}, body)
    assert not gateway.verify_webhook({}, body)
    event = gateway.parse_webhook({}, body)
    assert (event.event_id, event.ref, event.kind, event.amount) == (
        "inv_579c8d61:PAID", "inv_579c8d61", "captured", 50_000)
    expired = json.dumps({**INVOICE, "status": "EXPIRED"}).encode()
    assert gateway.parse_webhook({"webhook-id": "wh_1"}, expired).event_id == "wh_1"
    assert gateway.parse_webhook({}, expired).kind == "expired"
    with pytest.raises(InvalidPayload):
        gateway.parse_webhook({}, b'{"status": "PAID"}')
