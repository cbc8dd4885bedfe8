"""A conversion as a network reports it, and what it does to its cashback.

One cashback per (network, the network's transaction id), its row locked while a report is
applied, so copies and races have one effect. The network's word, mapped to pending, confirmed
or rejected, moves it:

- a new conversion matches its click (the click id the merchant's tracking URL carried): the
  click's user, offer and merchant. An unknown click (or one without a user) is kept for
  review, `unmatched`, with the last state the network reported, until an admin assigns it;
- `pending` credits the user's share to their INR `pending` account at once, from the
  platform's `cashback_receivable` account (what the network owes us); a new amount while
  pending moves the difference;
- `confirmed` moves it from pending to the user's main INR account (withdrawable);
- `rejected` moves it back to `cashback_receivable`.
Confirmed and rejected are final: the first final word wins, and anything said later (a late
`pending`, a copy) changes nothing. A `confirmed` for a conversion never seen creates it and
confirms it at once.

The user's share (the rule): the offer's cashback if the click's offer has one (percent of the
sale in basis points, or fixed; capped by its `max_cashback`), else the merchant's default
(`default_cashback_bps` of the sale, else `default_cashback_amount`), else nothing; and never
more than the commission the network pays, when it says.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.cashback.models import Cashback, Network
from gullak.kit import clock, events
from gullak.kit.errors import NotFound
from gullak.kit.schemas import BIGINT
from gullak.kit.sql import xact_lock
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountIn, OwnerType, TransferIn
from gullak.merchants import service as merchants
from gullak.offers import service as offers

INR = "INR"
REFERENCE = "cashback"
RECEIVABLE = "cashback_receivable"
BPS = 10_000
FIELDS = ("transaction_id", "click_id", "amount", "commission", "currency", "status")
FINAL = ("confirmed", "rejected")
MAX_FIELDS = 50
MAX_TEXT = 200
_WHOLE = re.compile(r"^[0-9]{1,19}$")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")


class Refused(Exception):
    """A report that cannot be applied: why, and which of our fields."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.field = reason, field


@dataclass(frozen=True)
class Report:
    transaction_id: str
    click_id: str | None
    status: str  # pending, confirmed or rejected
    said: str  # the network's own word
    order_amount: int
    commission: int | None
    currency: str


@dataclass(frozen=True)
class Applied:
    outcome: str  # applied, duplicate, ignored, unmatched
    cashback: Cashback
    reason: str | None = None


# -- reading a report -------------------------------------------------------------------------

def clean(fields: dict[str, Any]) -> dict[str, Any]:
    """What is kept of the fields as received, as JSON PostgreSQL stores: text without NUL or
    lone surrogates, numbers that fit, nothing nested (nested values kept as their JSON)."""
    kept: dict[str, Any] = {}
    for key, value in list(fields.items())[:MAX_FIELDS]:
        name = _CONTROL.sub("", str(key))[:MAX_TEXT]
        if isinstance(value, bool) or value is None:
            kept[name] = value
        elif isinstance(value, int):
            kept[name] = value if -BIGINT - 1 <= value <= BIGINT else str(value)[:MAX_TEXT]
        elif isinstance(value, float):
            kept[name] = value if math.isfinite(value) else str(value)
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            kept[name] = _CONTROL.sub("", text)[:1000]
    return kept


