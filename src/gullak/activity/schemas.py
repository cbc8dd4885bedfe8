"""Activity shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from gullak.kit.schemas import In, Out, Text

MAX_BATCH = 500
# One sample's count may not pass this (a day of running is ~60,000 steps): refused at the
# door, where the anti-cheat only scores counts a body could make.
MAX_COUNT = 200_000
DeviceId = Annotated[Text, StringConstraints(min_length=1, max_length=200)]


class Source(StrEnum):
    device = "device"
    apple_health = "apple_health"
    google_fit = "google_fit"
    manual = "manual"


class SampleIn(In):
    """A day's total (`day`) or an interval's count (`start`, `end`, with their UTC offset:
    the day of an interval is the local date of its start)."""

    day: dt.date | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    count: Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT)]
    source: Source
    device_id: DeviceId
    distance_m: Annotated[int, Field(strict=True, ge=0, le=1_000_000)] | None = None
    calories: Annotated[int, Field(strict=True, ge=0, le=100_000)] | None = None
    active_minutes: Annotated[int, Field(strict=True, ge=0, le=1_440)] | None = None

    @model_validator(mode="after")
    def _day_or_interval(self) -> SampleIn:
        if (self.day is None) == (self.start is None and self.end is None):
            raise ValueError("give either day, or start and end")
        if self.day is None:
            if self.start is None or self.end is None:
                raise ValueError("an interval has a start and an end")
            # A difference, not start + 24 hours: that sum is past the type for a start in
            # the last day a time holds.
            if not dt.timedelta(0) < self.end - self.start <= dt.timedelta(hours=24):
                raise ValueError("an interval ends after it starts, within 24 hours")
        return self


class StepsIn(In):
    samples: Annotated[list[SampleIn], Field(min_length=1, max_length=MAX_BATCH)]


class DayStatus(StrEnum):
    open = "open"
    verified = "verified"
    partial = "partial"
    review = "review"
    rejected = "rejected"


class DayOut(Out):
    day: dt.date
    steps: int
    verified_steps: int
    status: DayStatus
    score: int
    coins: int
    by_source: dict[str, int]


class SyncOut(Out):
    accepted: int
    days: list[DayOut]


class DaysOut(Out):
    items: list[DayOut]


class SummaryOut(Out):
    today: dt.date
    steps: int
    goal: int
    goal_progress_bp: int
    streak: int
    coins_today: int
    coins_from_steps: int
    asset: str


class ReviewOut(Out):
    id: uuid.UUID
    user_id: uuid.UUID
    day: dt.date
    steps: int
    score: int
    reasons: list[dict[str, Any]]
    outcome: str
    decision: str | None
    decided_at: dt.datetime | None
    created_at: dt.datetime


class ReviewPage(Out):
    items: list[ReviewOut]
    next_cursor: str | None


class DecisionIn(In):
    decision: Literal["approve", "reject"]
    reason: Annotated[Text, StringConstraints(min_length=1, max_length=500)]


class ChallengeKind(StrEnum):
    solo = "solo"
    friends = "friends"
    college = "college"
    company = "company"


class ChallengeStatus(StrEnum):
    open = "open"
    finished = "finished"
    cancelled = "cancelled"


Team = Annotated[Text, StringConstraints(min_length=1, max_length=120)]
Coins = Annotated[int, Field(strict=True, ge=0, le=10**12)]


class ChallengeIn(In):
    title: Annotated[Text, StringConstraints(min_length=1, max_length=200)]
    kind: ChallengeKind = ChallengeKind.solo
    starts_on: dt.date
    ends_on: dt.date
    entry_fee: Coins = 0
    sponsor_amount: Coins = 0
    # The pool's share per rank, in basis points: [6000, 3000, 1000] pays the top three.
    prize_split_bp: Annotated[list[Annotated[int, Field(strict=True, ge=0, le=10_000)]],
                              Field(min_length=1, max_length=100)] = [10_000]
    max_participants: Annotated[int, Field(strict=True, ge=2, le=1_000_000)] = 10_000

    @model_validator(mode="after")
    def _window(self) -> ChallengeIn:
        if self.ends_on < self.starts_on or (self.ends_on - self.starts_on).days > 92:
            raise ValueError("a challenge ends on or after its first day, within 93 days")
        if sum(self.prize_split_bp) > 10_000:
            raise ValueError("the prize split shares at most 10,000 basis points")
        return self


class JoinIn(In):
    team: Team | None = None  # college or company challenges: the team joined


class StandingOut(Out):
    rank: int
    name: str  # the team, or the user's id
    steps: int
    members: int
    prize: int


class ChallengeOut(Out):
    id: uuid.UUID
    code: str
    title: str
    kind: ChallengeKind
    starts_on: dt.date
    ends_on: dt.date
    asset_code: str
    entry_fee: int
    sponsor_amount: int
    prize_split_bp: list[int]
    max_participants: int
    participants: int
    status: str
    standings: list[StandingOut] = []


class ChallengeList(Out):
    items: list[ChallengeOut]
