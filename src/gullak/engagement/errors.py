"""Engagement errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import InvalidInput, NotFound


class NoScope(InvalidInput):
    """A city or college board asked for by a user whose city or verified college is unknown."""

    code = "leaderboard_scope_unavailable"
    title = "You have no city or verified college for this board"


class CannotFollowSelf(InvalidInput):
    code = "follow_self"
    title = "You cannot follow yourself"


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "No such user"


class SnapshotNotFound(NotFound):
    code = "leaderboard_snapshot_not_found"
    title = "No closed board for that period"
