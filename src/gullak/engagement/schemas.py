"""Engagement shapes. A user appears by id and display name only, never by phone."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from gullak.kit.schemas import Out


class Metric(StrEnum):
    steps = "steps"
    coins = "coins"


class Period(StrEnum):
    weekly = "weekly"
    monthly = "monthly"
    alltime = "alltime"


class Scope(StrEnum):
    global_ = "global"
    city = "city"
    college = "college"
    friends = "friends"


class EntryOut(Out):
    rank: int
    user_id: uuid.UUID
    name: str | None
    score: int


class BoardOut(Out):
    metric: Metric
    period: Period
    starts: dt.date | None  # the period's first day (Asia/Kolkata); None for all time
    scope: str  # global, city:<name>, college:<id>, friends
    entries: list[EntryOut]


class StandingOut(Out):
    metric: Metric
    period: Period
    starts: dt.date | None
    scope: str
    me: EntryOut | None  # None: no score on this board yet
    around: list[EntryOut]  # me with the users just above and below


class PersonOut(Out):
    user_id: uuid.UUID
    name: str | None
    since: dt.datetime
    friend: bool  # the follow goes both ways


class FollowsOut(Out):
    following_count: int
    followers_count: int
    friends_count: int
    following: list[PersonOut]
    followers: list[PersonOut]


class RebuildOut(Out):
    boards: int
    users: int
    days: int
