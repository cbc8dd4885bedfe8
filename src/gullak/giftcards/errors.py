"""Gift cards and vouchers errors, each with a stable code. None of them carries a card's
code or PIN."""

from __future__ import annotations

from gullak.kit.errors import Conflict, Forbidden, InvalidInput, NotFound, Unprocessable


class GiftCardNotFound(NotFound):
    code = "gift_card_not_found"
    title = "No such gift card"


class InvalidGiftCard(Unprocessable):
    """A code that names no card and a wrong PIN answer alike: a guess learns nothing."""

    code = "gift_card_invalid"
    title = "The gift card's code or PIN is wrong"
    keep_changes = True  # the wrong PIN counts towards the lock


class GiftCardLocked(Forbidden):
    code = "gift_card_locked"
    title = "Too many wrong PINs: the gift card is locked for a while"
    keep_changes = True


class GiftCardUnusable(Unprocessable):
    code = "gift_card_unusable"
    title = "The gift card cannot be used"


class GiftCardInUse(Conflict):
    code = "gift_card_in_use"
    title = "Part of the gift card is held by an order in progress"


class InvalidDesign(InvalidInput):
    code = "invalid_gift_card_design"
    title = "This product cannot be sold as a gift card"


class InvalidBatch(InvalidInput):
    code = "invalid_gift_card_batch"
    title = "The batch file cannot be read"


class VoucherNotFound(NotFound):
    code = "voucher_not_found"
    title = "No such voucher"
    keep_changes = True  # the try counts towards the hourly limit


class VoucherUnavailable(Unprocessable):
    code = "voucher_unavailable"
    title = "The voucher cannot be redeemed now"
    keep_changes = True  # nothing was taken; the try counts towards the hourly limit


class VoucherAlreadyRedeemed(Conflict):
    code = "voucher_already_redeemed"
    title = "You have already redeemed this voucher"


class VoucherExists(Conflict):
    code = "voucher_exists"
    title = "A voucher with this code exists"
