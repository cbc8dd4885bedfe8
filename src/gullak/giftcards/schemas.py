"""Gift cards and vouchers request and response shapes. Amounts are INR paise for cards and the
asset's minor units for vouchers. A card's code shows masked (`XXXXXXXXXXXX4F7Q`) except to
whoever it was just issued to, and to the buyer of a card bought in an order."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from gullak.kit import schemas as kit
from gullak.kit.schemas import In, Out

# Spaces and dashes people type between groups are ignored.
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=6, max_length=60,
                                        pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$")]
Pin = Annotated[str, StringConstraints(pattern=r"^[0-9]{4,12}$")]
Value = Annotated[kit.Amount, Field(gt=0)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                          max_length=500), kit.ONE_LINE]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                  kit.ONE_LINE]
VoucherCode = Annotated[str, StringConstraints(strip_whitespace=True,
                                               pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{2,39}$")]
AssetCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")]


class CardStatus(StrEnum):
    active = "active"
    claimed = "claimed"
    expired = "expired"
    void = "void"


class CardIn(In):
    code: Code
    pin: Pin


class CheckOut(Out):
    code: str  # masked
    status: CardStatus
    balance: int  # what it can pay now (held parts excluded)
    asset_code: str
    expires_at: dt.datetime


class GiftCardOut(Out):
    """A card as the back office sees it: never its code in clear, never its PIN."""

    id: uuid.UUID
    code: str
    status: CardStatus
    source: str
    face_value: int
    balance: int
    held: int
    asset_code: str
    account_id: uuid.UUID
    merchant_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    order_id: uuid.UUID | None
    batch_id: uuid.UUID | None
    design_id: uuid.UUID | None
    expires_at: dt.datetime
    failed_attempts: int
    locked_until: dt.datetime | None
    claimed_at: dt.datetime | None
    closed_at: dt.datetime | None
    closed_reason: str | None
    created_at: dt.datetime


class GiftCardPage(Out):
    items: list[GiftCardOut]
    next_cursor: str | None = None


class MyGiftCardOut(Out):
    """A card of mine: one I bought shows its code and PIN, to give away; one I claimed
    shows masked."""

    id: uuid.UUID
    code: str
    pin: str | None
    status: CardStatus
    face_value: int
    balance: int
    asset_code: str
    merchant_id: uuid.UUID | None
    order_id: uuid.UUID | None
    expires_at: dt.datetime
    created_at: dt.datetime


class MyGiftCardPage(Out):
    items: list[MyGiftCardOut]
    next_cursor: str | None = None


class ClaimOut(Out):
    card: MyGiftCardOut
    amount: int  # moved to the INR wallet
    transfer_id: uuid.UUID


class VoidIn(In):
    reason: Reason
    # Where what is left goes: the breakage account, or back where the value came from.
    to: Literal["breakage", "funding"] = "breakage"


class BatchRowOut(Out):
    row: int  # line of the file, the header being line 1
    status: Literal["issued", "refused"]
    reason: str | None = None
    field: str | None = None
    card_id: uuid.UUID | None = None
    code: str | None = None  # generated codes in clear, this once; a partner's masked
    pin: str | None = None  # generated PINs, this once
    amount: int | None = None


class BatchOut(Out):
    id: uuid.UUID
    name: str
    source: str
    partner: str | None
    issued: int
    refused: int
    rows: list[BatchRowOut]
    created_at: dt.datetime


class DesignIn(In):
    product_id: uuid.UUID
    face_value: Value
    validity_days: int = Field(default=365, ge=1, le=3650)


class DesignOut(Out):
    id: uuid.UUID
    product_id: uuid.UUID
    merchant_id: uuid.UUID
    name: str
    face_value: int
    validity_days: int
    active: bool
    created_at: dt.datetime


class VoucherIn(In):
    code: VoucherCode
    name: Title
    asset_code: AssetCode
    amount: Value
    max_uses: int | None = Field(default=None, ge=1, le=kit.INT)
    valid_from: AwareDatetime
    valid_until: AwareDatetime


class VoucherOut(Out):
    id: uuid.UUID
    code: str
    name: str
    asset_code: str
    amount: int
    max_uses: int | None
    uses: int
    valid_from: dt.datetime
    valid_until: dt.datetime
    status: str
    created_at: dt.datetime


class RedeemVoucherIn(In):
    code: VoucherCode


class VoucherRedemptionOut(Out):
    id: uuid.UUID
    voucher_id: uuid.UUID
    user_id: uuid.UUID
    asset_code: str
    amount: int
    transfer_id: uuid.UUID
    created_at: dt.datetime
