"""Referrals request and response shapes. Commission amounts are INR paise; rates and
multipliers are basis points (10,000 = 1x or 100%). A referee shows to the referrer masked,
never with their phone."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from gullak.kit import schemas as kit
from gullak.kit.schemas import In, Out

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                  kit.NAME_CHARS]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                          max_length=500), kit.ONE_LINE]
Domain = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True,
                                          pattern=r"^[a-z0-9-]+(\.[a-z0-9-]+)+$",
                                          max_length=200)]
StudentId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=100), kit.ONE_LINE]
DocumentRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                               max_length=500), kit.ONE_LINE]
Bp = Annotated[int, Field(strict=True, ge=0, le=10_000)]
Multiplier = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
Count = Annotated[int, Field(strict=True, ge=0, le=kit.INT)]
Steps = Annotated[int, Field(strict=True, ge=1, le=kit.INT)]


class Condition(StrEnum):
    first_order = "first_order"
    first_topup = "first_topup"
    steps = "steps"


class ReferralStatus(StrEnum):
    pending = "pending"
    qualified = "qualified"
    rewarded = "rewarded"
    refused = "refused"


class ClaimStatus(StrEnum):
    pending = "pending"
    verified = "verified"
    rejected = "rejected"


class AmbassadorStatus(StrEnum):
    applied = "applied"
    active = "active"
    rejected = "rejected"
    suspended = "suspended"


class CollegeStatus(StrEnum):
    active = "active"
    inactive = "inactive"


# -- programs and tiers -----------------------------------------------------------------------

class ProgramIn(In):
    name: Label
    condition: Condition
    steps_required: Steps | None = None
    commission_amount: kit.Amount = 0  # INR paise per qualified referral of an ambassador
    commission_bp: Bp = 0  # or this share of the referee's qualifying order or top-up
    active: bool = False

    @model_validator(mode="after")
    def _steps(self) -> ProgramIn:
        if (self.condition == Condition.steps) != (self.steps_required is not None):
            raise ValueError("steps_required is given with the steps condition, and only then")
        return self


class ProgramOut(Out):
    id: uuid.UUID
    name: str
    condition: Condition
    steps_required: int | None
    commission_amount: int
    commission_bp: int
    active: bool
    created_at: dt.datetime


class TierIn(In):
    label: Label
    min_referrals: Count
    multiplier_bp: Multiplier


class TierOut(Out):
    id: uuid.UUID
    label: str
    min_referrals: int
    multiplier_bp: int


# -- referrals --------------------------------------------------------------------------------

class ReferralOut(Out):
    """A referral as the back office sees it."""

    id: uuid.UUID
    referrer_id: uuid.UUID
    referee_id: uuid.UUID
    code: str
    program_id: uuid.UUID | None
    condition: Condition
    steps_required: int | None
    status: ReferralStatus
    refused_reason: str | None
    qualified_by: str | None
    qualifying_amount: int | None
    referral_count: int | None
    tier_label: str | None
    multiplier_bp: int | None
    ambassador_id: uuid.UUID | None
    commission: int | None
    qualified_at: dt.datetime | None
    rewarded_at: dt.datetime | None
    created_at: dt.datetime


class ReferralPage(Out):
    items: list[ReferralOut]
    next_cursor: str | None


class MyReferralOut(Out):
    id: uuid.UUID
    referee: str  # masked name, never the phone
    status: ReferralStatus
    condition: Condition
    created_at: dt.datetime
    rewarded_at: dt.datetime | None


class Counts(Out):
    pending: int = 0
    qualified: int = 0
    rewarded: int = 0
    refused: int = 0


class TierProgress(Out):
    current: TierOut | None
    multiplier_bp: int  # the current tier's, 10,000 without one
    next: TierOut | None
    referrals_to_next: int | None


class MyReferralsOut(Out):
    code: str
    share_text: str
    counts: Counts
    tier: TierProgress
    items: list[MyReferralOut]
    next_cursor: str | None


class RiskEventOut(Out):
    id: uuid.UUID
    user_id: uuid.UUID
    referral_id: uuid.UUID | None
    kind: str
    details: dict[str, Any]
    created_at: dt.datetime


class RiskEventPage(Out):
    items: list[RiskEventOut]
    next_cursor: str | None


# -- colleges, students, ambassadors ----------------------------------------------------------

class CollegeIn(In):
    name: Label
    city: Label
    domain: Domain | None = None
    status: CollegeStatus = CollegeStatus.active


class CollegeOut(Out):
    id: uuid.UUID
    name: str
    city: str
    domain: str | None
    status: CollegeStatus


class ClaimIn(In):
    college_id: uuid.UUID
    student_id_number: StudentId
    document_ref: DocumentRef  # where the uploaded ID proof is kept


class ClaimOut(Out):
    id: uuid.UUID
    user_id: uuid.UUID
    college_id: uuid.UUID
    student_id_number: str
    document_ref: str
    status: ClaimStatus
    reason: str | None
    reviewed_at: dt.datetime | None
    created_at: dt.datetime


class ReviewIn(In):
    decision: Literal["approve", "reject"]
    reason: Reason | None = None

    @model_validator(mode="after")
    def _reason(self) -> ReviewIn:
        if self.decision == "reject" and self.reason is None:
            raise ValueError("a rejection gives its reason")
        return self


class AmbassadorReviewIn(ReviewIn):
    # Per ambassador; without them, the active program's default.
    commission_amount: kit.Amount | None = None
    commission_bp: Bp | None = None


class AmbassadorOut(Out):
    id: uuid.UUID
    user_id: uuid.UUID
    college_id: uuid.UUID
    code: str
    status: AmbassadorStatus
    commission_amount: int | None
    commission_bp: int | None
    reason: str | None
    appointed_at: dt.datetime | None
    created_at: dt.datetime


class MyAmbassadorOut(Out):
    ambassador: AmbassadorOut
    referrals: Counts
    commission_earned: int  # INR paise paid on this ambassador's referrals, ever
    commission_balance: int  # what the commission account holds now (the ledger's)
    asset_code: str = "INR"
