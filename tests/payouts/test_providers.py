"""The RazorpayX and Xendit payouts adapters against the providers' documented contracts: each
request checked (method, URL, auth, body, idempotency header) by an httpx.MockTransport
answering in the provider's documented shape; statuses, amounts, statements, verification
and webhooks as documented; errors that never carry a credential or an account number."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gullak.payouts.providers.base import (
    Contact,
    Destination,
    InvalidPayload,
    PayoutEvent,
    PayoutRequest,
    PayoutStatus,
    ProviderError,
    VerificationUnavailable,
)
from gullak.payouts.providers.razorpayx import RazorpayX, narration
from gullak.payouts.providers.sandbox import Sandbox
from gullak.payouts.providers.xendit import XenditPayouts, to_major, to_minor

KEY_ID, KEY_SECRET, HOOK_SECRET = "rzp_test_abc", "rzp-secret-value-123", "whsec-razor-456"
ACCOUNT = "7878780080316316"  # ours, the RazorpayX account debited
BENEFICIARY = "765432123456789"
XENDIT_KEY, CALLBACK_TOKEN = "xnd_development_secret_789", "callback-token-abcdef"
ID_ACCOUNT = "000000000099"
SECRETS = (KEY_SECRET, HOOK_SECRET, ACCOUNT, BENEFICIARY, XENDIT_KEY, CALLBACK_TOKEN, ID_ACCOUNT)
STATUS_NAMES = {"processing", "succeeded", "failed", "reversed"}

CONTACT = Contact("01a2479d-0000-7000-8000-0000000000c1", "Asha Rao", email="asha@example.com",
                  phone="9123456789")
BANK = Destination("bank", "Asha Rao", account_number=BENEFICIARY, ifsc="HDFC0000053")
UPI = Destination("upi", "Asha Rao", upi_id="asha.rao@okhdfc")
REQUEST = PayoutRequest(uuid.UUID("01a2479d-0000-7000-8000-0000000000a1"), "wd-42-attempt-1",
                        150_000, "INR", BANK, CONTACT, "Gullak withdrawal #WD-42 — café")
ID_REQUEST = PayoutRequest(
    uuid.UUID("01a2479d-0000-7000-8000-0000000000a2"), "wd-43-attempt-1", 150_000, "IDR",
    Destination("bank_channel", "Michael Chen", account_number=ID_ACCOUNT, channel_code="ID_BCA"),
    Contact("01a2479d-0000-7000-8000-0000000000c2", "Michael Chen"), "Gullak withdrawal WD-43")

Handler = Callable[[httpx.Request], httpx.Response]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def razorpayx(handler: Handler, webhook_secret: str = HOOK_SECRET) -> RazorpayX:
    return RazorpayX(KEY_ID, KEY_SECRET, webhook_secret, ACCOUNT,
                     transport=httpx.MockTransport(handler), verify_delays=(0, 0, 0))


def xendit(handler: Handler, token: str = CALLBACK_TOKEN) -> XenditPayouts:
    return XenditPayouts(XENDIT_KEY, token, transport=httpx.MockTransport(handler))


def unused(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.method} {request.url}")


def assert_safe(error: ProviderError) -> None:
    for secret in SECRETS:
        assert secret not in error.detail and secret not in str(error)


def payout(**fields: Any) -> dict[str, Any]:
    """A RazorpayX payout as its reference shows one."""
    return {"id": "pout_00000000000001", "entity": "payout", "fund_account_id": "fa_1",
            "amount": 150_000, "currency": "INR", "fees": 0, "tax": 0, "status": "queued",
            "purpose": "payout", "utr": None, "mode": "IMPS", "reference_id": str(REQUEST.id),
            "narration": "Gullak withdrawal WD 42 cafe", "batch_id": None,
            "status_details": None, "created_at": 1_796_468_400, **fields}


# RazorpayX: payouts


async def test_razorpayx_creates_a_composite_payout_to_a_bank_account() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=payout(status_details={
            "description": "Payout is queued as there is insufficient balance",
            "source": "business", "reason": "low_balance"}))

    result = await razorpayx(handler).create(REQUEST)
    assert (result.ref, result.status, result.failure) == ("pout_00000000000001", "processing",
                                                           None)
    [sent] = seen
    assert (sent.method, str(sent.url)) == ("POST", "https://api.razorpay.com/v1/payouts")
    assert sent.headers["authorization"] == basic(KEY_ID, KEY_SECRET)
    assert sent.headers["x-payout-idempotency"] == "wd-42-attempt-1"
    assert json.loads(sent.content) == {
        "account_number": ACCOUNT, "amount": 150_000, "currency": "INR", "mode": "IMPS",
        "purpose": "payout", "queue_if_low_balance": True, "reference_id": str(REQUEST.id),
        "narration": "Gullak withdrawal WD 42 cafe",
        "fund_account": {
            "account_type": "bank_account",
            "bank_account": {"name": "Asha Rao", "ifsc": "HDFC0000053",
                             "account_number": BENEFICIARY},
            "contact": {"name": "Asha Rao", "type": "customer", "reference_id": CONTACT.reference,
                        "email": "asha@example.com", "contact": "9123456789"}}}
    assert len(json.loads(sent.content)["reference_id"]) <= 40


async def test_razorpayx_pays_a_upi_id_by_upi_and_leaves_out_what_it_lacks() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=payout(status="processing", mode="UPI"))

    request = PayoutRequest(REQUEST.id, "wd-42-attempt-2", 10_000, "INR", UPI,
                            Contact("owner-1", "Asha Rao"), "—!")
    result = await razorpayx(handler).create(request)
    assert result.status == "processing"
    body = json.loads(seen[0].content)
    assert (body["mode"], body["amount"]) == ("UPI", 10_000)
    assert body["fund_account"] == {"account_type": "vpa", "vpa": {"address": "asha.rao@okhdfc"},
                                    "contact": {"name": "Asha Rao", "type": "customer",
                                                "reference_id": "owner-1"}}
    assert "narration" not in body  # nothing left of it: Razorpay's default label instead
    assert seen[0].headers["x-payout-idempotency"] == "wd-42-attempt-2"


async def test_razorpayx_refuses_a_destination_without_its_details_before_asking() -> None:
    request = PayoutRequest(REQUEST.id, "k", 10_000, "INR", Destination("bank", "Asha Rao"),
                            CONTACT, "x")
    with pytest.raises(ProviderError) as caught:
        await razorpayx(unused).create(request)
    assert caught.value.final


@pytest.mark.parametrize(("text", "expected"), [
    ("Gullak withdrawal #WD-42 — café", "Gullak withdrawal WD 42 cafe"),
    ("  Rewards   payout  ", "Rewards payout"),
    ("Ünïcödé naïve résumé", "Unicode naive resume"),
    ("A very long narration that goes well past thirty", "A very long narration that goe"),
    ("123456789012345678901234567890 tail", "123456789012345678901234567890"),
    ("withdrawal of 29 characters x y", "withdrawal of 29 characters x"),
    ("₹ — !!", ""),
    ("", ""),
])
def test_razorpayx_narration_keeps_letters_digits_and_spaces_within_30(text: str,
                                                                       expected: str) -> None:
    assert narration(text) == expected


@settings(max_examples=300)
@given(st.text())
def test_razorpayx_narration_is_always_what_razorpay_takes(text: str) -> None:
    result = narration(text)
    assert re.fullmatch(r"[A-Za-z0-9 ]{0,30}", result)
    assert result == result.strip() and "  " not in result


@pytest.mark.parametrize(("answer", "status", "failure"), [
    (payout(status="queued"), "processing", None),
    (payout(status="pending"), "processing", None),
    (payout(status="processing"), "processing", None),
    (payout(status="scheduled"), "processing", None),
    (payout(status="processed", utr="933815233814"), "succeeded", None),
    (payout(status="reversed", status_details={
        "description": "Beneficiary bank systems are offline, please retry after 30 min",
        "source": "beneficiary_bank", "reason": "beneficiary_bank_offline"}),
     "reversed", "Beneficiary bank systems are offline, please retry after 30 min"),
    (payout(status="failed", status_details={
        "description": "Payout failed as the beneficiary account is closed.",
        "source": "beneficiary_bank", "reason": "bank_account_closed"}),
     "failed", "Payout failed as the beneficiary account is closed."),
    (payout(status="rejected", failure_reason="Rejected by approver"), "failed",
     "Rejected by approver"),
    (payout(status="cancelled"), "failed", None),
    (payout(status="a_status_razorpay_adds_later"), "processing", None),
])
async def test_razorpayx_fetch_maps_every_documented_status(answer: dict[str, Any], status: str,
                                                            failure: str | None) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    result = await razorpayx(handler).fetch("pout_00000000000001")
    assert (result.ref, result.status, result.failure) == ("pout_00000000000001", status, failure)
    assert (seen[0].method, str(seen[0].url)) == (
        "GET", "https://api.razorpay.com/v1/payouts/pout_00000000000001")
    assert seen[0].headers["authorization"] == basic(KEY_ID, KEY_SECRET)


async def test_razorpayx_statement_pages_through_the_day_in_hundreds() -> None:
    day = dt.date(2026, 12, 5)
    start = int(dt.datetime(2026, 12, 5, tzinfo=dt.UTC).timestamp())
    first = [payout(id=f"pout_{i:03}", status="processed", amount=1_000 + i,
                    created_at=start + i, reference_id=f"ref-{i}") for i in range(100)]
    second = [payout(id="pout_100", status="reversed", created_at=start + 100),
              payout(id="pout_101", status="failed", created_at=start + 200,
                     processed_at=start + 86_400 + 5, reference_id=None),
              payout(id="pout_102", status="queued", created_at=start + 300)]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        items = first if request.url.params["skip"] == "0" else second
        return httpx.Response(200, json={"entity": "collection", "count": len(items),
                                         "items": items})

    lines = await razorpayx(handler).statement(day)
    assert [dict(r.url.params) for r in seen] == [
        {"account_number": ACCOUNT, "from": str(start), "to": str(start + 86_399),
         "count": "100", "skip": skip} for skip in ("0", "100")]
    assert all((r.method, r.url.path) == ("GET", "/v1/payouts") for r in seen)
    assert len(lines) == 103
    assert (lines[7].ref, lines[7].reference, lines[7].amount, lines[7].status, lines[7].day) == (
        "pout_007", "ref-7", 1_007, "succeeded", day)
    assert [(line.ref, line.status) for line in lines[100:]] == [
        ("pout_100", "reversed"), ("pout_101", "failed"), ("pout_102", "processing")]
    # The day a payout settled, where Razorpay says; else the day it was made.
    assert (lines[101].day, lines[101].reference) == (dt.date(2026, 12, 6), None)


async def test_razorpayx_statement_of_a_quiet_day_asks_once() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"entity": "collection", "count": 0, "items": []})

    assert await razorpayx(handler).statement(dt.date(2026, 12, 5)) == []
    assert len(calls) == 1


# RazorpayX: validation (penny drop)


def validation(status: str, **fields: Any) -> dict[str, Any]:
    return {"id": "fav_00000000000001", "entity": "fund_account.validation", "status": status,
            "validation_results": {"account_status": None, "registered_name": None,
                                   "details": None, "name_match_score": None},
            "status_details": {"description": "Validation request is created",
                               "source": "internal", "reason": "validation_request_created"},
            "reference_id": None, "notes": {"reference": "verify-1"}, **fields}


COMPLETED = validation("completed", validation_results={
    "account_status": "active", "registered_name": "ASHA RAO",
    "details": "The beneficiary account is valid.", "name_match_score": 100},
    status_details={"description": "Validation request is completed",
                    "source": "beneficiary_bank", "reason": "validation_completed"})


async def test_razorpayx_verify_polls_a_penny_drop_until_it_completes() -> None:
    answers = [validation("created"), validation("created"), COMPLETED]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answers[len(seen) - 1])

    result = await razorpayx(handler).verify(BANK, CONTACT, "verify-1")
    assert (result.valid, result.registered_name, result.ref, result.detail) == (
        True, "ASHA RAO", "fav_00000000000001", None)
    assert [(r.method, r.url.path) for r in seen] == [
        ("POST", "/v1/fund_accounts/validations"),
        ("GET", "/v1/fund_accounts/validations/fav_00000000000001"),
        ("GET", "/v1/fund_accounts/validations/fav_00000000000001")]
    assert all(r.headers["authorization"] == basic(KEY_ID, KEY_SECRET) for r in seen)
    assert json.loads(seen[0].content) == {
        "source_account_number": ACCOUNT, "validation_type": "pennydrop",
        "notes": {"reference": "verify-1"},
        "fund_account": {
            "account_type": "bank_account",
            "bank_account": {"name": "Asha Rao", "ifsc": "HDFC0000053",
                             "account_number": BENEFICIARY},
            "contact": {"name": "Asha Rao", "type": "customer", "reference_id": CONTACT.reference,
                        "email": "asha@example.com", "contact": "9123456789"}}}


async def test_razorpayx_verify_of_a_upi_id_that_completes_at_once_does_not_poll() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=COMPLETED)

    result = await razorpayx(handler).verify(UPI, CONTACT, "verify-2")
    assert result.valid and len(seen) == 1
    body = json.loads(seen[0].content)
    assert body["fund_account"]["vpa"] == {"address": "asha.rao@okhdfc"}
    assert "validation_type" not in body


async def test_razorpayx_verify_still_validating_after_the_last_look_is_not_final() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=validation("created"))

    with pytest.raises(ProviderError, match="still validating") as caught:
        await razorpayx(handler).verify(BANK, CONTACT, "verify-3")
    assert not caught.value.final
    assert len(seen) == 4  # the request, then one look after each of the three delays
    assert_safe(caught.value)


@pytest.mark.parametrize(("answer", "valid", "name", "detail"), [
    (validation("completed", validation_results={
        "account_status": "invalid", "registered_name": "", "details": "Account is closed"}),
     False, None, "Account is closed"),
    (validation("failed", status_details={
        "description": "The beneficiary bank rejected the request", "source": "beneficiary_bank",
        "reason": "beneficiary_bank_rejected"}),
     False, None, "The beneficiary bank rejected the request"),
    # The older Fund Account Validation answers `results`.
    ({"id": "fav_00000000000001", "entity": "fund_account.validation", "status": "completed",
      "results": {"account_status": "active", "registered_name": "Gaurav Kumar"}},
     True, "Gaurav Kumar", None),
])
async def test_razorpayx_verify_reads_the_outcome(answer: dict[str, Any], valid: bool,
                                                  name: str | None, detail: str | None) -> None:
    result = await razorpayx(lambda r: httpx.Response(200, json=answer)).verify(BANK, CONTACT, "k")
    assert (result.valid, result.registered_name, result.ref, result.detail) == (
        valid, name, "fav_00000000000001", detail)


async def test_razorpayx_verify_failed_on_razorpays_side_says_nothing_of_the_account() -> None:
    answer = validation("failed", status_details={
        "description": "Validation failed due to a temporary technical issue at the partner"
                       " bank. Please retry after 30 min.",
        "source": "gateway", "reason": "gateway_technical_error"})
    with pytest.raises(ProviderError, match="temporary technical issue") as caught:
        await razorpayx(lambda r: httpx.Response(200, json=answer)).verify(BANK, CONTACT, "k")
    assert not caught.value.final


# RazorpayX: webhooks


def razorpay_event(name: str, **entity: Any) -> bytes:
    return json.dumps({"entity": "event", "account_id": "acc_BfVUrG6tDiL7H0", "event": name,
                       "contains": ["payout"], "payload": {"payout": {"entity": payout(**entity)}},
                       "created_at": 1_796_468_500}).encode()


def signed(body: bytes, secret: str = HOOK_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_razorpayx_webhook_signature() -> None:
    provider = razorpayx(unused)
    body = razorpay_event("payout.processed", status="processed")
    signature = signed(body)
    assert provider.verify_webhook({"x-razorpay-signature": signature}, body)
    assert not provider.verify_webhook({"x-razorpay-signature": signature}, body + b" ")
    assert not provider.verify_webhook({"x-razorpay-signature": signature[:-1] + "0"}, body)
    assert not provider.verify_webhook({"x-razorpay-signature": signed(body, "other")}, body)
    assert not provider.verify_webhook({"x-razorpay-signature": signature.upper()}, body)
    assert not provider.verify_webhook({"x-razorpay-signature": ""}, body)
    assert not provider.verify_webhook({}, body)
    # Without a secret nothing is trusted, not even a body signed with the empty key.
    empty = razorpayx(unused, webhook_secret="")
    assert not empty.verify_webhook({"x-razorpay-signature": signed(body, "")}, body)


@pytest.mark.parametrize(("name", "entity", "status", "failure"), [
    ("payout.processed", {"status": "processed", "utr": "933815233814"}, "succeeded", None),
    ("payout.updated", {"status": "processed", "utr": "933815233814"}, "succeeded", None),
    ("payout.reversed", {"status": "reversed", "status_details": {
        "description": "Beneficiary bank systems are offline", "source": "beneficiary_bank",
        "reason": "beneficiary_bank_offline"}}, "reversed", "Beneficiary bank systems are offline"),
    ("payout.failed", {"status": "failed", "status_details": {
        "description": "Payout failed as the beneficiary account is closed.",
        "source": "beneficiary_bank", "reason": "bank_account_closed"}},
     "failed", "Payout failed as the beneficiary account is closed."),
    ("payout.rejected", {"status": "rejected", "status_details": None,
                         "failure_reason": "Rejected by approver"}, "failed",
     "Rejected by approver"),
    # Intermediate states: nothing to act on, and possibly older than a final one.
    ("payout.queued", {"status": "queued"}, None, None),
    ("payout.initiated", {"status": "processing"}, None, None),
    ("payout.pending", {"status": "pending"}, None, None),
])
def test_razorpayx_parses_payout_events(name: str, entity: dict[str, Any],
                                        status: PayoutStatus | None,
                                        failure: str | None) -> None:
    body = razorpay_event(name, **entity)
    event = razorpayx(unused).parse_webhook({"x-razorpay-event-id": "evt_1"}, body)
    assert event == PayoutEvent("evt_1", "pout_00000000000001", str(REQUEST.id), status, failure,
                                150_000)


def test_razorpayx_event_id_falls_back_to_the_payout_and_the_event() -> None:
    body = razorpay_event("payout.reversed", status="reversed", reference_id=None, amount="150")
    event = razorpayx(unused).parse_webhook({}, body)
    assert (event.event_id, event.reference, event.amount) == (
        "pout_00000000000001:payout.reversed", None, None)


def test_razorpayx_an_event_about_no_payout_is_kept_but_not_acted_on() -> None:
    body = json.dumps({"entity": "event", "event": "payout.downtime.started", "payload": {
        "payout.downtime": {"entity": {"id": "poutdown_F1Zppa6lcVheSE", "status": "started"}}}})
    event = razorpayx(unused).parse_webhook({"x-razorpay-event-id": "evt_9"}, body.encode())
    assert event == PayoutEvent("evt_9", None, None, None, None, None)
    with pytest.raises(InvalidPayload):
        razorpayx(unused).parse_webhook({}, body.encode())


@pytest.mark.parametrize("body", [
    b"", b"not json", b"\xff\xfe\x00", b"[]", b'"payout.processed"', b"42", b"null", b"{}",
    b"[" * 100_000 + b"]" * 100_000,
    json.dumps({"event": 7, "payload": {"payout": {"entity": payout()}}}).encode(),
    json.dumps({"payload": {"payout": {"entity": payout()}}}).encode(),
    json.dumps({"event": "payout.processed", "payload": {"payout": {"entity": {
        "status": "processed"}}}}).encode(),
    json.dumps({"event": "payout.processed", "payload": {"payout": {"entity": payout(
        id=12)}}}).encode(),
    json.dumps({"event": "payout.processed", "payload": {"payout": {"entity": payout(
        id="")}}}).encode(),
    json.dumps({"event": "payout.processed", "payload": [1, 2]}).encode(),
    json.dumps({"event": "payout.processed", "payload": {"payout": "pout_1"}}).encode(),
])
def test_razorpayx_malformed_bodies_are_invalid_payloads(body: bytes) -> None:
    with pytest.raises(InvalidPayload):
        razorpayx(unused).parse_webhook({}, body)


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b"[]", b"not json"])
def test_sandbox_malformed_bodies_are_invalid_payloads(body: bytes) -> None:
    # Nested past the parser's stack, a signed callback was a RecursionError (500).
    with pytest.raises(InvalidPayload):
        Sandbox(None, "secret").parse_webhook({}, body)  # type: ignore[arg-type]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


def shaped(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with some of `fields`, each either its likely value or any JSON at all."""
    return st.fixed_dictionaries({}, optional={k: v | JSON for k, v in fields.items()})


