"""RazorpayX, from Razorpay's public API reference (razorpay.com/docs/api/x; the same pages
as Markdown in github.com/razorpay/markdown-docs and razorpay/razorpay-php-testapp):

- Payout Composite API (api/x/payout-composite/create/bank-account, .../vpa): POST /v1/payouts
  with HTTP basic auth key_id:key_secret and the X-Payout-Idempotency header (mandatory since
  15 March 2025, api/x/payout-idempotency); body {account_number (ours: the account debited),
  amount (paise), currency "INR", mode ("IMPS" | "UPI"), purpose "payout", fund_account
  {account_type "bank_account", bank_account {name, ifsc, account_number} | account_type
  "vpa", vpa {address}; contact {name, email, contact, type, reference_id}},
  queue_if_low_balance, reference_id (at most 40 characters), narration (at most 30
  characters of a-z, A-Z, 0-9 and space)}; answers the payout {id: "pout_...", status,
  status_details {description, source, reason}, failure_reason, amount, reference_id,
  created_at, ...}.
- GET /v1/payouts/{id} (api/x/payouts/fetch-with-id) answers the payout; GET /v1/payouts
  ?account_number=&from=&to=&count=&skip= (api/x/payouts/fetch-all) a collection {items}: from
  and to are Unix times of creation, count is at most 100, skip pages. A statement line's day
  is that of processed_at where a payout has one (the reference's entity does not list it),
  else of created_at.
- Payout statuses (api/x/payouts/entity): queued, pending (approval), rejected, processing,
  processed, cancelled, reversed, failed; scheduled (a payout set for later) besides.
- Composite Account Validation (api/x/composite-account-validation/bank-account, .../vpa):
  POST /v1/fund_accounts/validations {source_account_number, validation_type (bank accounts:
  "pennydrop"), notes, fund_account {account_type, bank_account | vpa, contact}} answers
  {id: "fav_...", status: "created" | "completed" | "failed", validation_results
  {account_status: "active" | "invalid", registered_name, details}, status_details
  {description, source}}; GET /v1/fund_accounts/validations/{id} answers the same. The older
  Fund Account Validation (api/x/account-validation) names an existing fund account and
  answers `results` instead: both are read. Validation works for RazorpayX Lite only, and not
  in test mode.
- Payout webhooks (webhooks/payouts, webhooks/validate-test): X-Razorpay-Signature is the hex
  HMAC-SHA256 of the raw body with the webhook secret; x-razorpay-event-id is unique per
  event; the body is {event: "payout.processed" | "payout.reversed" | "payout.failed" |
  "payout.rejected" | "payout.updated" | ..., payload: {payout: {entity: <the payout>}}}.
  Webhooks may arrive out of order; processed and reversed are a payout's last states.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from gullak.kit.schemas import read_json
from gullak.payouts.providers.base import (
    Contact,
    Destination,
    InvalidPayload,
    MethodKind,
    PayoutEvent,
    PayoutRequest,
    PayoutResult,
    PayoutStatus,
    ProviderError,
    StatementLine,
    Verification,
    call,
)

API = "https://api.razorpay.com"
PAGE = 100  # the most payouts Razorpay lists at once
STATUSES: dict[str, PayoutStatus] = {
    "queued": "processing", "pending": "processing", "processing": "processing",
    "scheduled": "processing", "processed": "succeeded", "reversed": "reversed",
    "rejected": "failed", "failed": "failed", "cancelled": "failed"}
# A validation that failed for one of these reasons says nothing about the account: Razorpay's
# partner bank or servers erred, or our account could not pay the penny.
NOT_THE_ACCOUNT = ("gateway", "internal", "business")
DELAYS = (1.0, 2.0, 4.0)  # seconds between looks at a penny drop still under way


def narration(text: str) -> str:
    """What Razorpay takes as a narration: at most 30 characters of a-z, A-Z, 0-9 and space.
    Accents are dropped rather than their letters (é to e); anything else separates words."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^A-Za-z0-9]+", " ", plain).split())[:30].strip()