def _text(value: Any, field: str, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise Refused("missing", field)
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Refused("not_text", field)
    text = str(value).strip()
    if not text or len(text) > MAX_TEXT or _CONTROL.search(text):
        raise Refused("invalid_text", field)
    return text


def _amount(value: Any, field: str, *, required: bool) -> int | None:
    """Whole minor units: 12500, or "12500". A decimal ("125.00", 125.0) is refused, never
    rounded: the network must say paise."""
    if value is None or value == "":
        if required:
            raise Refused("missing", field)
        return None
    if isinstance(value, bool):
        raise Refused("amount_not_integer", field)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _WHOLE.match(value.strip()):
        number = int(value.strip())
    else:
        raise Refused("amount_not_integer", field)
    if not 0 <= number <= BIGINT:
        raise Refused("amount_out_of_range", field)
    return number


def read(network: Network, fields: dict[str, Any], *, own_names: bool = False) -> Report:
    """The report in these fields, by the network's names (or ours, in a report file) and
    its status words."""
    names = {f: f if own_names else network.field_map.get(f, f) for f in FIELDS}
    said = _text(fields.get(names["status"]), "status", required=True)
    assert said is not None
    status = network.status_map.get(said.lower())
    if status is None and said.lower() in ("pending", "confirmed", "rejected"):
        status = said.lower()
    if status is None:
        raise Refused("unknown_status", "status")
    transaction_id = _text(fields.get(names["transaction_id"]), "transaction_id", required=True)
    assert transaction_id is not None
    currency = (_text(fields.get(names["currency"]), "currency", required=False) or INR).upper()
    if currency != INR:
        raise Refused("unsupported_currency", "currency")
    order_amount = _amount(fields.get(names["amount"]), "amount", required=True)
    assert order_amount is not None
    return Report(
        transaction_id=transaction_id,
        click_id=_text(fields.get(names["click_id"]), "click_id", required=False),
        status=status, said=said, order_amount=order_amount,
        commission=_amount(fields.get(names["commission"]), "commission", required=False),
        currency=currency)


# -- the user's share -------------------------------------------------------------------------

async def share(session: AsyncSession, offer_id: uuid.UUID | None,
                merchant_id: uuid.UUID | None, order_amount: int,
                commission: int | None) -> int:
    amount = None
    if offer_id is not None:
        try:
            offer = await offers.get_offer(session, offer_id)
        except NotFound:
            offer = None
        if offer is not None and offer.cashback_kind is not None:
            value = offer.cashback_value or 0
            amount = order_amount * value // BPS if offer.cashback_kind == "percent" else value
            if offer.max_cashback is not None:
                amount = min(amount, offer.max_cashback)
    if amount is None and merchant_id is not None:
        try:
            merchant = await merchants.get_merchant(session, merchant_id)
        except NotFound:
            merchant = None
        if merchant is not None and merchant.default_cashback_bps is not None:
            amount = order_amount * merchant.default_cashback_bps // BPS
        elif merchant is not None and merchant.default_cashback_amount is not None:
            amount = merchant.default_cashback_amount
    amount = amount or 0
    return min(amount, commission) if commission is not None else amount


@dataclass(frozen=True)
class Owner:
    user_id: uuid.UUID
    offer_id: uuid.UUID | None
    merchant_id: uuid.UUID | None
    click_id: uuid.UUID | None


async def click_owner(session: AsyncSession, click_id: str | None) -> Owner | str:
    """Who a click belongs to, or why nobody does."""
    if click_id is None:
        return "no_click"
    try:
        found = uuid.UUID(click_id)
    except ValueError:
        return "unknown_click"
    try:
        click = await offers.get_click(session, found)
    except NotFound:
        return "unknown_click"
    if click.user_id is None:  # an anonymous click has nobody to pay
        return "click_without_user"
    return Owner(click.user_id, click.offer_id, click.merchant_id, click.click_id)


# -- moving value -----------------------------------------------------------------------------

async def open_accounts(session: AsyncSession, row: Cashback) -> None:
    assert row.user_id is not None
    pending = await ledger.open_account(session, AccountIn(
        asset_code=INR, owner_type=OwnerType.user, owner_id=row.user_id, purpose="pending"))
    main = await ledger.user_account(session, row.user_id, INR)
    row.pending_account_id, row.main_account_id = pending.id, main.id


async def _receivable(session: AsyncSession) -> uuid.UUID:
    return (await ledger.platform_account(session, INR, RECEIVABLE)).id


async def set_amount(session: AsyncSession, row: Cashback, amount: int) -> None:
    """The user's share of a pending cashback is now `amount`: the difference moves between
    the platform's receivable and the user's pending account."""
    difference = amount - row.credited
    row.amount = amount
    if difference == 0:
        return
    assert row.pending_account_id is not None
    receivable = await _receivable(session)
    debit, credit = ((receivable, row.pending_account_id) if difference > 0
                     else (row.pending_account_id, receivable))
    row.revision += 1
    await ledger.transfer(session, TransferIn(
        debit_account_id=debit, credit_account_id=credit, asset_code=INR,
        amount=abs(difference), kind="cashback_pending", reference_type=REFERENCE,
        reference_id=str(row.id), metadata={"user_id": str(row.user_id)}),
        idempotency_key=f"cashback:{row.id}:credit:{row.revision}")
    row.credited = amount


def confirm_transfer(row_id: uuid.UUID, user_id: uuid.UUID, amount: int,
                     pending_account_id: uuid.UUID, main_account_id: uuid.UUID) -> TransferIn:
    """The confirmation's transfer, the same whoever posts it (a postback in its unit, or the
    bulk poster), so that its idempotency key replays instead of paying twice."""
    return TransferIn(
        debit_account_id=pending_account_id, credit_account_id=main_account_id,
        asset_code=INR, amount=amount, kind="cashback", reference_type=REFERENCE,
        reference_id=str(row_id), metadata={"user_id": str(user_id)})


def confirm_key(row_id: uuid.UUID) -> str:
    return f"cashback:{row_id}:confirm"


def _confirmed(row_id: uuid.UUID, user_id: uuid.UUID, amount: int) -> dict[str, object]:
    return {"cashback_id": str(row_id), "user_id": str(user_id), "amount": amount,
            "currency": INR}


async def confirmed_event(session: AsyncSession, row_id: uuid.UUID, user_id: uuid.UUID,
                          amount: int) -> None:
    await events.publish(session, "cashback.confirmed", _confirmed(row_id, user_id, amount))


async def confirmed_events(session: AsyncSession,
                           rows: list[tuple[uuid.UUID, uuid.UUID, int]]) -> None:
    """`cashback.confirmed` of a bulk confirmation's chunk (cashback id, user, amount), as
    one batch: its handlers act on the chunk at once (`events.publish_many`)."""
    await events.publish_many(session, "cashback.confirmed",
                              [_confirmed(*row) for row in rows])


async def confirm(session: AsyncSession, row: Cashback) -> None:
    row.status, row.network_status = "confirmed", "confirmed"
    row.confirmed_at = row.settled_at = clock.now()
    assert row.user_id is not None
    if row.credited > 0:
        assert row.pending_account_id is not None and row.main_account_id is not None
        await ledger.transfer(session, confirm_transfer(
            row.id, row.user_id, row.credited, row.pending_account_id, row.main_account_id),
            idempotency_key=confirm_key(row.id))
    await confirmed_event(session, row.id, row.user_id, row.credited)


async def reject(session: AsyncSession, row: Cashback, reason: str | None = None) -> None:
    row.status, row.network_status = "rejected", "rejected"
    row.rejected_at, row.reason = clock.now(), reason or row.reason
    if row.credited > 0:
        assert row.pending_account_id is not None
        await ledger.transfer(session, TransferIn(
            debit_account_id=row.pending_account_id,
            credit_account_id=await _receivable(session), asset_code=INR, amount=row.credited,
            kind="cashback_rejected", reference_type=REFERENCE, reference_id=str(row.id),
            metadata={"user_id": str(row.user_id)}),
            idempotency_key=f"cashback:{row.id}:reject")
    await events.publish(session, "cashback.rejected", {
        "cashback_id": str(row.id), "user_id": str(row.user_id), "amount": row.credited,
        "currency": INR})


# -- applying ---------------------------------------------------------------------------------

async def matched(session: AsyncSession, row: Cashback, owner: Owner) -> None:
    """Give a cashback its owner and share, then carry out what the network last said."""
    row.user_id, row.offer_id, row.merchant_id = owner.user_id, owner.offer_id, owner.merchant_id
    row.click_id = owner.click_id
    row.status, row.reason = "pending", None
    await session.flush()
    await open_accounts(session, row)
    said = row.network_status
    amount = await share(session, row.offer_id, row.merchant_id, row.order_amount,
                         row.commission)
    if said == "rejected":  # nothing to credit and take back
        row.amount = amount
        await reject(session, row)
        return
    await set_amount(session, row, amount)
    if said == "confirmed":
        await confirm(session, row)


async def _locked(session: AsyncSession, network_id: uuid.UUID,
                  transaction_id: str) -> Cashback | None:
    return await session.scalar(select(Cashback).where(
        Cashback.network_id == network_id, Cashback.transaction_id == transaction_id)
        .with_for_update().execution_options(populate_existing=True))


def _same(row: Cashback, report: Report) -> bool:
    return (row.network_status == report.status and row.order_amount == report.order_amount
            and row.commission == report.commission)


async def apply(session: AsyncSession, network: Network, report: Report) -> Applied:
    # Two first reports of one conversion queue here; afterwards its row lock does.
    await xact_lock(session, f"cashback:{network.id}:{report.transaction_id}")
    row = await _locked(session, network.id, report.transaction_id)
    if row is None:
        return await _new(session, network, report)
    if row.status == "dismissed":
        return Applied("ignored", row, "dismissed")
    if row.status in FINAL or (row.status == "unmatched" and row.network_status in FINAL):
        return Applied("duplicate" if _same(row, report) else "ignored", row,
                       None if _same(row, report) else "final")
    if _same(row, report):
        return Applied("duplicate", row)
    now = clock.now()
    row.order_amount, row.commission, row.updated_at = (report.order_amount, report.commission,
                                                        now)
    if row.status == "unmatched":
        row.network_status = report.status
        return Applied("unmatched", row, row.reason)
    await set_amount(session, row, await share(
        session, row.offer_id, row.merchant_id, row.order_amount, row.commission))
    row.network_status = report.status
    if report.status == "confirmed":
        await confirm(session, row)
    elif report.status == "rejected":
        await reject(session, row, f"rejected by the network ({report.said})")
    return Applied("applied", row)


async def _new(session: AsyncSession, network: Network, report: Report) -> Applied:
    now = clock.now()
    row = Cashback(network_id=network.id, transaction_id=report.transaction_id,
                   currency=report.currency, order_amount=report.order_amount,
                   commission=report.commission, amount=0, credited=0, revision=0,
                   status="unmatched", network_status=report.status, created_at=now,
                   updated_at=now)
    owner = await click_owner(session, report.click_id)
    if isinstance(owner, str):
        row.reason = owner
        session.add(row)
        await session.flush()
        return Applied("unmatched", row, owner)
    session.add(row)
    await session.flush()
    await matched(session, row, owner)
    if row.status == "rejected":
        row.reason = f"rejected by the network ({report.said})"
    return Applied("applied", row)
