"""How a day's samples become one count, and how the anti-cheat scores it. Pure functions of
the records and a few facts read around them: no database here.

Merging (never the sum of sources, which would count one walk twice):
1. Interval samples fall in the UTC hour of their start. In each hour the most trusted source
   with samples there counts (device > apple_health = google_fit > manual; between equal
   trust, the larger count); the hours add up to H.
2. Day totals: the most trusted source that sent one (equal trust: the larger) gives D.
3. The day counts max(H, D): a day's total and its intervals describe the same walking.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

TRUST = {"device": 3, "apple_health": 2, "google_fit": 2, "manual": 1}

# What each check adds to a day's anomaly score (the thresholds that turn a score into an
# outcome are settings).
POINTS = {
    "cadence": 40,  # an interval faster than people step
    "daily_cap": 80,  # more in a day than the daily step cap
    "no_distance": 30,  # thousands of steps, no distance from any sensor
    "speed": 40,  # distance over time no one on foot covers
    "identical_pattern": 50,  # the same intervals, the same counts, as another day
    "manual_limit": 30,  # more typed-in steps than allowed
    "shared_device": 40,  # one phone syncing for too many accounts
    "tz_jump": 30,  # the clock's time zone jumping within a day or from the day before
}
NO_DISTANCE_FROM = 5_000  # steps from a sensor with no distance at all
PATTERN_MIN_INTERVALS = 4  # fewer intervals make too common a shape to compare


class Record(Protocol):
    source: str
    kind: str
    start_at: dt.datetime
    end_at: dt.datetime | None
    utc_offset_minutes: int | None
    count: int
    device_id: str
    distance_m: int | None


@dataclass
class Merged:
    steps: int = 0
    distance_m: int = 0
    manual_steps: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    intervals: list[Record] = field(default_factory=list)  # the samples that counted
    offsets: set[int] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    pattern: str | None = None
    early_steps: int = 0  # counted steps of intervals starting before 07:00 local


@dataclass
class Facts:
    """What the checks look at in a day: its merged figures, the smallest and largest UTC
    offset of its intervals, the shape of the counted intervals, their fastest cadence (steps
    a minute) and top speed (m/s). `facts.day_facts` reads them in SQL; `facts_of` makes them
    from a `Merged`."""

    steps: int = 0
    distance_m: int = 0
    manual_steps: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    min_offset: int | None = None
    max_offset: int | None = None
    early_steps: int = 0
    pattern: str | None = None
    fastest: float = 0.0
    top_speed: float = 0.0


@dataclass
class Limits:
    daily_step_cap: int
    max_cadence: int
    max_speed_mps: float
    manual_max_steps: int
    device_max_users: int
    tz_jump_hours: int


@dataclass
class Around:
    """What the checks need beyond the day's own records."""

    same_pattern_day: dt.date | None = None
    device_users: int = 0
    previous_offset: int | None = None


def _best(candidates: dict[str, int]) -> tuple[str, int] | None:
    if not candidates:
        return None
    return max(candidates.items(), key=lambda kv: (TRUST[kv[0]], kv[1], kv[0]))


def merge(records: Sequence[Record]) -> Merged:
    out = Merged()
    hours: dict[dt.datetime, dict[str, list[Record]]] = {}
    days: dict[str, Record] = {}
    for r in records:
        out.devices.add(r.device_id)
        if r.kind == "day":
            days[r.source] = r
            out.by_source[r.source] = max(out.by_source.get(r.source, 0), r.count)
            continue
        hour = r.start_at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        hours.setdefault(hour, {}).setdefault(r.source, []).append(r)
        if r.utc_offset_minutes is not None:
            out.offsets.add(r.utc_offset_minutes)
    interval_totals: dict[str, int] = {}
    chosen: list[Record] = []
    for by_source in hours.values():
        sums = {s: sum(r.count for r in rs) for s, rs in by_source.items()}
        for s, n in sums.items():
            interval_totals[s] = interval_totals.get(s, 0) + n
        best = _best(sums)
        assert best is not None
        chosen += by_source[best[0]]
    for s, n in interval_totals.items():
        out.by_source[s] = max(out.by_source.get(s, 0), n)
    hourly = sum(r.count for r in chosen)
    best_day = _best({s: r.count for s, r in days.items()})
    if best_day is not None and best_day[1] > hourly:
        day = days[best_day[0]]
        out.steps, out.distance_m = day.count, day.distance_m or 0
        out.manual_steps = day.count if day.source == "manual" else 0
    else:
        out.steps = hourly
        out.distance_m = sum(r.distance_m or 0 for r in chosen)
        out.manual_steps = sum(r.count for r in chosen if r.source == "manual")
    chosen.sort(key=lambda r: r.start_at)
    out.intervals = chosen
    out.early_steps = sum(r.count for r in chosen if _local(r).hour < 7)
    out.pattern = pattern_of(chosen)
    return out


