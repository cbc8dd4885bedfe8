"""Partners errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, Forbidden, InvalidInput, NotFound, Unprocessable


class PartnerNotFound(NotFound):
    code = "partner_not_found"
    title = "No such partner"


class PartnerNameTaken(Conflict):
    code = "partner_name_taken"
    title = "Another partner has this name"


class PartnerSuspended(Forbidden):
    code = "partner_suspended"
    title = "This partner is suspended"


class NotAPartner(Forbidden):
    code = "not_a_partner"
    title = "This endpoint is for partners' API keys"


class LinkNotFound(NotFound):
    code = "partner_link_not_found"
    title = "No such link to this partner"


class UserNotLinked(Unprocessable):
    code = "user_not_linked"
    title = "The user has not linked this partner, or has revoked the link"


class MerchantNotAllowed(Unprocessable):
    code = "merchant_not_allowed"
    title = "This partner may not order from this merchant"


class PartnerOrderNotFound(NotFound):
    code = "partner_order_not_found"
    title = "No such order of this partner"


class ExternalRefReused(Conflict):
    code = "external_ref_reused"
    title = "This external reference was used for a different order"


class TooLateToCancel(Conflict):
    code = "invalid_transition"
    title = "The order has left the merchant: too late to cancel"


class EventNotFound(NotFound):
    code = "partner_event_not_found"
    title = "No such webhook event"


class InvalidWebhookUrl(InvalidInput):
    code = "invalid_webhook_url"
    title = "The webhook URL must be https and reach a public address"
