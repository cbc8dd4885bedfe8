"""Cashback errors, each with a stable code. None of them carries a network's secret."""

from __future__ import annotations

from gullak.kit.errors import Conflict, InvalidInput, NotFound, Unauthorized, Unprocessable


class NetworkNotFound(NotFound):
    code = "cashback_network_not_found"
    title = "No such affiliate network"


class NetworkExists(Conflict):
    code = "cashback_network_exists"
    title = "An affiliate network with this code exists"


class NetworkInactive(Conflict):
    code = "cashback_network_inactive"
    title = "This affiliate network is switched off"


class InvalidSignature(Unauthorized):
    """A bad or missing signature or token: the refusal is counted on the network (the count
    is kept), the postback itself is not stored."""

    code = "postback_signature_invalid"
    title = "The postback's signature or token does not verify"
    keep_changes = True


class InvalidPostback(InvalidInput):
    """A verified postback that cannot be applied (a decimal amount, a missing transaction id,
    an unknown status word): kept as received, with the reason, and refused."""

    code = "postback_invalid"
    title = "The postback cannot be applied"
    keep_changes = True


class CashbackNotFound(NotFound):
    code = "cashback_not_found"
    title = "No such cashback"


class NotUnderReview(Unprocessable):
    code = "cashback_not_unmatched"
    title = "Only a cashback kept for review can be assigned or dismissed"


class InvalidAssignment(Unprocessable):
    code = "cashback_assignment_invalid"
    title = "The cashback cannot be assigned to this click or user"


class InvalidReport(InvalidInput):
    code = "invalid_cashback_report"
    title = "The report file cannot be read"
