"""Identity errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
)


class InvalidPhone(InvalidInput):
    code = "invalid_phone"
    title = "Not a valid mobile number"


class InvalidEmail(InvalidInput):
    code = "invalid_email"
    title = "Not a valid email address"


class UnknownReferralCode(InvalidInput):
    code = "unknown_referral_code"
    title = "No user has this referral code"


class Taken(Conflict):
    code = "already_taken"
    title = "Already used by another account"


class OtpInvalid(Unauthorized):
    code = "otp_invalid"
    title = "Wrong or expired code"
    keep_changes = True  # the attempt counts


class OtpLocked(TooManyRequests):
    code = "otp_locked"
    title = "Too many wrong codes: ask for a new one"


class OtpCooldown(TooManyRequests):
    code = "otp_cooldown"
    title = "A code was just sent: wait before asking again"


class RateLimited(TooManyRequests):
    code = "rate_limited"
    title = "Too many requests"
    keep_changes = True


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = "Wrong login or password"
    keep_changes = True


class TotpRequired(Unauthorized):
    code = "totp_required"
    title = "This account needs its authenticator code"


class InvalidToken(Unauthorized):
    code = "invalid_token"
    title = "Invalid or expired token"


class RefreshReused(Unauthorized):
    code = "refresh_token_reused"
    title = "This refresh token was already used: the session is closed"
    keep_changes = True  # the family stays revoked


class AccountUnavailable(Forbidden):
    code = "account_unavailable"
    title = "This account is not active"


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "No such user"


class ItemNotFound(NotFound):
    code = "not_found"
    title = "Not found"


class InvalidSocialToken(Unauthorized):
    code = "invalid_social_token"
    title = "The identity provider's token did not verify"