def _fund_account(destination: Destination, contact: Contact) -> dict[str, Any]:
    person = {"name": contact.name, "type": "customer", "reference_id": contact.reference[:40]}
    if contact.email:
        person["email"] = contact.email
    if contact.phone:
        person["contact"] = contact.phone
    if destination.kind == "bank" and destination.ifsc and destination.account_number:
        return {"account_type": "bank_account", "contact": person,
                "bank_account": {"name": destination.holder_name, "ifsc": destination.ifsc,
                                 "account_number": destination.account_number}}
    if destination.kind == "upi" and destination.upi_id:
        return {"account_type": "vpa", "vpa": {"address": destination.upi_id},
                "contact": person}
    raise ProviderError(f"razorpayx cannot pay a {destination.kind} destination without its"
                        " account details", final=True)


def _failure(payout: Mapping[str, Any]) -> str | None:
    details = payout.get("status_details")
    text = details.get("description") if isinstance(details, dict) else None
    text = text or payout.get("failure_reason")
    return text if isinstance(text, str) and text else None


def _status(payout: Mapping[str, Any]) -> PayoutStatus:
    # A status Razorpay adds later is not final until Razorpay says so in one we know.
    return STATUSES.get(str(payout.get("status")), "processing")


def _result(payout: Any) -> PayoutResult:
    if not isinstance(payout, dict) or not isinstance(payout.get("id"), str):
        raise ProviderError("razorpayx answered a payout without an id")
    status = _status(payout)
    failure = _failure(payout) if status in ("failed", "reversed") else None
    return PayoutResult(payout["id"], status, failure, payout)


def _line(payout: Any) -> StatementLine:
    if not isinstance(payout, dict):
        raise ProviderError("razorpayx listed a payout that is not an object")
    ref, amount, created = payout.get("id"), payout.get("amount"), payout.get("created_at")
    if not isinstance(ref, str) or type(amount) is not int or type(created) is not int:
        raise ProviderError("razorpayx listed a payout without id, amount or created_at")
    at = payout.get("processed_at")
    at = at if type(at) is int else created
    reference = payout.get("reference_id")
    return StatementLine(ref, reference if isinstance(reference, str) else None, amount,
                         _status(payout), dt.datetime.fromtimestamp(at, dt.UTC).date())


def _verification(answer: Any) -> Verification:
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
        raise ProviderError("razorpayx answered a validation without an id")
    ref, status = answer["id"], answer.get("status")
    results = answer.get("validation_results") or answer.get("results")
    results = results if isinstance(results, dict) else {}
    details = answer.get("status_details")
    details = details if isinstance(details, dict) else {}
    reason = details.get("description") if isinstance(details.get("description"), str) else None
    if status == "created":
        raise ProviderError(f"razorpayx is still validating this account ({ref})")
    if status == "failed":
        if details.get("source") in NOT_THE_ACCOUNT:
            raise ProviderError(f"razorpayx could not validate the account: {reason or ref}")
        return Verification(False, None, ref, reason or "the bank refused the validation")
    if status != "completed":
        raise ProviderError(f"razorpayx answered a validation in status {status!r}")
    # The reference documents active and invalid; one of its examples answers "valid".
    valid = results.get("account_status") in ("active", "valid")
    name = results.get("registered_name")
    detail = results.get("details") if isinstance(results.get("details"), str) else reason
    return Verification(valid, name if isinstance(name, str) and name else None, ref,
                        None if valid else detail or "the account is not active")


def _entity(body: Mapping[str, Any]) -> dict[str, Any] | None:
    payload = body.get("payload")
    payout = payload.get("payout") if isinstance(payload, dict) else None
    entity = payout.get("entity") if isinstance(payout, dict) else None
    return entity if isinstance(entity, dict) else None


