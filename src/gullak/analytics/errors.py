"""Analytics errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import InvalidInput


class InvalidRange(InvalidInput):
    code = "invalid_date_range"
    title = "The range must run forward, over at most 366 days"


class UnknownSummary(InvalidInput):
    code = "unknown_summary"
    title = "No such summary: user, merchant, offer or platform"
