"""Format rules of merchants' data (GSTIN, PAN, FSSAI, IFSC, coordinates, time zones, operating
hours, tracking URL templates) and the open-now test. Pure functions: no database."""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gullak.merchants import errors

PAN = re.compile(r"^[A-Z]{5}[0-9]{4}[A-Z]$")
FSSAI = re.compile(r"^[0-9]{14}$")
IFSC = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")
ACCOUNT_NUMBER = re.compile(r"^[0-9]{9,18}$")
_GSTIN_SHAPE = re.compile(r"^([0-9]{2})([A-Z]{5}[0-9]{4}[A-Z])([1-9A-Z])Z([0-9A-Z])$")
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
GSTIN_STATES = range(1, 39)  # 01 Jammu and Kashmir .. 38 Ladakh

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 24 * 60
WEEK = 7 * DAY
MAX_RANGES_PER_DAY = 6
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")

PLACEHOLDERS = frozenset({"click_id", "user_id", "offer_id", "merchant_id", "affiliate_id"})


# -- business identifiers ---------------------------------------------------------------------

def gstin_check_digit(first14: str) -> str:
    """The GSTIN check character: base-36 digits weighted 1, 2, 1, 2...; each product folded
    as quotient + remainder by 36; the check makes the sum a multiple of 36."""
    total = 0
    for i, char in enumerate(first14):
        product = _BASE36.index(char) * (1 if i % 2 == 0 else 2)
        total += product // 36 + product % 36
    return _BASE36[(36 - total % 36) % 36]


def normalize_gstin(raw: str) -> str:
    gstin = raw.strip().upper()
    match = _GSTIN_SHAPE.match(gstin)
    if match is None:
        raise errors.InvalidGstin(
            "A GSTIN is 15 characters: state code, PAN, entity number, 'Z', check character.",
            field="gstin")
    if int(match.group(1)) not in GSTIN_STATES:
        raise errors.InvalidGstin("The state code must be 01 to 38.", field="gstin")
    if gstin_check_digit(gstin[:14]) != gstin[14]:
        raise errors.InvalidGstin("The check character does not match.", field="gstin")
    return gstin


def normalize_pan(raw: str) -> str:
    pan = raw.strip().upper()
    if not PAN.match(pan):
        raise errors.InvalidPan("A PAN is five letters, four digits and a letter.", field="pan")
    return pan


def normalize_fssai(raw: str) -> str:
    fssai = raw.strip().replace(" ", "")
    if not FSSAI.match(fssai):
        raise errors.InvalidFssai("An FSSAI licence number is 14 digits.", field="fssai")
    return fssai


def normalize_ifsc(raw: str) -> str:
    ifsc = raw.strip().upper()
    if not IFSC.match(ifsc):
        raise errors.InvalidIfsc("An IFSC is four letters, a zero and six letters or digits.",
                                 field="ifsc")
    return ifsc


def normalize_account_number(raw: str) -> str:
    number = raw.strip().replace(" ", "")
    if not ACCOUNT_NUMBER.match(number):
        raise errors.InvalidBankAccount("An account number is 9 to 18 digits.",
                                        field="account_number")
    return number


# -- places and time ---------------------------------------------------------------------------

def normalize_city(raw: str | None) -> str | None:
    """Cities are compared as written in capwords ("navi mumbai" is "Navi Mumbai")."""
    return string.capwords(raw.strip()) if raw and raw.strip() else None


def normalize_tags(raw: Sequence[str]) -> list[str]:
    """Lower-cased, single-spaced, without duplicates, in the order given."""
    seen: dict[str, None] = {}
    for tag in raw:
        clean = " ".join(tag.lower().split())[:50]
        if clean:
            seen.setdefault(clean, None)
    return list(seen)


def check_coordinates(latitude: float, longitude: float) -> None:
    if not (-90 <= latitude <= 90):
        raise errors.InvalidCoordinates(field="latitude")
    if not (-180 <= longitude <= 180):
        raise errors.InvalidCoordinates(field="longitude")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise errors.InvalidTimezone(f"Unknown time zone {name!r}.", field="timezone") from exc