RAZORPAY_EVENTS = shaped({
    "event": st.sampled_from(["payout.processed", "payout.reversed", "payout.failed",
                              "payout.updated", "payout.downtime.started"]),
    "payload": shaped({"payout": shaped({"entity": shaped({
        "id": st.sampled_from(["pout_1", ""]),
        "status": st.sampled_from(["processed", "reversed", "failed", "queued", "odd"]),
        "amount": st.integers(), "reference_id": st.text(max_size=40),
        "status_details": shaped({"description": st.text(max_size=20)}),
        "failure_reason": st.text(max_size=20)})})})})
HEADERS = st.sampled_from([{}, {"x-razorpay-event-id": "evt_1"}, {"webhook-id": "wh_1"}])


def assert_event(event: PayoutEvent) -> None:
    assert isinstance(event.event_id, str) and event.event_id
    assert event.ref is None or isinstance(event.ref, str)
    assert event.reference is None or isinstance(event.reference, str)
    assert event.status is None or event.status in STATUS_NAMES
    assert event.failure is None or isinstance(event.failure, str)
    assert event.amount is None or type(event.amount) is int


@settings(max_examples=300)
@given(headers=HEADERS, raw=st.binary() | JSON.map(lambda v: json.dumps(v).encode())
       | RAZORPAY_EVENTS.map(lambda v: json.dumps(v).encode()))
