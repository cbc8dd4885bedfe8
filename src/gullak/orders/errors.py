"""Orders errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, InvalidInput, NotFound, Unprocessable


class OrderNotFound(NotFound):
    code = "order_not_found"
    title = "No such order"


class ItemNotListed(NotFound):
    code = "item_not_listed"
    title = "A product or variant is not on sale by this merchant"


class InvalidOrder(InvalidInput):
    code = "invalid_order"
    title = "The order cannot be made as sent"


class MixedCurrencies(InvalidInput):
    code = "mixed_currencies"
    title = "Every item of one order is priced in the same asset"


class CouponNotApplicable(Unprocessable):
    code = "coupon_not_applicable"
    title = "The coupon does not apply to this order"


class InsufficientTender(Unprocessable):
    code = "insufficient_tender"
    title = "You do not have that much of this tender available"


class CoinCapExceeded(Unprocessable):
    code = "coin_cap_exceeded"
    title = "Coins may pay only part of an order at this merchant"


class InvalidTender(InvalidInput):
    code = "invalid_tender"
    title = "This asset cannot pay for this order"


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "The order cannot make this move from its current status"


class RefundExceedsPaid(Unprocessable):
    code = "refund_exceeds_paid"
    title = "The refund is more than what is left to refund"


class RefundNotRepresentable(Unprocessable):
    code = "refund_not_representable"
    title = "This amount cannot be split over the order's tenders in whole units"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used for a different order"
