"""Payments errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, GullakError, InvalidInput, NotFound, Unavailable


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    title = "No such payment"


class UnknownGateway(NotFound):
    code = "unknown_gateway"
    title = "No such payment gateway"


class InvalidSignature(GullakError):
    status = 401
    code = "invalid_signature"
    title = "The webhook's signature does not verify"


class InvalidWebhook(InvalidInput):
    code = "invalid_webhook"
    title = "The webhook's body is not an event of this gateway"


class InvalidAmount(InvalidInput):
    code = "invalid_amount"
    title = "The amount is out of the allowed range"


class UnsupportedCurrency(InvalidInput):
    code = "unsupported_currency"
    title = "Payments are in INR only"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "This idempotency key was used with a different request"


class InvalidTransition(Conflict):
    code = "invalid_payment_transition"
    title = "The payment cannot make this move from its current status"


class RefundTooLarge(Conflict):
    code = "refund_exceeds_paid"
    title = "A refund cannot exceed what was paid less what was already refunded"


class GatewayNotConfigured(Unavailable):
    code = "gateway_not_configured"
    title = "This payment gateway is not configured"


class GatewayFailed(Unavailable):
    """The provider refused or could not be reached. Raised with keep_changes where the
    attempt was recorded, so the record of the call survives the refusal."""

    status = 502
    code = "gateway_error"
    title = "The payment gateway did not accept the request"


class MethodNotFound(NotFound):
    code = "payment_method_not_found"
    title = "No such payment method"