def test_razorpayx_parser_never_raises_but_invalid_payload(headers: dict[str, str],
                                                           raw: bytes) -> None:
    try:
        event = razorpayx(unused).parse_webhook(headers, raw)
    except InvalidPayload:
        return
    assert_event(event)


# RazorpayX: errors


@pytest.mark.parametrize(("code", "final"), [
    (400, True), (404, True), (422, True), (401, False), (403, False), (409, False),
    (429, False), (500, False), (502, False), (503, False)])
async def test_razorpayx_errors_say_whether_they_are_final(code: int, final: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # An answer that quotes the request back, credentials and accounts included.
        return httpx.Response(code, json={"error": {
            "code": "BAD_REQUEST_ERROR", "field": "fund_account",
            "description": f"Invalid account {BENEFICIARY} for {ACCOUNT} ({KEY_SECRET})"}})

    with pytest.raises(ProviderError) as caught:
        await razorpayx(handler).create(REQUEST)
    assert (caught.value.status, caught.value.final) == (code, final)
    assert f"razorpayx answered {code}" in caught.value.detail
    assert f"XXXX{BENEFICIARY[-4:]}" in caught.value.detail
    assert_safe(caught.value)


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ReadTimeout,
                                     httpx.RemoteProtocolError])
async def test_razorpayx_unreachable_is_not_final(failure: type[httpx.TransportError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure(f"boom {KEY_SECRET} {BENEFICIARY}", request=request)

    provider = razorpayx(handler)
    for call in (provider.create(REQUEST), provider.fetch("pout_1"),
                 provider.statement(dt.date(2026, 12, 5)), provider.verify(BANK, CONTACT, "k")):
        with pytest.raises(ProviderError, match="razorpayx unreachable") as caught:
            await call
        assert not caught.value.final and caught.value.status is None
        assert_safe(caught.value)


@pytest.mark.parametrize("answer", [
    httpx.Response(200, text="<html>maintenance</html>"),
    httpx.Response(200, json=[]),
    httpx.Response(200, json={"entity": "payout"}),
])
async def test_razorpayx_an_unreadable_answer_is_not_final(answer: httpx.Response) -> None:
    with pytest.raises(ProviderError) as caught:
        await razorpayx(lambda r: answer).fetch("pout_1")
    assert not caught.value.final


# Xendit: payouts


def xendit_payout(**fields: Any) -> dict[str, Any]:
    """A Xendit payout as its reference shows one."""
    return {"id": "disb-571f3644d2b4edf0745e9703", "amount": 150_000, "channel_code": "ID_BCA",
            "currency": "IDR", "status": "ACCEPTED", "description": "Gullak withdrawal WD-43",
            "reference_id": str(ID_REQUEST.id), "created": "2026-12-05T10:00:00Z",
            "updated": "2026-12-05T10:00:00Z", "estimated_arrival_time": "2026-12-05T10:15:00Z",
            "business_id": "6018306aa16ad90cb3c43ba7",
            "channel_properties": {"account_number": ID_ACCOUNT,
                                   "account_holder_name": "Michael Chen"}, **fields}


async def test_xendit_creates_a_payout_in_whole_rupiah() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=xendit_payout())

    result = await xendit(handler).create(ID_REQUEST)
    assert (result.ref, result.status, result.failure) == ("disb-571f3644d2b4edf0745e9703",
                                                           "processing", None)
    [sent] = seen
    assert (sent.method, str(sent.url)) == ("POST", "https://api.xendit.co/v2/payouts")
    assert sent.headers["authorization"] == basic(XENDIT_KEY, "")
    assert sent.headers["idempotency-key"] == "wd-43-attempt-1"
    body = json.loads(sent.content)
    assert body == {"reference_id": str(ID_REQUEST.id), "channel_code": "ID_BCA",
                    "channel_properties": {"account_holder_name": "Michael Chen",
                                           "account_number": ID_ACCOUNT},
                    "amount": 150_000, "currency": "IDR",
                    "description": "Gullak withdrawal WD-43"}
    assert type(body["amount"]) is int  # rupiah go as integers


async def test_xendit_pays_pesos_with_two_decimals() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=xendit_payout(amount=123.45, currency="PHP",
                                                      channel_code="PH_GCASH"))

    request = PayoutRequest(ID_REQUEST.id, "k-php", 12_345, "PHP",
                            Destination("bank_channel", "Test", account_number="09171234567",
                                        channel_code="PH_GCASH"), ID_REQUEST.contact, "")
    await xendit(handler).create(request)
    body = json.loads(seen[0].content)
    assert (body["amount"], body["currency"]) == (123.45, "PHP")
    assert "description" not in body


