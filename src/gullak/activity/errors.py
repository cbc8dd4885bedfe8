"""Activity errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, Forbidden, InvalidInput, NotFound


class FutureDay(InvalidInput):
    code = "steps_in_future"
    title = "Steps of a day that has not come yet"


class DayTooOld(InvalidInput):
    code = "steps_too_old"
    title = "Steps of a day past the resync window"


class InvalidRange(InvalidInput):
    code = "invalid_range"
    title = "A range of days from one date to a later one, a year at most"


class ReviewNotFound(NotFound):
    code = "review_not_found"
    title = "No such step review"


class ReviewDecided(Conflict):
    code = "review_decided"
    title = "This review is decided or superseded by a later sync"


class ChallengeNotFound(NotFound):
    code = "challenge_not_found"
    title = "No such challenge"


class ChallengeNotAllowed(Forbidden):
    code = "challenge_not_allowed"
    title = "This kind of challenge is created by the back office"


class InvalidChallenge(InvalidInput):
    code = "invalid_challenge"
    title = "This challenge cannot be made or joined so"


class ChallengeClosed(Conflict):
    code = "challenge_closed"
    title = "The challenge is no longer open"


class AlreadyJoined(Conflict):
    code = "challenge_joined"
    title = "Already in this challenge"


class ChallengeFull(Conflict):
    code = "challenge_full"
    title = "The challenge has all the participants it takes"


class ChallengeNotOver(Conflict):
    code = "challenge_not_over"
    title = "The challenge's last day is not over yet"
