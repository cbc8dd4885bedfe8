"""Risk errors, each with a stable code. What a blocked user is told names no rule and no
score: the wording is the same whatever caused the block."""

from __future__ import annotations

from gullak.kit.errors import Conflict, Forbidden, NotFound


class AccountRestricted(Forbidden):
    code = "account_restricted"
    title = "This account is restricted"

    def __init__(self) -> None:
        super().__init__("This account cannot do this right now. Please contact support.")


class RiskEventNotFound(NotFound):
    code = "risk_event_not_found"
    title = "No such risk event"


class AlreadyReviewed(Conflict):
    code = "risk_event_reviewed"
    title = "This risk event has been reviewed already"


class NotBlocked(NotFound):
    code = "risk_block_not_found"
    title = "This user is not blocked"
