"""Xendit payouts, from its public API reference (docs.xendit.co; the same operations in
Xendit's own SDKs, xendit-python docs/PayoutApi.md and docs/TransactionApi.md):

- Payouts API v2 (docs.xendit.co/apidocs/create-payout): POST /v2/payouts with HTTP basic auth
  (the secret key as user name, an empty password) and the Idempotency-key header (required,
  1 to 100 characters); body {reference_id, channel_code, channel_properties
  {account_holder_name, account_number}, amount, currency, description}; answers the payout
  {id: "disb-...", reference_id, amount, currency, status, failure_code, created, updated}.
  GET /v2/payouts/{id} (apidocs/get-payout) answers the same.
- Payout statuses (docs/payout-status-lifecycle): ACCEPTED, PENDING_COMPLIANCE_ASSESSMENT and
  REQUESTED are on the way; SUCCEEDED; FAILED, CANCELLED and COMPLIANCE_REJECTED never left;
  REVERSED came back after SUCCEEDED.
- Statements: the Payouts API lists payouts only by reference_id (GET /v2/payouts
  ?reference_id=), never by day. The Transactions API does (apidocs/list-transactions):
  GET /transactions?types=DISBURSEMENT&created[gte]=&created[lte]=&limit=&after_id= answers
  {data: [{id: "txn_...", product_id (the payout's id), reference_id, type, status: PENDING |
  SUCCESS | FAILED | VOIDED | REVERSED, currency, amount, created, updated}], has_more,
  links}; has_more says a next page follows the last item's id as after_id (the SDKs'
  DateRangeFilter names the bounds gte and lte).
- Account validation: the Payouts API documents none (its operations are create, get, list by
  reference, cancel and channels). The bank account name lookup once offered beside it
  (bank_account_data_requests) is not in the current reference, so `verify` says so rather
  than guessing.
- Payout webhooks (apidocs/payout-webhook): the x-callback-token header equals the
  account's callback verification token; the body is {event: "payout.succeeded" |
  "payout.failed" | "payout.reversed", business_id, created, data: <the payout>}. A
  `webhook-id` header, where sent, names the event; otherwise (payout id, status) does, as a
  payout reaches each status once.

Amounts: Xendit takes and states them in the currency's unit, whole rupiah for IDR and up to
two decimals for PHP (create-payout, `amount`). Ours are minor units of the asset paid out: an
IDR asset has scale 0 (rupiah), a PHP asset scale 2 (centavos); CURRENCY_DECIMALS says so.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Mapping, Sequence
from decimal import Decimal
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
    VerificationUnavailable,
    call,
)

API = "https://api.xendit.co"
PAGE = 50  # transactions asked for at once
CURRENCY_DECIMALS = {"IDR": 0, "PHP": 2}
STATUSES: dict[str, PayoutStatus] = {
    "ACCEPTED": "processing", "PENDING_COMPLIANCE_ASSESSMENT": "processing",
    "REQUESTED": "processing", "SUCCEEDED": "succeeded", "FAILED": "failed",
    "CANCELLED": "failed", "COMPLIANCE_REJECTED": "failed", "REVERSED": "reversed"}
TRANSACTION_STATUSES: dict[str, PayoutStatus] = {
    "PENDING": "processing", "SUCCESS": "succeeded", "FAILED": "failed", "VOIDED": "failed",
    "REVERSED": "reversed"}


def to_major(minor: int, currency: str) -> int | float:
    decimals = CURRENCY_DECIMALS[currency]
    return minor if decimals == 0 else float(Decimal(minor).scaleb(-decimals))


def to_minor(value: Any, currency: Any) -> int | None:
    """Minor units of an amount Xendit states in the currency's unit; None unless it is a
    whole number of them, of a sane size, in a currency we pay in."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) \
            or not isinstance(currency, str) or currency not in CURRENCY_DECIMALS:
        return None
    try:
        amount = Decimal(str(value)).scaleb(CURRENCY_DECIMALS[currency])
    except ArithmeticError:
        return None
    if not amount.is_finite() or amount != amount.to_integral_value() or abs(amount) >= 10**18:
        return None
    return int(amount)


def _day(payout: Mapping[str, Any]) -> dt.date | None:
    for field in ("updated", "created"):
        value = payout.get(field)
        try:
            at = dt.datetime.fromisoformat(value if isinstance(value, str) else "")
        except ValueError:
            continue
        # Xendit's times are UTC, with or without saying so.
        return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).date()
    return None


def _result(payout: Any) -> PayoutResult:
    if not isinstance(payout, dict) or not isinstance(payout.get("id"), str):
        raise ProviderError("xendit answered a payout without an id")
    # A status Xendit adds later is not final until Xendit says so in one we know.
    status = STATUSES.get(str(payout.get("status")), "processing")
    code = payout.get("failure_code")
    failure = code if status in ("failed", "reversed") and isinstance(code, str) else None
    return PayoutResult(payout["id"], status, failure, payout)