def _minutes(value: str, *, closing: bool) -> int:
    if closing and value == "24:00":
        return DAY
    match = _HHMM.match(value)
    if match is None:
        raise errors.InvalidHours(f"{value!r} is not a time as HH:MM.", field="hours")
    return int(match.group(1)) * 60 + int(match.group(2))


def week_intervals(hours: Mapping[str, Sequence[Mapping[str, str]]]) -> list[tuple[int, int]]:
    """The open intervals in minutes since Monday 00:00, sorted, validated.

    Each day maps to ranges {"open": "HH:MM", "close": "HH:MM"}. A close earlier than the
    open runs past midnight into the next day (Sunday's into Monday's); "24:00" closes at
    midnight; open == close is refused (say "00:00"-"24:00" for a whole day). No two ranges
    may overlap, an overnight range included."""
    intervals: list[tuple[int, int]] = []
    for day, ranges in hours.items():
        if day not in WEEKDAYS:
            raise errors.InvalidHours(f"{day!r} is not a weekday (mon..sun).", field="hours")
        if len(ranges) > MAX_RANGES_PER_DAY:
            raise errors.InvalidHours(f"At most {MAX_RANGES_PER_DAY} ranges a day.",
                                      field="hours")
        base = WEEKDAYS.index(day) * DAY
        for r in ranges:
            opens, closes = _minutes(r["open"], closing=False), _minutes(r["close"], closing=True)
            if closes == opens:
                raise errors.InvalidHours("A range cannot close when it opens.", field="hours")
            end = closes if closes > opens else closes + DAY  # past midnight
            start = base + opens
            # Sunday's overnight range wraps round to Monday morning.
            if base + end > WEEK:
                intervals += [(start, WEEK), (0, base + end - WEEK)]
            else:
                intervals.append((start, base + end))
    intervals.sort()
    for (_, end), (start, _) in zip(intervals, intervals[1:]):
        if start < end:
            raise errors.InvalidHours("Two opening ranges overlap.", field="hours")
    return intervals


def normalize_hours(hours: Mapping[str, Sequence[Any]]) -> dict[str, list[dict[str, str]]]:
    plain = {day: [dict(r) if isinstance(r, Mapping) else r.model_dump() for r in ranges]
             for day, ranges in hours.items()}
    week_intervals(plain)
    return {day: sorted(ranges, key=lambda r: r["open"])
            for day, ranges in sorted(plain.items(), key=lambda kv: WEEKDAYS.index(kv[0]))
            if ranges}


def open_at(hours: Mapping[str, Sequence[Mapping[str, str]]], timezone: str,
            at: dt.datetime) -> bool:
    """Whether an outlet with these hours is open at the instant `at`, read on its own
    wall clock."""
    local = at.astimezone(zone(timezone))
    minute = local.weekday() * DAY + local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in week_intervals(hours))


# -- affiliate tracking -----------------------------------------------------------------------

def check_tracking_template(template: str) -> str:
    """An https URL whose only placeholders are the known ones, without format specs."""
    template = template.strip()
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as exc:
        raise errors.InvalidTrackingUrl("Unbalanced braces.", field="tracking_url_template") \
            from exc
    for name, spec, conv in fields:
        if name not in PLACEHOLDERS or spec or conv:
            known = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
            raise errors.InvalidTrackingUrl(f"Unknown placeholder {{{name}}}; known: {known}.",
                                            field="tracking_url_template")
    sample = fill_template(template, {p: "x" for p in PLACEHOLDERS})
    parts = urlsplit(sample)
    if parts.scheme != "https" or not parts.hostname:
        raise errors.InvalidTrackingUrl("The template must be an https URL.",
                                        field="tracking_url_template")
    return template


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """Each placeholder replaced by its URL-encoded value (a missing value is empty)."""
    encoded = {p: quote(str(values.get(p) or ""), safe="") for p in PLACEHOLDERS}
    return template.format_map(encoded)