@pytest.mark.parametrize("request_", [
    PayoutRequest(ID_REQUEST.id, "k", 1_000, "IDR", Destination("bank_channel", "Michael Chen",
                                                                account_number=ID_ACCOUNT),
                  ID_REQUEST.contact, "x"),
    PayoutRequest(ID_REQUEST.id, "k", 1_000, "USD", ID_REQUEST.destination, ID_REQUEST.contact,
                  "x"),
])
async def test_xendit_refuses_what_it_cannot_pay_before_asking(request_: PayoutRequest) -> None:
    with pytest.raises(ProviderError) as caught:
        await xendit(unused).create(request_)
    assert caught.value.final


@settings(max_examples=200)
@given(minor=st.integers(min_value=0, max_value=10**15), currency=st.sampled_from(["IDR", "PHP"]))
def test_xendit_amounts_survive_the_round_trip(minor: int, currency: str) -> None:
    major = to_major(minor, currency)
    assert to_minor(json.loads(json.dumps(major)), currency) == minor


@pytest.mark.parametrize(("value", "currency", "minor"), [
    (10_000, "IDR", 10_000), (10_000.0, "IDR", 10_000), ("10000", "IDR", 10_000),
    (1.11, "PHP", 111), (123.45, "PHP", 12_345), (10, "PHP", 1_000),
    (0.5, "IDR", None), (1.234, "PHP", None), (True, "IDR", None), (None, "IDR", None),
    ("abc", "IDR", None), ("1e999999999", "IDR", None), ("NaN", "PHP", None),
    ("Infinity", "PHP", None), (10, "USD", None), (10, None, None), ([10], "IDR", None),
    (10, ["IDR"], None), (10, {"IDR": 0}, None),
])
def test_xendit_to_minor(value: Any, currency: Any, minor: int | None) -> None:
    assert to_minor(value, currency) == minor