def pattern_of(chosen: Sequence[Record]) -> str | None:
    """The shape of the counted intervals, in order: local start, whole seconds, count."""
    if len(chosen) < PATTERN_MIN_INTERVALS:
        return None
    assert all(r.end_at is not None for r in chosen)
    shape = ",".join(f"{_local(r):%H:%M}/{math.floor((r.end_at - r.start_at).total_seconds())}"  # type: ignore[operator]
                     f"/{r.count}" for r in chosen)
    return hashlib.sha256(shape.encode()).hexdigest()[:32]


def facts_of(m: Merged) -> Facts:
    return Facts(steps=m.steps, distance_m=m.distance_m, manual_steps=m.manual_steps,
                 by_source=dict(m.by_source), min_offset=min(m.offsets, default=None),
                 max_offset=max(m.offsets, default=None), early_steps=m.early_steps,
                 pattern=m.pattern,
                 fastest=max((r.count / _minutes(r) for r in m.intervals), default=0.0),
                 top_speed=max(((r.distance_m or 0) / (_minutes(r) * 60) for r in m.intervals),
                               default=0.0))


def _local(r: Record) -> dt.datetime:
    return r.start_at.astimezone(dt.UTC) + dt.timedelta(minutes=r.utc_offset_minutes or 0)


def _minutes(r: Record) -> float:
    assert r.end_at is not None
    return max((r.end_at - r.start_at).total_seconds() / 60, 1.0)


def check(f: Facts, around: Around, limits: Limits) -> list[dict[str, Any]]:
    """The reasons this day looks wrong, each with its points."""
    reasons: list[dict[str, Any]] = []

    def add(name: str, detail: str) -> None:
        reasons.append({"check": name, "points": POINTS[name], "detail": detail})

    if f.fastest > limits.max_cadence:
        add("cadence", f"{f.fastest:.0f} steps a minute in one interval")
    if f.steps > limits.daily_step_cap:
        add("daily_cap", f"{f.steps} steps in the day")
    sensed = f.steps - f.manual_steps
    if sensed >= NO_DISTANCE_FROM and f.distance_m == 0:
        add("no_distance", f"{sensed} steps with no distance")
    if f.top_speed > limits.max_speed_mps:
        add("speed", f"{f.top_speed:.1f} m/s in one interval")
    if f.pattern is not None and around.same_pattern_day is not None:
        add("identical_pattern", f"the same intervals as {around.same_pattern_day}")
    if f.manual_steps > limits.manual_max_steps:
        add("manual_limit", f"{f.manual_steps} steps entered by hand")
    if around.device_users > limits.device_max_users:
        add("shared_device", f"{around.device_users} accounts on one device")
    offsets = {o for o in (f.min_offset, f.max_offset, around.previous_offset) if o is not None}
    if offsets and max(offsets) - min(offsets) > limits.tz_jump_hours * 60:
        add("tz_jump", f"UTC offsets from {min(offsets)} to {max(offsets)} minutes")
    return reasons


def outcome(score: int, partial_score: int, review_score: int) -> str:
    if score >= review_score:
        return "review"
    return "partial" if score >= partial_score else "verified"


def coins(steps: int, per_1000: int, cap: int, multiplier_bp: int) -> int:
    """Coins for a day's verified steps: the cap applies to the base, the tier multiplier on
    top of it (a better tier earns more than the cap's base)."""
    return min(steps * per_1000 // 1000, cap) * multiplier_bp // 10_000
