"""Ledger shapes: service results (stored as JSON for idempotent replays) and API bodies."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, ConfigDict, Field, StringConstraints

from gullak.kit import schemas as kit
from gullak.kit.schemas import BIGINT, In, JsonObject, Out

__all__ = ["In", "Out"]  # re-exported for the ledger's own request bodies in api.py

MAX_AMOUNT = BIGINT
# Strict: "10", 10.0 and true are refused, not coerced; money is a whole number of minor units.
Amount = Annotated[kit.Amount, Field(gt=0)]
AssetCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")]
Kind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{1,31}$")]
Purpose = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
RefText = Annotated[str, StringConstraints(min_length=1, max_length=200), kit.ONE_LINE]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200), kit.ONE_LINE]


class AssetKind(StrEnum):
    coin = "coin"
    cash = "cash"
    points = "points"


class OwnerType(StrEnum):
    user = "user"
    merchant = "merchant"
    platform = "platform"
    gift_card = "gift_card"  # each gift card holds its own balance (giftcards domain)


class PlatformPurpose(StrEnum):
    issuance = "issuance"
    breakage = "breakage"
    gateway_clearing = "gateway_clearing"
    commission_revenue = "commission_revenue"
    payout_clearing = "payout_clearing"
    merchant_funding = "merchant_funding"
    gift_card_funding = "gift_card_funding"  # value of cards the platform issued in bulk


class AssetIn(In):
    code: AssetCode
    name: Annotated[str, StringConstraints(min_length=1, max_length=100), kit.NAME_CHARS]
    kind: AssetKind
    scale: int = Field(ge=0, le=6)
    expires: bool = False
    lifetime_days: int | None = Field(default=None, gt=0, le=36500)
    merchant_id: uuid.UUID | None = None


class AssetOut(AssetIn):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    created_at: dt.datetime


class AccountIn(In):
    asset_code: AssetCode
    owner_type: OwnerType
    owner_id: uuid.UUID | None = None
    purpose: Purpose = "main"
    daily_limit: Amount | None = None
    monthly_limit: Amount | None = None


class AccountOut(Out):
    id: uuid.UUID
    asset_code: str
    owner_type: OwnerType
    owner_id: uuid.UUID | None
    purpose: str
    allow_negative: bool
    shards: int
    frozen_reason: str | None
    frozen_at: dt.datetime | None
    daily_limit: int | None
    monthly_limit: int | None
    created_at: dt.datetime


class TransferIn(In):
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    asset_code: AssetCode
    amount: Amount
    kind: Kind
    reference_type: RefText | None = None
    reference_id: RefText | None = None
    metadata: JsonObject = Field(default_factory=dict)
    # For credits of an expiring asset: when this grant expires (default: the asset's lifetime).
    lot_expires_at: AwareDatetime | None = None


class TransferOut(Out):
    id: uuid.UUID
    seq: int
    transaction_id: uuid.UUID
    asset_code: str
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    amount: int
    kind: str
    reference_type: str | None
    reference_id: str | None
    metadata: dict[str, Any]
    debit_balance_after: int
    credit_balance_after: int
    reverses_id: uuid.UUID | None = None
    hold_id: uuid.UUID | None = None
    created_at: dt.datetime


class TransactionOut(Out):
    transaction_id: uuid.UUID
    transfers: list[TransferOut]


class HoldIn(In):
    account_id: uuid.UUID
    asset_code: AssetCode
    amount: Amount
    expires_at: AwareDatetime
    reference_type: RefText | None = None
    reference_id: RefText | None = None
    metadata: JsonObject = Field(default_factory=dict)


class HoldOut(Out):
    id: uuid.UUID
    account_id: uuid.UUID
    asset_code: str
    amount: int
    captured: int
    status: str
    expires_at: dt.datetime
    reference_type: str | None
    reference_id: str | None
    created_at: dt.datetime
    resolved_at: dt.datetime | None


class CaptureIn(In):
    credit_account_id: uuid.UUID
    amount: Amount | None = None  # default: the whole hold
    kind: Kind = "capture"
    reference_type: RefText | None = None
    reference_id: RefText | None = None
    metadata: JsonObject = Field(default_factory=dict)


class CaptureOut(Out):
    hold: HoldOut
    transfer: TransferOut


class ReversalIn(In):
    amount: Amount | None = None  # default: what is left of the original
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500), kit.ONE_LINE]


class BalanceOut(Out):
    account_id: uuid.UUID
    asset_code: str
    posted: int
    held: int
    available: int
    expiring_soon: int
    expiring_before: dt.datetime | None


class EntryOut(Out):
    """One transfer as one account sees it: signed amount and that account's balance after."""

    transfer_id: uuid.UUID
    seq: int
    transaction_id: uuid.UUID
    kind: str
    amount: int
    balance_after: int
    counterparty_account_id: uuid.UUID
    reference_type: str | None
    reference_id: str | None
    metadata: dict[str, Any]
    reverses_id: uuid.UUID | None
    created_at: dt.datetime