@pytest.mark.parametrize(("answer", "status", "failure"), [
    (xendit_payout(status="ACCEPTED"), "processing", None),
    (xendit_payout(status="PENDING_COMPLIANCE_ASSESSMENT"), "processing", None),
    (xendit_payout(status="REQUESTED"), "processing", None),
    (xendit_payout(status="SUCCEEDED"), "succeeded", None),
    (xendit_payout(status="FAILED", failure_code="INVALID_DESTINATION"), "failed",
     "INVALID_DESTINATION"),
    (xendit_payout(status="CANCELLED"), "failed", None),
    (xendit_payout(status="COMPLIANCE_REJECTED"), "failed", None),
    (xendit_payout(status="REVERSED", failure_code="REJECTED_BY_CHANNEL"), "reversed",
     "REJECTED_BY_CHANNEL"),
    (xendit_payout(status="SOMETHING_NEW"), "processing", None),
])
async def test_xendit_fetch_maps_every_documented_status(answer: dict[str, Any], status: str,
                                                         failure: str | None) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    result = await xendit(handler).fetch("disb-571f3644d2b4edf0745e9703")
    assert (result.status, result.failure) == (status, failure)
    assert (seen[0].method, str(seen[0].url)) == (
        "GET", "https://api.xendit.co/v2/payouts/disb-571f3644d2b4edf0745e9703")
    assert seen[0].headers["authorization"] == basic(XENDIT_KEY, "")


