"""Payouts request and response shapes. Amounts are integers in the asset's minor units;
account numbers and UPI ids go in, and only ever come out masked."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from gullak.kit import schemas as kit
from gullak.kit.schemas import In, Out

Positive = Annotated[kit.Amount, Field(gt=0)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500),
                   kit.ONE_LINE]
HolderName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2,
                                              max_length=100), kit.NAME_CHARS]
AccountNumber = Annotated[str, StringConstraints(pattern=r"^\d{6,20}$")]
Ifsc = Annotated[str, StringConstraints(pattern=r"^[A-Z]{4}0[A-Z0-9]{6}$")]
UpiId = Annotated[str, StringConstraints(
    pattern=r"^[A-Za-z0-9._-]{2,64}@[A-Za-z][A-Za-z0-9]{1,31}$")]
PhoneNumber = Annotated[str, StringConstraints(pattern=r"^[6-9]\d{9}$")]  # Indian mobile
ChannelCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,39}$")]
AssetCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,19}$")]
Token = Annotated[str, StringConstraints(min_length=1, max_length=4096), kit.ONE_LINE]


class MethodKind(StrEnum):
    bank = "bank"
    upi = "upi"
    bank_channel = "bank_channel"
    mobile = "mobile"  # a prepaid mobile number, paid as a recharge


class Operator(StrEnum):
    airtel = "AIRTEL"
    jio = "JIO"
    vi = "VI"
    bsnl = "BSNL"


class WithdrawalKind(StrEnum):
    payout = "payout"  # to a payout method
    gift_voucher = "gift_voucher"  # a gift card code, issued to the owner once approved


class Source(StrEnum):
    """Which of the owner's accounts of the asset pays: the main one (confirmed cashback,
    top-ups) or an ambassador's commission."""

    main = "main"
    commission = "commission"


class MethodIn(In):
    kind: MethodKind
    holder_name: HolderName
    account_number: AccountNumber | None = None
    ifsc: Ifsc | None = None
    upi_id: UpiId | None = None
    channel_code: ChannelCode | None = None
    phone_number: PhoneNumber | None = None
    operator: Operator | None = None
    # The step-up proof (POST /v1/me/otp/verify, purpose "transaction"): adding a method is
    # what an account takeover does first.
    verification_token: Token | None = None

    @model_validator(mode="after")
    def _destination(self) -> MethodIn:
        wanted = {MethodKind.bank: ("account_number", "ifsc"), MethodKind.upi: ("upi_id",),
                  MethodKind.bank_channel: ("account_number", "channel_code"),
                  MethodKind.mobile: ("phone_number", "operator")}[self.kind]
        fields = ("account_number", "ifsc", "upi_id", "channel_code", "phone_number",
                  "operator")
        if any(getattr(self, f) is None for f in wanted):
            raise ValueError(f"a {self.kind.value} method needs {' and '.join(wanted)}")
        extra = [f for f in fields if f not in wanted and getattr(self, f) is not None]
        if extra:
            raise ValueError(f"a {self.kind.value} method takes no {extra[0]}")
        return self


class MethodOut(Out):
    id: uuid.UUID
    owner_type: str
    owner_id: uuid.UUID
    kind: MethodKind
    currency: str
    holder_name: str
    destination: str  # masked: XXXX1234, ab***@okicici
    ifsc: str | None
    channel_code: str | None
    operator: str | None
    status: str
    registered_name: str | None
    name_score: int | None
    detail: str | None
    verified_at: dt.datetime | None
    usable_from: dt.datetime | None
    usable: bool
    created_at: dt.datetime


class ChannelIn(In):
    code: ChannelCode
    name: HolderName
    type: Literal["bank", "ewallet"]
    currency: AssetCode
    aliases: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=60),
                                      kit.ONE_LINE]], Field(max_length=20)] = []
    enabled: bool = True


class ChannelOut(Out):
    code: str
    name: str
    type: str
    currency: str
    aliases: list[str]
    enabled: bool


class QuoteIn(In):
    amount: Positive
    asset_code: AssetCode = "INR"
    source: Source = Source.main
    kind: WithdrawalKind = WithdrawalKind.payout