def _line(transaction: Any) -> StatementLine | None:
    if not isinstance(transaction, dict):
        raise ProviderError("xendit listed a transaction that is not an object")
    if str(transaction.get("currency")) not in CURRENCY_DECIMALS:
        return None  # not a payout of ours: we pay in IDR and PHP only
    ref, day = transaction.get("product_id"), _day(transaction)
    amount = to_minor(transaction.get("amount"), transaction.get("currency"))
    status = TRANSACTION_STATUSES.get(str(transaction.get("status")))
    if not isinstance(ref, str) or day is None or amount is None or status is None:
        raise ProviderError("xendit listed a transaction without product_id, amount, status"
                            " or time")
    reference = transaction.get("reference_id")
    return StatementLine(ref, reference if isinstance(reference, str) else None, amount,
                         status, day)


class XenditPayouts:
    name = "xendit"
    currencies = frozenset(CURRENCY_DECIMALS)
    kinds: frozenset[MethodKind] = frozenset({"bank_channel"})

    def __init__(self, secret_key: str, callback_token: str, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 verify_delays: Sequence[float] = ()) -> None:
        self._auth = httpx.BasicAuth(secret_key, "")
        self._token = callback_token.encode()
        self._secrets = (secret_key, callback_token)
        self._transport = transport
        # Taken as RazorpayX takes it; Xendit's verify has nothing to poll (see above).
        self._verify_delays = tuple(verify_delays)

    async def _call(self, method: str, path: str, *, hide: Sequence[str | None] = (),
                    **kwargs: Any) -> Any:
        return await call(self.name, API, self._auth, self._transport,
                          (*self._secrets, *hide), method, path, **kwargs)

    async def create(self, request: PayoutRequest) -> PayoutResult:
        destination = request.destination
        if not destination.channel_code or not destination.account_number:
            raise ProviderError("xendit needs the destination's channel code and account"
                                " number", final=True)
        if request.currency not in CURRENCY_DECIMALS:
            raise ProviderError(f"xendit pays no {request.currency} here", final=True)
        body: dict[str, Any] = {
            # Unique per attempt: what a payout is found by, and what the statement echoes.
            "reference_id": str(request.id), "channel_code": destination.channel_code,
            "channel_properties": {"account_holder_name": destination.holder_name,
                                   "account_number": destination.account_number},
            "amount": to_major(request.amount, request.currency),
            "currency": request.currency}
        if request.narration:
            body["description"] = request.narration
        answer = await self._call("POST", "/v2/payouts", json=body,
                                  headers={"Idempotency-key": request.key},
                                  hide=(destination.account_number,))
        return _result(answer)

    async def fetch(self, ref: str) -> PayoutResult:
        return _result(await self._call("GET", f"/v2/payouts/{ref}"))

    async def statement(self, day: dt.date) -> list[StatementLine]:
        params: dict[str, str | int] = {
            "types": "DISBURSEMENT", "created[gte]": f"{day.isoformat()}T00:00:00.000Z",
            "created[lte]": f"{day.isoformat()}T23:59:59.999Z", "limit": PAGE}
        lines: list[StatementLine] = []
        while True:
            body = await self._call("GET", "/transactions", params=params)
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise ProviderError("xendit answered a list of transactions without data")
            lines += [line for item in data if (line := _line(item)) is not None]
            last = data[-1].get("id") if data else None
            if not body.get("has_more") or not isinstance(last, str):
                return lines
            params["after_id"] = last

    async def verify(self, destination: Destination, contact: Contact,
                     key: str) -> Verification:
        raise VerificationUnavailable("xendit documents no account validation for payouts:"
                                      " this destination cannot be verified through xendit")

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        given = headers.get("x-callback-token", "").encode()
        return bool(self._token) and hmac.compare_digest(given, self._token)

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> PayoutEvent:
        try:
            body = read_json(raw_body)
        except ValueError as exc:
            raise InvalidPayload("not a Xendit callback") from exc
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(body.get("event"), str):
            raise InvalidPayload("a Xendit payout callback needs an event and its data")
        ref, status_name = data.get("id"), data.get("status")
        if not isinstance(ref, str) or not ref or not isinstance(status_name, str):
            raise InvalidPayload("a Xendit payout callback needs the payout's id and status")
        status: PayoutStatus | None = STATUSES.get(status_name)
        if status == "processing":
            # An intermediate state changes nothing here, and may arrive after the final one.
            status = None
        reference, code = data.get("reference_id"), data.get("failure_code")
        failure = code if status in ("failed", "reversed") and isinstance(code, str) else None
        return PayoutEvent(headers.get("webhook-id") or f"{ref}:{status_name}", ref,
                           reference if isinstance(reference, str) else None, status, failure,
                           to_minor(data.get("amount"), data.get("currency")))
