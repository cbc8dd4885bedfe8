"""Payments request and response shapes. Amounts are integers in minor units (paise)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from gullak.kit import schemas as kit
from gullak.kit.schemas import In, Out

Positive = Annotated[kit.Amount, Field(gt=0)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=200), kit.ONE_LINE]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=200), kit.ONE_LINE]


class Purpose(StrEnum):
    order = "order"
    topup = "topup"
    subscription = "subscription"  # a privé plan (loyalty)


class Status(StrEnum):
    created = "created"
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    expired = "expired"


class PaymentOut(Out):
    id: uuid.UUID
    user_id: uuid.UUID
    purpose: Purpose
    reference_id: str
    amount: int
    currency: str
    status: Status
    refunded_amount: int
    gateway: str
    gateway_ref: str | None
    checkout_url: str | None
    invoice_number: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    succeeded_at: dt.datetime | None


class PaymentPage(Out):
    items: list[PaymentOut]
    next_cursor: str | None


class TopupIn(In):
    amount: Positive


class RefundIn(In):
    amount: Positive


class RefundOut(Out):
    id: uuid.UUID
    payment_id: uuid.UUID
    amount: int
    status: str
    gateway_ref: str | None
    created_at: dt.datetime
    succeeded_at: dt.datetime | None


class WebhookOut(Out):
    received: bool
    duplicate: bool


class Difference(Out):
    payment_id: uuid.UUID | None
    what: str
    ours: int
    theirs: int


class ReconcileOut(Out):
    day: dt.date
    captured: int  # what our payments say was captured that day
    refunded: int
    clearing_movement: int  # what the gateway clearing account moved (captures less refunds)
    checked: int  # payments asked about at their gateway
    differences: list[Difference]

    @property
    def ok(self) -> bool:
        return not self.differences


MethodName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=100), kit.ONE_LINE]


class MethodOut(Out):
    code: str
    name: str
    enabled: bool
    position: int


class MethodPatch(In):
    """What an admin may change of a payment method; what is left out stays."""

    enabled: bool | None = None
    name: MethodName | None = None
    position: Annotated[int, Field(strict=True, ge=0, le=1000)] | None = None