class WithdrawalIn(QuoteIn):
    method_id: uuid.UUID | None = None  # a payout's; a gift voucher takes none

    @model_validator(mode="after")
    def _method(self) -> WithdrawalIn:
        if (self.kind is WithdrawalKind.payout) != (self.method_id is not None):
            raise ValueError("a payout needs method_id, and a gift voucher takes none")
        return self


class QuoteOut(Out):
    """What a withdrawal of `amount` costs and brings, before it is asked for."""

    amount: int
    asset_code: str
    fee: int
    tax: int
    net: int
    available: int
    kyc_required: bool
    approvals_needed: int
    auto_approve: bool
    remaining_today: int
    remaining_this_month: int


class DisbursementOut(Out):
    id: uuid.UUID
    attempt: int
    provider: str
    provider_ref: str | None
    amount: int
    currency: str
    status: str
    failure: str | None
    created_at: dt.datetime
    settled_at: dt.datetime | None
    reversed_at: dt.datetime | None


class DecisionOut(Out):
    round: int
    admin_id: uuid.UUID
    decision: str
    reason: str
    created_at: dt.datetime


class WithdrawalOut(Out):
    id: uuid.UUID
    code: str
    owner_type: str
    owner_id: uuid.UUID
    purpose: str
    kind: WithdrawalKind
    asset_code: str
    amount: int
    fee: int
    tax: int
    net: int
    method_id: uuid.UUID | None
    destination: str | None  # masked; none for a gift voucher
    status: str
    approvals_needed: int
    approvals: int
    round: int
    auto_approved: bool
    reason: str | None
    reference_type: str | None
    reference_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    paid_at: dt.datetime | None
    disbursements: list[DisbursementOut] = []
    decisions: list[DecisionOut] = []


class WithdrawalPage(Out):
    items: list[WithdrawalOut]
    next_cursor: str | None


class DecisionIn(In):
    reason: Reason


class WithdrawalPatch(In):
    """What a back-office edit may change before the request is decided: a smaller amount
    (never larger than what is held), or another of the owner's usable methods."""

    amount: Positive | None = None
    method_id: uuid.UUID | None = None
    reason: Reason


class CallbackOut(Out):
    received: bool
    duplicate: bool


class ReconcileLine(Out):
    what: str  # missing_at_provider, unknown_to_us, amount, status, clearing_account
    disbursement_id: uuid.UUID | None
    provider_ref: str | None
    ours: int
    theirs: int


class ReconcileOut(Out):
    """One day's payouts, ours against each provider's statement, and the payout clearing
    account's movement against what our disbursements paid and got back, per currency."""

    day: dt.date
    providers: list[str]
    paid: dict[str, int]  # per currency: disbursements that succeeded that day
    reversed: dict[str, int]  # per currency: disbursements that bounced that day
    clearing_movement: dict[str, int]  # per currency
    provider_paid: dict[str, int]  # per provider: what its statement says it paid
    checked: int
    differences: list[ReconcileLine]

    @property
    def ok(self) -> bool:
        return not self.differences


# -- merchant settlements ---------------------------------------------------------------------

class SettlementRunIn(In):
    """The period to settle, UTC dates, both days included (at most 31 days)."""

    period_start: dt.date
    period_end: dt.date


class SettlementLineOut(Out):
    """One line of a statement: a signed amount in the settlement's currency (minor units)."""

    id: uuid.UUID
    kind: str
    amount: int
    description: str
    order_id: uuid.UUID | None
    order_number: str | None
    transfer_id: uuid.UUID | None
    reference_type: str | None
    reference_id: str | None
    rate_bps: int | None
    occurred_at: dt.datetime
    due_at: dt.datetime
    carried: bool  # due before the period began: left over from an earlier run


class SettlementOut(Out):
    id: uuid.UUID
    code: str
    merchant_id: uuid.UUID
    period_start: dt.date
    period_end: dt.date
    currency: str
    status: str
    reason: str | None
    net: int
    payable: int
    carried_forward: int
    line_count: int
    withdrawal_id: uuid.UUID | None
    payout_status: str | None = None  # its withdrawal's status, once requested
    created_by_kind: str
    created_at: dt.datetime
    updated_at: dt.datetime


class SettlementDetail(SettlementOut):
    """The statement: every line, and their totals per kind (which add up to `net`)."""

    totals: dict[str, int]
    lines: list[SettlementLineOut]


class SettlementPage(Out):
    items: list[SettlementOut]
    next_cursor: str | None
