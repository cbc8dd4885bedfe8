"""Orders request and response shapes. The client names what it wants; every price, fee and
tax is the server's: a `unit_price` sent with an item is accepted and ignored."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from gullak.kit import schemas as kit
from gullak.kit.schemas import In, Out

Quantity = Annotated[int, Field(strict=True, ge=1, le=1000)]
Units = Annotated[kit.Amount, Field(gt=0)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                 kit.ONE_LINE]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                  kit.ONE_LINE]
CouponCode = Annotated[str, StringConstraints(strip_whitespace=True,
                                              pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{2,39}$")]
AssetCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")]
GiftCardCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=6,
                                                max_length=60,
                                                pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                          max_length=500), kit.ONE_LINE]


class Status(StrEnum):
    created = "created"
    awaiting_payment = "awaiting_payment"
    paid = "paid"
    confirmed = "confirmed"
    ready = "ready"
    shipped = "shipped"
    delivered = "delivered"
    completed = "completed"
    cancelled = "cancelled"
    refunded = "refunded"
    partially_refunded = "partially_refunded"


class Fulfilment(StrEnum):
    delivery = "delivery"
    pickup = "pickup"


class Action(StrEnum):
    """What a merchant does to an order, and the status it leads to."""

    confirm = "confirm"
    ready = "ready"
    ship = "ship"
    deliver = "deliver"
    complete = "complete"
    cancel = "cancel"


class ItemIn(In):
    product_id: uuid.UUID
    variant_id: uuid.UUID | None = None
    quantity: Quantity
    # Clients of the seed apps send the price they showed; it is ignored, never trusted.
    unit_price: kit.Amount | None = None


class AddressIn(In):
    name: Short | None = None
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 -]{6,20}$")] | None = None
    line1: Line
    line2: Line | None = None
    city: Short
    state: Short | None = None
    postal_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 -]{3,10}$")] | None = None


class TenderIn(In):
    """A tender to use, in the order given; `amount` (the asset's minor units) at most, or as
    much as it can. With a list, only the assets listed are used, then the gateway."""

    asset_code: AssetCode
    amount: Units | None = None


class GiftCardTenderIn(In):
    """A gift card to pay with, after the other tenders: `amount` (paise) at most, or as much
    as it can. A wrong PIN refuses the whole order and counts towards the card's lock."""

    code: GiftCardCode
    pin: Annotated[str, StringConstraints(pattern=r"^[0-9]{4,12}$")]
    amount: Units | None = None


class OrderIn(In):
    merchant_id: uuid.UUID
    outlet_id: uuid.UUID | None = None
    items: list[ItemIn] = Field(min_length=1, max_length=50)
    coupon_code: CouponCode | None = None
    fulfilment: Fulfilment = Fulfilment.pickup
    delivery_address: AddressIn | None = None
    tenders: list[TenderIn] | None = Field(default=None, max_length=10)
    gift_cards: list[GiftCardTenderIn] | None = Field(default=None, max_length=5)


class CancelIn(In):
    reason: Reason | None = None


class AdvanceIn(In):
    action: Action
    reason: Reason | None = None


class RefundIn(In):
    amount: Units  # in the order's currency
    reason: Reason
    # The user's choice for the part paid at the gateway: back to the card or account it came
    # from (through the provider's refund), or to the INR wallet at once.
    gateway_to_wallet: bool = False


class ItemOut(Out):
    id: uuid.UUID
    product_id: uuid.UUID
    variant_id: uuid.UUID | None
    sku: str
    name: str
    unit_price: int
    quantity: int
    line_total: int


class TenderOut(Out):
    id: uuid.UUID
    kind: str
    asset_code: str
    amount: int
    rate: int
    status: str
    hold_id: uuid.UUID | None
    payment_id: uuid.UUID | None
    gift_card_id: uuid.UUID | None = None
    captured: int
    released: int
    refunded: int
    commission: int


class EventOut(Out):
    id: uuid.UUID
    from_status: str | None
    to_status: str
    actor_type: str
    actor_id: uuid.UUID | None
    reason: str | None
    data: dict[str, Any]
    at: dt.datetime


class OrderSummary(Out):
    id: uuid.UUID
    number: str
    user_id: uuid.UUID
    merchant_id: uuid.UUID
    outlet_id: uuid.UUID | None
    kind: str
    status: Status
    fulfilment: str
    currency: str
    subtotal: int
    discount: int
    delivery_fee: int
    tax: int
    total: int
    refunded: int
    coupon_code: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class OrderOut(OrderSummary):
    delivery_address: dict[str, Any] | None
    offer_id: uuid.UUID | None
    redemption_id: uuid.UUID | None
    notes: list[dict[str, Any]]
    pay_by: dt.datetime | None
    items: list[ItemOut] = Field(default_factory=list)
    tenders: list[TenderOut] = Field(default_factory=list)
    events: list[EventOut] = Field(default_factory=list)


class OrderPage(Out):
    items: list[OrderSummary]
    next_cursor: str | None = None


class RefundOut(Out):
    order: OrderOut
    amount: int
    # Per tender: asset, minor units given back.
    tenders: list[dict[str, Any]]
