"""Offers errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, Forbidden, InvalidInput, NotFound, Unprocessable


class OfferNotFound(NotFound):
    code = "offer_not_found"
    title = "No such offer"


class CouponNotFound(NotFound):
    code = "coupon_not_found"
    title = "No offer has this coupon code"


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"
    title = "No such redemption"


class ClickNotFound(NotFound):
    code = "click_not_found"
    title = "No such click"


class InvalidWindow(InvalidInput):
    code = "invalid_window"
    title = "An offer's validity window must end after it starts"


class PercentOutOfRange(InvalidInput):
    code = "percent_out_of_range"
    title = "A percentage is 1 to 10000 basis points (0.01 % to 100 %)"


class InvalidTerms(InvalidInput):
    code = "invalid_offer_terms"
    title = "The offer's terms do not fit its type"


class InvalidHours(InvalidInput):
    code = "invalid_hours"
    title = "Hours are windows from start to a different end, \"HH:MM\""


class InvalidOutlet(InvalidInput):
    code = "invalid_outlet"
    title = "Outlets in scope must belong to the offer's merchant"


class InvalidLimit(InvalidInput):
    code = "invalid_limit"
    title = "The total limit cannot go below the redemptions already made"


class CouponCodeTaken(Conflict):
    code = "coupon_code_taken"
    title = "Another live offer has this coupon code"


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "The offer cannot make this move from its current status"


class OfferLocked(Conflict):
    code = "offer_locked"
    title = "Only draft and rejected offers can be edited by their merchant"


class NotMerchantUser(Forbidden):
    code = "not_merchant_user"
    title = "This endpoint is for a merchant's own users"


class NotRedeemable(Unprocessable):
    """Carries `reasons`: every stable reason code why not."""

    code = "offer_not_redeemable"
    title = "The offer cannot be redeemed"


class RedemptionState(Conflict):
    code = "invalid_redemption_transition"
    title = "The redemption cannot make this move from its current status"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used with a different request"
