"""Merchants errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, InvalidInput, NotFound, Unauthorized, Unavailable


class MerchantNotFound(NotFound):
    code = "merchant_not_found"
    title = "No such merchant"


class OutletNotFound(NotFound):
    code = "outlet_not_found"
    title = "No such outlet"


class MerchantUserNotFound(NotFound):
    code = "merchant_user_not_found"
    title = "No such merchant user"


class DocumentNotFound(NotFound):
    code = "document_not_found"
    title = "No such document"


class BankAccountNotFound(NotFound):
    code = "bank_account_not_found"
    title = "No such bank account"


class CommissionNotFound(NotFound):
    code = "commission_not_found"
    title = "No such commission"


class ReviewNotFound(NotFound):
    code = "review_not_found"
    title = "No such review"


class PageNotFound(NotFound):
    code = "page_not_found"
    title = "No such page"


class RedirectNotFound(NotFound):
    code = "redirect_not_found"
    title = "No redirect for this path"


class InvalidGstin(InvalidInput):
    code = "invalid_gstin"
    title = "Not a valid GSTIN"


class InvalidPan(InvalidInput):
    code = "invalid_pan"
    title = "Not a valid PAN"


class InvalidFssai(InvalidInput):
    code = "invalid_fssai"
    title = "Not a valid FSSAI licence number"


class InvalidCoordinates(InvalidInput):
    code = "invalid_coordinates"
    title = "Latitude must be within -90..90 and longitude within -180..180"


class InvalidTimezone(InvalidInput):
    code = "invalid_timezone"
    title = "Not an IANA time zone"


class InvalidHours(InvalidInput):
    code = "invalid_hours"
    title = "Invalid operating hours"


class InvalidTrackingUrl(InvalidInput):
    code = "invalid_tracking_url"
    title = "Invalid tracking URL template"


class InvalidIfsc(InvalidInput):
    code = "invalid_ifsc"
    title = "Not a valid IFSC"


class InvalidBankAccount(InvalidInput):
    code = "invalid_bank_account"
    title = "Not a valid bank account number"


class InvalidRedirect(InvalidInput):
    code = "invalid_redirect"
    title = "Invalid redirect"


class IllegalTransition(Conflict):
    code = "illegal_transition"
    title = "The merchant cannot move to this status from its current one"


class AlreadyReviewed(Conflict):
    code = "already_reviewed"
    title = "This document was already reviewed"


class CommissionOverlap(Conflict):
    code = "commission_overlap"
    title = "Another commission of this merchant and category covers part of this window"


class EmailTaken(Conflict):
    code = "email_taken"
    title = "A merchant user already has this email"


class SlugTaken(Conflict):
    code = "slug_taken"
    title = "The slug is already used"


class SourceTaken(Conflict):
    code = "redirect_exists"
    title = "A redirect from this path already exists"


class RedirectLoop(Conflict):
    code = "redirect_loop"
    title = "This redirect would lead back to its own path"


class LastOwner(Conflict):
    code = "last_owner"
    title = "A merchant keeps at least one active owner"


class ReviewExists(Conflict):
    code = "review_exists"
    title = "This order was already reviewed"


class AlreadyFlagged(Conflict):
    code = "already_flagged"
    title = "You already flagged this review"


class MerchantNotLive(Conflict):
    code = "merchant_not_live"
    title = "The merchant is not live"


class LoginFailed(Unauthorized):
    code = "invalid_credentials"
    title = "Wrong email or password"
    keep_changes = True  # the attempt counts towards the rate limit


class BankVerificationUnavailable(Unavailable):
    code = "bank_verification_unavailable"
    title = "The bank account verification provider did not answer"
