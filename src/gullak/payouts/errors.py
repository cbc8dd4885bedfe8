"""Payouts errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, Forbidden, GullakError, InvalidInput, NotFound, Unprocessable


class MethodNotFound(NotFound):
    code = "payout_method_not_found"
    title = "No such payout method"


class WithdrawalNotFound(NotFound):
    code = "withdrawal_not_found"
    title = "No such withdrawal"


class ChannelNotFound(NotFound):
    code = "bank_channel_not_found"
    title = "No such bank channel"


class UnknownProvider(NotFound):
    code = "unknown_payout_provider"
    title = "No such payouts provider"


class ProviderNotConfigured(GullakError):
    status = 503
    code = "payout_provider_not_configured"
    title = "This payouts provider has no credentials here"


class ProviderFailed(GullakError):
    status = 502
    code = "payout_provider_error"
    title = "The payouts provider refused or could not be reached"


class InvalidSignature(GullakError):
    status = 401
    code = "invalid_signature"
    title = "The callback's signature does not verify"


class InvalidCallback(InvalidInput):
    code = "invalid_callback"
    title = "The callback's body is not an event of this provider"


class MethodExists(Conflict):
    code = "payout_method_exists"
    title = "This destination is already one of your payout methods"


class TooManyMethods(Conflict):
    code = "payout_method_limit"
    title = "Remove a payout method before adding another"


class MethodNotUsable(Unprocessable):
    code = "payout_method_not_usable"
    title = "This payout method cannot receive money now"


class CoolingOff(Unprocessable):
    code = "payout_method_cooling_off"
    title = "This payout method was added recently and cannot receive money yet"


class NameMismatch(Unprocessable):
    code = "payout_name_mismatch"
    title = "The bank's name for this account does not match the KYC name"


class NotWithdrawable(InvalidInput):
    code = "asset_not_withdrawable"
    title = "This asset cannot be withdrawn"


class AmountOutOfRange(InvalidInput):
    code = "withdrawal_amount_out_of_range"
    title = "The amount is below the minimum or leaves nothing after fees"


class LimitExceeded(Unprocessable):
    code = "withdrawal_limit_exceeded"
    title = "This withdrawal would go over a daily or monthly limit"


class InsufficientFunds(Unprocessable):
    code = "insufficient_funds"
    title = "The available balance does not cover this withdrawal"


class KycRequired(Unprocessable):
    code = "kyc_required"
    title = "A verified KYC with a PAN is needed for a withdrawal this large"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "This idempotency key was used with a different request"


class InvalidTransition(Conflict):
    code = "invalid_withdrawal_transition"
    title = "The withdrawal cannot make this move from its current status"


class MakerChecker(Forbidden):
    code = "maker_checker"
    title = "The one who made or last edited a request, or approved it already, cannot approve it"


class StepUpRequired(Forbidden):
    code = "step_up_required"
    title = "Confirm with a code sent to your phone first (POST /v1/me/otp/verify)"


class SettlementNotFound(NotFound):
    code = "settlement_not_found"
    title = "No such settlement"


class InvalidSettlementPeriod(InvalidInput):
    code = "invalid_settlement_period"
    title = "A settlement period runs from its first to its last day, at most 31 days"
