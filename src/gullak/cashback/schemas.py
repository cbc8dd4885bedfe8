"""Cashback shapes. Amounts are INR paise. A network's secret shows once, in the answer that
created it (or rotated it); everywhere else only its hint (`XXXX...1a2b`)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from gullak.kit.schemas import ONE_LINE, In, Out

NetworkCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,39}$")]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                  ONE_LINE]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
                   ONE_LINE]
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
Secret = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{16,200}$")]
Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
                 ONE_LINE]
Reported = Literal["pending", "confirmed", "rejected"]
FieldName = Literal["transaction_id", "click_id", "amount", "commission", "currency", "status"]


class CashbackStatus(StrEnum):
    unmatched = "unmatched"
    pending = "pending"
    confirmed = "confirmed"
    rejected = "rejected"
    dismissed = "dismissed"


class NetworkIn(In):
    code: NetworkCode
    name: Title
    auth_mode: Literal["hmac", "token"]
    # The network's own key or token; made here (and shown once) when not given.
    secret: Secret | None = None
    signature_header: HeaderName = "X-Signature"
    token_param: HeaderName = "token"
    status_map: dict[Word, Reported] = Field(default_factory=dict, max_length=50)
    field_map: dict[FieldName, HeaderName] = Field(default_factory=dict)


class NetworkPatch(In):
    name: Title | None = None
    signature_header: HeaderName | None = None
    token_param: HeaderName | None = None
    status_map: dict[Word, Reported] | None = Field(default=None, max_length=50)
    field_map: dict[FieldName, HeaderName] | None = None
    active: bool | None = None


class NetworkOut(Out):
    id: uuid.UUID
    code: str
    name: str
    auth_mode: str
    secret_hint: str
    signature_header: str
    token_param: str
    status_map: dict[str, str]
    field_map: dict[str, str]
    active: bool
    refused_postbacks: int
    last_refused_at: dt.datetime | None
    created_at: dt.datetime


class NetworkSecretOut(NetworkOut):
    """The answer that creates a network or rotates its secret: the secret in clear, once."""

    secret: str


class CashbackOut(Out):
    """A cashback as the back office sees it."""

    id: uuid.UUID
    network_id: uuid.UUID
    transaction_id: str
    click_id: uuid.UUID | None
    user_id: uuid.UUID | None
    offer_id: uuid.UUID | None
    merchant_id: uuid.UUID | None
    currency: str
    order_amount: int
    commission: int | None
    amount: int
    status: CashbackStatus
    network_status: str
    reason: str | None
    confirmed_at: dt.datetime | None
    rejected_at: dt.datetime | None
    settled_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CashbackPage(Out):
    items: list[CashbackOut]
    next_cursor: str | None = None


class MyCashbackOut(Out):
    id: uuid.UUID
    status: CashbackStatus
    merchant_id: uuid.UUID | None
    merchant_name: str | None
    offer_id: uuid.UUID | None
    currency: str
    order_amount: int
    amount: int  # my share
    confirmed_at: dt.datetime | None
    rejected_at: dt.datetime | None
    created_at: dt.datetime


class MyCashbackPage(Out):
    items: list[MyCashbackOut]
    next_cursor: str | None = None


class SummaryOut(Out):
    currency: str
    pending: int
    confirmed: int
    rejected: int
    count: int


class PostbackOut(Out):
    outcome: Literal["applied", "duplicate", "ignored", "unmatched"]
    reason: str | None = None
    cashback_id: uuid.UUID | None = None
    status: CashbackStatus | None = None


class ReportRowOut(Out):
    row: int  # line of the file, the header being line 1
    outcome: Literal["applied", "duplicate", "ignored", "unmatched", "invalid"]
    reason: str | None = None
    field: str | None = None
    transaction_id: str | None = None
    cashback_id: uuid.UUID | None = None


class ReportOut(Out):
    network: str
    counts: dict[str, int]
    rows: list[ReportRowOut]


class EventOut(Out):
    id: uuid.UUID
    network_id: uuid.UUID
    source: str
    transaction_id: str | None
    network_status: str | None
    outcome: str
    reason: str | None
    cashback_id: uuid.UUID | None
    fields: dict[str, object]
    received_at: dt.datetime


class EventPage(Out):
    items: list[EventOut]
    next_cursor: str | None = None


class AssignIn(In):
    """Give a conversion kept for review its owner: a click (its user, offer and merchant), or
    a user directly (with the merchant, and the offer if known)."""

    click_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    merchant_id: uuid.UUID | None = None
    offer_id: uuid.UUID | None = None


class DismissIn(In):
    reason: Reason


class ConfirmIn(In):
    """Pending cashbacks to confirm: these ids, or a network's (optionally only those created
    before a time). Their transfers to the users' main accounts are posted by a job."""

    ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=10_000)
    network: NetworkCode | None = None
    created_before: AwareDatetime | None = None
    limit: int = Field(default=100_000, ge=1, le=100_000)


class ConfirmOut(Out):
    confirmed: int
    ids: list[uuid.UUID]