def transaction(**fields: Any) -> dict[str, Any]:
    """A transaction as Xendit's Transactions API shows one."""
    return {"id": "txn_1", "product_id": "disb-1", "type": "DISBURSEMENT", "status": "SUCCESS",
            "channel_category": "BANK", "channel_code": "ID_BCA", "reference_id": "ref-1",
            "account_identifier": ID_ACCOUNT, "currency": "IDR", "amount": 150_000,
            "cashflow": "MONEY_OUT", "business_id": "6018306aa16ad90cb3c43ba7",
            "fee": {"xendit_fee": 4_500, "value_added_tax": 495, "status": "COMPLETED"},
            "created": "2026-12-05T10:00:00.000Z", "updated": "2026-12-05T10:05:00.000Z",
            **fields}


async def test_xendit_statement_reads_the_days_disbursements_page_by_page() -> None:
    pages = [
        {"has_more": True, "data": [
            transaction(),
            transaction(id="txn_2", product_id="disb-usd", currency="USD", amount=10.5)],
         "links": [{"href": "/transactions?after_id=txn_2", "rel": "next", "method": "GET"}]},
        {"has_more": False, "data": [
            transaction(id="txn_3", product_id="disb-3", reference_id="ref-3", currency="PHP",
                        amount=123.45, status="REVERSED", updated="2026-12-06T01:00:00Z"),
            transaction(id="txn_4", product_id="disb-4", status="PENDING", reference_id=None),
            transaction(id="txn_5", product_id="disb-5", status="VOIDED")],
         "links": []}]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=pages[len(seen) - 1])

    lines = await xendit(handler).statement(dt.date(2026, 12, 5))
    window = {"types": "DISBURSEMENT", "created[gte]": "2026-12-05T00:00:00.000Z",
              "created[lte]": "2026-12-05T23:59:59.999Z", "limit": "50"}
    assert [dict(r.url.params) for r in seen] == [window, {**window, "after_id": "txn_2"}]
    assert all((r.method, r.url.path) == ("GET", "/transactions") for r in seen)
    assert all(r.headers["authorization"] == basic(XENDIT_KEY, "") for r in seen)
    assert [(line.ref, line.reference, line.amount, line.status, line.day) for line in lines] == [
        ("disb-1", "ref-1", 150_000, "succeeded", dt.date(2026, 12, 5)),
        ("disb-3", "ref-3", 12_345, "reversed", dt.date(2026, 12, 6)),
        ("disb-4", None, 150_000, "processing", dt.date(2026, 12, 5)),
        ("disb-5", "ref-1", 150_000, "failed", dt.date(2026, 12, 5))]


