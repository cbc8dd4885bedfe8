"""The SANDBOX payouts provider: the default, so that `make run` pays out with no account
anywhere. NO MONEY MOVES: its "provider side" is the table payout_sandbox.

It behaves as a provider does, and a destination's last digits choose what happens, so that
people and tests can walk every path:

| account number ends in (or UPI id starts with) | verification      | payout                  |
| ---------------------------------------------- | ----------------- | ----------------------- |
| 0000 (`invalid`)                               | no such account   | —                       |
| 1111 (`other`)                                 | another name      | —                       |
| 2222 (`reject`)                                | valid             | fails at once           |
| 3333 (`slow`)                                  | valid             | stays processing        |
| anything else                                  | valid, same name  | paid at once            |

A payout left processing is moved by `settle` (as the provider's back office would), which
returns the signed callback a provider would send (hex HMAC-SHA256 of the raw body in
X-Sandbox-Signature); `settle(ref, "reversed")` bounces a paid one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping

import structlog
from sqlalchemy import select, update

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.kit.schemas import read_json
from gullak.payouts.models import SandboxPayout
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
)

log = structlog.get_logger("gullak.payouts.sandbox")
SIGNATURE = "x-sandbox-signature"
STATUSES: tuple[PayoutStatus, ...] = ("processing", "succeeded", "failed", "reversed")
# What a settle may move, from what: a bounce only after success.
MOVES = {"succeeded": ("processing",), "failed": ("processing",), "reversed": ("succeeded",)}


def behaviour(destination: Destination) -> str:
    if destination.kind == "upi":
        name = (destination.upi_id or "").split("@")[0].lower()
        for word in ("invalid", "other", "reject", "slow"):
            if name.startswith(word):
                return word
        return "normal"
    tail = (destination.account_number or "")[-4:]
    return {"0000": "invalid", "1111": "other", "2222": "reject",
            "3333": "slow"}.get(tail, "normal")


class Sandbox:
    name = "sandbox"
    currencies = frozenset({"INR", "IDR", "PHP"})
    kinds: frozenset[MethodKind] = frozenset({"bank", "upi", "bank_channel", "mobile"})

    def __init__(self, db: Database, secret: str | Callable[[], str]) -> None:
        self._db = db
        self._secret = secret

    async def verify(self, destination: Destination, contact: Contact,
                     key: str) -> Verification:
        ref = "sandbox_fav_" + hashlib.sha256(key.encode()).hexdigest()[:20]
        how = behaviour(destination)
        if how == "invalid":
            return Verification(False, None, ref, "sandbox: no such account")
        if destination.kind == "mobile":  # an operator lookup: numbers carry no name
            return Verification(True, None, ref)
        name = "SANDBOX OTHER PERSON" if how == "other" else destination.holder_name.upper()
        return Verification(True, name, ref)

    async def create(self, request: PayoutRequest) -> PayoutResult:
        """One payout per key, however often asked (what an idempotency key promises)."""
        how = behaviour(request.destination)
        outcomes: dict[str, PayoutStatus] = {"reject": "failed", "slow": "processing"}
        status = outcomes.get(how, "succeeded")
        failure = "sandbox: the beneficiary's bank rejected the payout" if how == "reject" else None
        async with unit_of_work(self._db) as session:
            found = await session.scalar(select(SandboxPayout).where(
                SandboxPayout.key == request.key))
            if found is None:
                found = SandboxPayout(
                    ref=f"sandbox_pout_{uuid7().hex}", key=request.key,
                    reference=str(request.id), amount=request.amount,
                    currency=request.currency, destination=request.destination.masked,
                    status=status, failure=failure, day=clock.now().date())
                session.add(found)
                await session.flush()
            result = _result(found)
        log.info("sandbox_payout", ref=result.ref, status=result.status)
        return result

    async def fetch(self, ref: str) -> PayoutResult:
        async with unit_of_work(self._db) as session:
            found = await session.get(SandboxPayout, ref)
            if found is None:
                raise ProviderError("sandbox: no such payout", status=404, final=True)
            return _result(found)

    async def statement(self, day: dt.date) -> list[StatementLine]:
        async with unit_of_work(self._db) as session:
            rows = await session.scalars(select(SandboxPayout).where(SandboxPayout.day == day)
                                         .order_by(SandboxPayout.ref))
            return [StatementLine(r.ref, r.reference, r.amount, _status(r.status), r.day)
                    for r in rows]

    def sign(self, raw_body: bytes) -> str:
        secret = self._secret if isinstance(self._secret, str) else self._secret()
        return hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        return hmac.compare_digest(headers.get(SIGNATURE, "").encode(),
                                   self.sign(raw_body).encode())

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> PayoutEvent:
        try:
            body = read_json(raw_body)
            event_id, ref, status = body["event_id"], body["ref"], body["status"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidPayload("not a sandbox payout event") from exc
        if not isinstance(event_id, str) or not isinstance(ref, str):
            raise InvalidPayload("a sandbox payout event needs event_id and ref")
        reference, failure, amount = body.get("reference"), body.get("failure"), body.get("amount")
        return PayoutEvent(event_id, ref, reference if isinstance(reference, str) else None,
                           status if status in STATUSES else None,
                           failure if isinstance(failure, str) else None,
                           amount if type(amount) is int else None)

    async def settle(self, ref: str, outcome: PayoutStatus,
                     failure: str | None = None) -> tuple[dict[str, str], bytes] | None:
        """Move a payout as the provider would (succeeded or failed from processing,
        reversed from succeeded) and return the signed callback it would send; None when it
        cannot move so (already settled: a second click changes nothing)."""
        if outcome not in MOVES:
            raise ValueError(f"a sandbox payout cannot be settled as {outcome}")
        if outcome != "succeeded" and failure is None:
            failure = ("sandbox: the payout bounced back from the beneficiary's bank"
                       if outcome == "reversed" else "sandbox: the payout failed")
        async with unit_of_work(self._db) as session:
            row = (await session.execute(
                update(SandboxPayout).where(SandboxPayout.ref == ref,
                                            SandboxPayout.status.in_(MOVES[outcome]))
                .values(status=outcome, failure=failure)
                .returning(SandboxPayout.reference, SandboxPayout.amount))).first()
        if row is None:
            return None
        raw = json.dumps({"event_id": f"sandbox_pevt_{uuid7().hex}", "ref": ref,
                          "reference": row.reference, "status": outcome, "failure": failure,
                          "amount": row.amount, "sandbox": True}).encode()
        log.info("sandbox_payout_settled", ref=ref, status=outcome)
        return {SIGNATURE: self.sign(raw), "content-type": "application/json"}, raw


def _status(value: str) -> PayoutStatus:
    return value if value in STATUSES else "processing"  # type: ignore[return-value]


def _result(row: SandboxPayout) -> PayoutResult:
    return PayoutResult(row.ref, _status(row.status), row.failure,
                        {"sandbox": True, "ref": row.ref, "status": row.status})