class HistoryPage(Out):
    entries: list[EntryOut]
    next_cursor: str | None


class HoldingOut(Out):
    """An owner's position in one asset; zero, with no account, for an asset never held."""

    asset_code: str
    asset_name: str
    asset_kind: AssetKind
    scale: int
    expires: bool
    merchant_id: uuid.UUID | None = None  # a merchant's branded coin: the merchant's id
    account_id: uuid.UUID | None
    posted: int
    held: int
    available: int
    expiring_soon: int
    expiring_before: dt.datetime | None
    # Earned but not yet usable (rewards in their return window, cashback the network has not
    # confirmed): the owner's `pending` account in this asset. Not part of `available`.
    pending: int = 0


# -- the back office's views (explore.py) -----------------------------------------------------

class AssetTotalOut(AssetOut):
    """An asset with what is out there: owed to users, merchants and cards (the platform's
    accounts hold the other side, the ledger summing to zero) and reserved by pending holds."""

    outstanding: int
    pending_holds: int


class AccountRowOut(Out):
    id: uuid.UUID
    asset_code: str
    owner_type: OwnerType
    owner_id: uuid.UUID | None
    purpose: str
    shards: int
    frozen_reason: str | None
    balance: int  # the sum of its balance rows: what its entries add up to
    held: int
    created_at: dt.datetime


class LedgerEntryOut(Out):
    """One entry of an account, with the account's balance (every shard) right after it."""

    transfer_id: uuid.UUID
    seq: int
    transaction_id: uuid.UUID
    kind: str
    amount: int  # signed: what the account gained
    balance_after: int
    counterparty_account_id: uuid.UUID
    reference_type: str | None
    reference_id: str | None
    reverses_id: uuid.UUID | None
    hold_id: uuid.UUID | None
    created_at: dt.datetime


class TransferRowOut(TransferOut):
    debit_shard: int
    credit_shard: int
    lot_id: uuid.UUID | None
    lot_expires_at: dt.datetime | None
    actor_type: str | None
    actor_id: uuid.UUID | None


class TransferDetailOut(Out):
    """A transfer, both its accounts, the transfers posted with it (its transaction, all or
    none) and those that reversed it."""

    transfer: TransferRowOut
    debit: AccountOut
    credit: AccountOut
    transaction: list[TransferRowOut]
    reversals: list[TransferRowOut]


class LotOut(Out):
    """A grant of an expiring asset: what is left of it and when that expires."""

    id: uuid.UUID
    account_id: uuid.UUID
    asset_code: str
    owner_type: OwnerType
    owner_id: uuid.UUID | None
    transfer_id: uuid.UUID
    amount: int
    remaining: int
    reserved: int
    expires_at: dt.datetime
    created_at: dt.datetime


class CheckResultOut(Out):
    name: str
    failures: int
    sample: list[dict[str, Any]]


class LedgerCheckOut(Out):
    """One run of the ledger's checks."""

    id: uuid.UUID
    ok: bool
    transfers: int
    accounts: int
    results: list[CheckResultOut]
    requested_by_kind: str | None
    requested_by_id: uuid.UUID | None
    started_at: dt.datetime
    finished_at: dt.datetime