@pytest.mark.parametrize("answer", [
    {"has_more": False},
    {"has_more": False, "data": [transaction(product_id=None)]},
    {"has_more": False, "data": [transaction(amount=0.5)]},
    {"has_more": False, "data": [transaction(status="ODD")]},
    {"has_more": False, "data": [transaction(created="yesterday", updated=None)]},
    {"has_more": False, "data": ["txn_1"]},
])
async def test_xendit_statement_refuses_what_it_cannot_reconcile(answer: dict[str, Any]) -> None:
    with pytest.raises(ProviderError):
        await xendit(lambda r: httpx.Response(200, json=answer)).statement(dt.date(2026, 12, 5))


@pytest.mark.parametrize("currency", ["USD", ["IDR"], None])
async def test_xendit_statement_passes_over_other_currencies(currency: Any) -> None:
    answer = {"has_more": False, "data": [transaction(currency=currency)]}
    provider = xendit(lambda r: httpx.Response(200, json=answer))
    assert await provider.statement(dt.date(2026, 12, 5)) == []


async def test_xendit_verify_says_xendit_documents_no_validation() -> None:
    with pytest.raises(VerificationUnavailable, match="no account validation") as caught:
        await xendit(unused).verify(ID_REQUEST.destination, ID_REQUEST.contact, "k")
    assert not caught.value.final
    assert_safe(caught.value)


# Xendit: callbacks


def xendit_callback(event: str, **data: Any) -> bytes:
    return json.dumps({"event": event, "business_id": "5f27a14a9bf05c73dd040bc8",
                       "created": "2026-12-05T10:15:59Z",
                       "data": xendit_payout(**data)}).encode()


def test_xendit_callback_token() -> None:
    provider = xendit(unused)
    body = xendit_callback("payout.succeeded", status="SUCCEEDED")
    assert provider.verify_webhook({"x-callback-token": CALLBACK_TOKEN}, body)
    assert not provider.verify_webhook({"x-callback-token": CALLBACK_TOKEN + "x"}, body)
    assert not provider.verify_webhook({"x-callback-token": CALLBACK_TOKEN[:-1]}, body)
    assert not provider.verify_webhook({"x-callback-token": ""}, body)
    assert not provider.verify_webhook({}, body)
    assert not xendit(unused, token="").verify_webhook({"x-callback-token": ""}, body)


