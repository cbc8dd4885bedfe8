"""Risk shapes: risk events as the back office sees them, their review, and blocks."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import StringConstraints

from gullak.kit.schemas import ONE_LINE, In, Out

Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000),
                 ONE_LINE]


class Rule(StrEnum):
    suspicious_sign_in = "suspicious_sign_in"
    device_accounts = "device_accounts"
    redemption_velocity = "redemption_velocity"
    referral_ring = "referral_ring"
    withdrawal_amount = "withdrawal_amount"
    withdrawal_velocity = "withdrawal_velocity"


class Status(StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    dismissed = "dismissed"


class RiskEventOut(Out):
    id: uuid.UUID
    user_id: uuid.UUID
    subject_type: str
    subject_id: str
    rule: Rule
    score: int
    signals: dict[str, Any]
    blocked: bool
    status: Status
    reviewed_by: uuid.UUID | None
    reviewed_at: dt.datetime | None
    review_note: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class RiskEventPage(Out):
    items: list[RiskEventOut]
    next_cursor: str | None = None


class ReviewIn(In):
    outcome: Literal["confirmed", "dismissed"]
    note: Note | None = None


class LiftIn(In):
    note: Note


class RiskBlockOut(Out):
    id: uuid.UUID
    user_id: uuid.UUID
    event_id: uuid.UUID
    rule: Rule
    blocked_at: dt.datetime
    lifted_at: dt.datetime | None
    lifted_by: uuid.UUID | None
    lift_note: str | None
    active: bool


class RiskBlockPage(Out):
    items: list[RiskBlockOut]
    next_cursor: str | None = None
