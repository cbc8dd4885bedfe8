"""Ledger errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, GullakError, InvalidInput, NotFound, Unprocessable


class InvalidAmount(InvalidInput):
    code = "invalid_amount"
    title = "Amount must be a whole number of minor units, above 0 and below 2^63"


class SameAccount(InvalidInput):
    code = "same_account"
    title = "Debit and credit accounts are the same"


class AssetNotFound(NotFound):
    code = "asset_not_found"
    title = "No such asset"


class AssetExists(Conflict):
    code = "asset_exists"
    title = "An asset with this code exists"


class AccountNotFound(NotFound):
    code = "account_not_found"
    title = "No such account"


class AssetMismatch(Unprocessable):
    code = "asset_mismatch"
    title = "Account and transfer assets differ"


class InsufficientFunds(Unprocessable):
    code = "insufficient_funds"
    title = "Insufficient available funds"


class AccountFrozen(Unprocessable):
    code = "account_frozen"
    title = "Account is frozen"


class LimitExceeded(Unprocessable):
    code = "spend_limit_exceeded"
    title = "Spend limit exceeded"


class HoldNotFound(NotFound):
    code = "hold_not_found"
    title = "No such hold"


class HoldNotPending(Conflict):
    code = "hold_not_pending"
    title = "Hold is already resolved"


class HoldExpired(Conflict):
    code = "hold_expired"
    title = "Hold has expired"


class CaptureExceedsHold(Unprocessable):
    code = "capture_exceeds_hold"
    title = "Capture exceeds the held amount"


class TransferNotFound(NotFound):
    code = "transfer_not_found"
    title = "No such transfer"


class ReversalExceedsOriginal(Unprocessable):
    code = "reversal_exceeds_original"
    title = "Reversals would exceed the original amount"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "Idempotency key was used with a different request"


class BalanceOverflow(Unprocessable):
    code = "balance_overflow"
    title = "The balance would pass the largest amount the ledger holds (2^63 - 1)"


class HoldNotAllowed(Unprocessable):
    code = "hold_not_allowed"
    title = "Holds are for user and merchant accounts"


class InvalidExpiry(InvalidInput):
    code = "invalid_expiry"
    title = "A grant must expire after it is made"


class ReservedKind(InvalidInput):
    code = "reserved_kind"
    title = "This kind is posted by the ledger itself"


class LedgerGuard(Conflict):
    code = "ledger_guard"
    title = "The ledger refused a direct write"


# SQLSTATEs raised by the ledger's triggers and command functions (migrations/sql/0003, 0014).
SQLSTATE_ERRORS: dict[str, type[GullakError]] = {
    "GL001": InsufficientFunds,
    "GL002": AccountFrozen,
    "GL003": AccountNotFound,
    "GL004": AssetMismatch,
    "GL005": LimitExceeded,
    "GL006": HoldNotPending,
    "GL009": LedgerGuard,
    "GL010": LedgerGuard,
    "GL011": HoldNotAllowed,
    "GL012": IdempotencyKeyReused,
    "GL013": InvalidExpiry,
    "GL014": TransferNotFound,
    "GL015": ReversalExceedsOriginal,
    "GL016": InvalidInput,  # a hold that expires at once
    "GL017": HoldNotFound,
    "GL018": HoldExpired,
    "GL019": CaptureExceedsHold,
    "GL020": SameAccount,
    "22003": BalanceOverflow,  # numeric_value_out_of_range: a bigint balance would overflow
}
# The request field a refusal is about, where there is one.
SQLSTATE_FIELDS = {
    "GL012": "idempotency_key",
    "GL014": "transfer_id",
    "GL015": "amount",
    "GL016": "expires_at",
    "GL017": "hold_id",
    "GL019": "amount",
    "GL020": "credit_account_id",
}
# Check constraints whose violation means a known refusal.
CONSTRAINT_ERRORS: dict[str, type[GullakError]] = {
    "ck_ledger_balances_available": InsufficientFunds,
    "ck_ledger_transfers_sides": SameAccount,
    "ck_ledger_transfers_reversal": ReservedKind,
    "ck_ledger_transfers_expire": ReservedKind,
    "fk_ledger_holds_account_id_ledger_accounts": AccountNotFound,
}


def from_database(state: str | None, constraint: str | None, message: str) -> Exception | None:
    """The domain error for a refusal raised by the ledger's triggers and checks, if any."""
    if state in SQLSTATE_ERRORS:
        return SQLSTATE_ERRORS[state](message, field=SQLSTATE_FIELDS.get(state))
    if constraint in CONSTRAINT_ERRORS:
        return CONSTRAINT_ERRORS[constraint]()
    return None