@pytest.mark.parametrize(("event", "data", "status", "failure", "amount"), [
    ("payout.succeeded", {"status": "SUCCEEDED"}, "succeeded", None, 150_000),
    ("payout.failed", {"status": "FAILED", "failure_code": "INVALID_DESTINATION"}, "failed",
     "INVALID_DESTINATION", 150_000),
    ("payout.reversed", {"status": "REVERSED", "failure_code": "REJECTED_BY_CHANNEL",
                         "currency": "PHP", "amount": 1.11}, "reversed", "REJECTED_BY_CHANNEL",
     111),
    ("payout.succeeded", {"status": "SUCCEEDED", "failure_code": None}, "succeeded", None,
     150_000),
    ("payout.accepted", {"status": "ACCEPTED"}, None, None, 150_000),
])
def test_xendit_parses_payout_callbacks(event: str, data: dict[str, Any],
                                        status: PayoutStatus | None, failure: str | None,
                                        amount: int) -> None:
    parsed = xendit(unused).parse_webhook({"webhook-id": "wh_1"}, xendit_callback(event, **data))
    assert parsed == PayoutEvent("wh_1", "disb-571f3644d2b4edf0745e9703", str(ID_REQUEST.id),
                                 status, failure, amount)


def test_xendit_event_id_falls_back_to_the_payout_and_its_status() -> None:
    body = xendit_callback("payout.failed", status="FAILED", reference_id=7, amount="lots")
    event = xendit(unused).parse_webhook({}, body)
    assert (event.event_id, event.reference, event.amount) == (
        "disb-571f3644d2b4edf0745e9703:FAILED", None, None)


@pytest.mark.parametrize("currency", [["IDR"], {"IDR": 0}, None, 360])
def test_xendit_a_callback_in_an_odd_currency_has_no_amount(currency: Any) -> None:
    body = xendit_callback("payout.succeeded", status="SUCCEEDED", currency=currency)
    assert xendit(unused).parse_webhook({}, body).amount is None


@pytest.mark.parametrize("body", [
    b"", b"not json", b"\xff\xfe\x00", b"[]", b'"payout.succeeded"', b"1.5", b"null", b"{}",
    b"{" * 50_000,
    json.dumps({"event": "payout.succeeded"}).encode(),
    json.dumps({"event": "payout.succeeded", "data": []}).encode(),
    json.dumps({"event": "payout.succeeded", "data": {"status": "SUCCEEDED"}}).encode(),
    json.dumps({"event": "payout.succeeded", "data": {"id": "disb-1"}}).encode(),
    json.dumps({"event": "payout.succeeded", "data": {"id": 1, "status": "SUCCEEDED"}}).encode(),
    json.dumps({"event": "payout.succeeded", "data": {"id": "disb-1", "status": 3}}).encode(),
    json.dumps({"event": None, "data": xendit_payout()}).encode(),
    json.dumps(xendit_payout()).encode(),  # a payout without its event around it
])
def test_xendit_malformed_bodies_are_invalid_payloads(body: bytes) -> None:
    with pytest.raises(InvalidPayload):
        xendit(unused).parse_webhook({}, body)


XENDIT_CALLBACKS = shaped({
    "event": st.sampled_from(["payout.succeeded", "payout.failed", "payout.reversed"]),
    "data": shaped({
        "id": st.sampled_from(["disb-1", ""]),
        "status": st.sampled_from(["SUCCEEDED", "FAILED", "REVERSED", "ACCEPTED", "ODD"]),
        "amount": st.integers() | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=12),
        "currency": st.sampled_from(["IDR", "PHP", "USD"]), "reference_id": st.text(max_size=40),
        "failure_code": st.text(max_size=20)})})


@settings(max_examples=300)
@given(headers=st.sampled_from([{}, {"webhook-id": "wh_1"}]),
       raw=st.binary() | JSON.map(lambda v: json.dumps(v).encode())
       | XENDIT_CALLBACKS.map(lambda v: json.dumps(v).encode()))
def test_xendit_parser_never_raises_but_invalid_payload(headers: dict[str, str],
                                                        raw: bytes) -> None:
    try:
        event = xendit(unused).parse_webhook(headers, raw)
    except InvalidPayload:
        return
    assert_event(event)


# Xendit: errors


@pytest.mark.parametrize(("code", "final"), [
    (400, True), (404, True), (401, False), (403, False), (409, False), (429, False),
    (500, False), (503, False)])
async def test_xendit_errors_say_whether_they_are_final(code: int, final: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(code, json={
            "error_code": "INVALID_DESTINATION",
            "message": f"Account {ID_ACCOUNT} is invalid (key {XENDIT_KEY})"})

    with pytest.raises(ProviderError) as caught:
        await xendit(handler).create(ID_REQUEST)
    assert (caught.value.status, caught.value.final) == (code, final)
    assert f"xendit answered {code}" in caught.value.detail
    assert_safe(caught.value)


async def test_xendit_unreachable_is_not_final() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout(f"boom {XENDIT_KEY}", request=request)

    provider = xendit(handler)
    for call in (provider.create(ID_REQUEST), provider.fetch("disb-1"),
                 provider.statement(dt.date(2026, 12, 5))):
        with pytest.raises(ProviderError, match="xendit unreachable") as caught:
            await call
        assert not caught.value.final
        assert_safe(caught.value)


async def test_xendit_an_unreadable_answer_is_not_final() -> None:
    with pytest.raises(ProviderError) as caught:
        await xendit(lambda r: httpx.Response(200, text="<html>")).fetch("disb-1")
    assert not caught.value.final