class RazorpayX:
    name = "razorpayx"
    currencies = frozenset({"INR"})
    kinds: frozenset[MethodKind] = frozenset({"bank", "upi"})

    def __init__(self, key_id: str, key_secret: str, webhook_secret: str, account_number: str,
                 *, transport: httpx.AsyncBaseTransport | None = None,
                 verify_delays: Sequence[float] = DELAYS) -> None:
        self._auth = httpx.BasicAuth(key_id, key_secret)
        self._webhook_secret = webhook_secret.encode()
        self._account_number = account_number
        self._secrets = (key_id, key_secret, webhook_secret, account_number)
        self._transport = transport
        self._verify_delays = tuple(verify_delays)

    async def _call(self, method: str, path: str, *, hide: Sequence[str | None] = (),
                    **kwargs: Any) -> Any:
        return await call(self.name, API, self._auth, self._transport,
                          (*self._secrets, *hide), method, path, **kwargs)

    async def create(self, request: PayoutRequest) -> PayoutResult:
        destination = request.destination
        body = {"account_number": self._account_number, "amount": request.amount,
                "currency": request.currency,
                "mode": "IMPS" if destination.kind == "bank" else "UPI", "purpose": "payout",
                "fund_account": _fund_account(destination, request.contact),
                # Queued until the balance allows, rather than failed for want of it.
                "queue_if_low_balance": True,
                # Unique per attempt, and its 36 characters fit Razorpay's 40.
                "reference_id": str(request.id)}
        if note := narration(request.narration):
            body["narration"] = note  # without one, Razorpay uses our billing label
        answer = await self._call("POST", "/v1/payouts", json=body,
                                  headers={"X-Payout-Idempotency": request.key},
                                  hide=(destination.account_number, destination.upi_id))
        return _result(answer)

    async def fetch(self, ref: str) -> PayoutResult:
        return _result(await self._call("GET", f"/v1/payouts/{ref}"))

    async def statement(self, day: dt.date) -> list[StatementLine]:
        start = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
        lines: list[StatementLine] = []
        while True:
            body = await self._call("GET", "/v1/payouts", params={
                "account_number": self._account_number, "from": start, "to": start + 86_399,
                "count": PAGE, "skip": len(lines)})
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise ProviderError("razorpayx answered a list of payouts without items")
            lines += [_line(item) for item in items]
            if len(items) < PAGE:
                return lines

    async def verify(self, destination: Destination, contact: Contact,
                     key: str) -> Verification:
        body: dict[str, Any] = {"source_account_number": self._account_number,
                                "notes": {"reference": key},
                                "fund_account": _fund_account(destination, contact)}
        if destination.kind == "bank":
            body["validation_type"] = "pennydrop"
        hide = (destination.account_number, destination.upi_id)
        answer = await self._call("POST", "/v1/fund_accounts/validations", json=body, hide=hide)
        ref = answer.get("id") if isinstance(answer, dict) else None
        # Razorpay answers "created" while the bank is asked; past the last delay the caller
        # asks again later.
        for delay in self._verify_delays:
            if not isinstance(ref, str) or not isinstance(answer, dict) \
                    or answer.get("status") != "created":
                break
            await asyncio.sleep(delay)
            answer = await self._call("GET", f"/v1/fund_accounts/validations/{ref}", hide=hide)
        return _verification(answer)

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        given = headers.get("x-razorpay-signature", "")
        if not self._webhook_secret or not given:
            return False
        expected = hmac.new(self._webhook_secret, raw_body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given.encode(), expected.encode())

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> PayoutEvent:
        try:
            body = read_json(raw_body)
        except ValueError as exc:
            raise InvalidPayload("not a RazorpayX event") from exc
        if not isinstance(body, dict) or not isinstance(body.get("event"), str):
            raise InvalidPayload("a RazorpayX event needs an event name")
        name, entity = body["event"], _entity(body)
        event_id = headers.get("x-razorpay-event-id")
        if entity is None:
            # An event about no payout (payout.downtime.started, ...): nothing to act on.
            if not event_id:
                raise InvalidPayload("a RazorpayX event without a payout needs its event id")
            return PayoutEvent(event_id, None, None, None, None, None)
        ref = entity.get("id")
        if not isinstance(ref, str) or not ref:
            raise InvalidPayload("a RazorpayX payout event needs the payout's id")
        status: PayoutStatus | None = STATUSES.get(str(entity.get("status")))
        if status == "processing":
            # An intermediate state changes nothing here, and may arrive after the final one.
            status = None
        reference, amount = entity.get("reference_id"), entity.get("amount")
        return PayoutEvent(event_id or f"{ref}:{name}", ref,
                           reference if isinstance(reference, str) else None, status,
                           _failure(entity) if status in ("failed", "reversed") else None,
                           amount if type(amount) is int else None)
