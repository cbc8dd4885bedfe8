"""Format rules and the open-now test, without a database."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest

from gullak.kit.errors import GullakError
from gullak.merchants import rules

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))


def code_of(call: object, *args: object) -> str:
    with pytest.raises(GullakError) as info:
        call(*args)  # type: ignore[operator]
    return info.value.code


# -- GSTIN, PAN, FSSAI, IFSC ------------------------------------------------------------------

@pytest.mark.parametrize("gstin", ["27AAPFU0939F1ZV", "29AAGCB7383J1Z4", "27AABCB1234F1Z8",
                                   " 29aafck5678k1zs "])
def test_valid_gstins_are_normalised(gstin: str) -> None:
    assert rules.normalize_gstin(gstin) == gstin.strip().upper()


@pytest.mark.parametrize("gstin", [
    "27AAPFU0939F1ZW",  # wrong check character
    "27AAPFU0939F1Z",  # 14 characters
    "27AAPFU0939F1YV",  # 14th character not Z
    "39AAPFU0939F1ZV",  # no state 39
    "00AAPFU0939F1ZV",  # no state 00
    "27AAPF10939F1ZV",  # the PAN inside is malformed
    "27AAPFU0939F0ZV",  # entity number 0
    "",
])
def test_invalid_gstins_are_refused(gstin: str) -> None:
    assert code_of(rules.normalize_gstin, gstin) == "invalid_gstin"


def test_check_character_detects_every_single_substitution() -> None:
    gstin = "27AAPFU0939F1ZV"
    for i in range(14):
        for char in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ":
            if char != gstin[i]:
                changed = gstin[:i] + char + gstin[i + 1:14]
                assert rules.gstin_check_digit(changed) != "V", changed


@pytest.mark.parametrize("pan,ok", [("AAPFU0939F", True), ("aapfu0939f", True),
                                    ("AAPF00939F", False), ("AAPFU0939", False),
                                    ("AAPFU09391", False)])
def test_pan_format(pan: str, ok: bool) -> None:
    if ok:
        assert rules.normalize_pan(pan) == pan.upper()
    else:
        assert code_of(rules.normalize_pan, pan) == "invalid_pan"


@pytest.mark.parametrize("fssai,ok", [("11521998000123", True), ("1152 1998 0001 23", True),
                                      ("1152199800012", False), ("1152199800012A", False)])
def test_fssai_format(fssai: str, ok: bool) -> None:
    if ok:
        assert rules.normalize_fssai(fssai) == "11521998000123"
    else:
        assert code_of(rules.normalize_fssai, fssai) == "invalid_fssai"


def test_ifsc_and_account_number_formats() -> None:
    assert rules.normalize_ifsc("hdfc0001234") == "HDFC0001234"
    assert code_of(rules.normalize_ifsc, "HDFC1001234") == "invalid_ifsc"
    assert rules.normalize_account_number("5010 0123 4567") == "501001234567"
    assert code_of(rules.normalize_account_number, "12345") == "invalid_bank_account"


# -- coordinates, time zones, hours -----------------------------------------------------------

@pytest.mark.parametrize("lat,lon", [(90.01, 0), (-90.5, 0), (0, 180.1), (0, -181)])
def test_coordinates_out_of_range(lat: float, lon: float) -> None:
    assert code_of(rules.check_coordinates, lat, lon) == "invalid_coordinates"


def test_time_zones_are_iana_names() -> None:
    assert str(rules.zone("Asia/Kolkata")) == "Asia/Kolkata"
    for bad in ("Asia/Mumbai", "IST+5:30", "", "../etc/passwd"):
        assert code_of(rules.zone, bad) == "invalid_timezone"


@pytest.mark.parametrize("hours", [
    {"mon": [{"open": "9:00", "close": "18:00"}]},  # not HH:MM
    {"mon": [{"open": "09:00", "close": "24:30"}]},
    {"mon": [{"open": "24:00", "close": "02:00"}]},  # 24:00 only closes
    {"mon": [{"open": "09:00", "close": "09:00"}]},  # closes when it opens
    {"monday": [{"open": "09:00", "close": "18:00"}]},
    {"mon": [{"open": "09:00", "close": "14:00"}, {"open": "13:00", "close": "18:00"}]},
    # Monday's overnight range runs into Tuesday's first one.
    {"mon": [{"open": "22:00", "close": "03:00"}], "tue": [{"open": "02:00", "close": "10:00"}]},
    # Sunday's overnight range wraps into Monday's.
    {"sun": [{"open": "20:00", "close": "02:00"}], "mon": [{"open": "01:00", "close": "05:00"}]},
    {"mon": [{"open": f"{h:02d}:00", "close": f"{h:02d}:30"} for h in range(7)]},  # too many
])
def test_invalid_hours(hours: dict[str, list[dict[str, str]]]) -> None:
    assert code_of(rules.normalize_hours, hours) == "invalid_hours"


def test_hours_are_sorted_and_empty_days_dropped() -> None:
    hours = {"tue": [{"open": "17:00", "close": "22:00"}, {"open": "08:00", "close": "12:00"}],
             "mon": [], "sun": [{"open": "00:00", "close": "24:00"}]}
    assert rules.normalize_hours(hours) == {
        "tue": [{"open": "08:00", "close": "12:00"}, {"open": "17:00", "close": "22:00"}],
        "sun": [{"open": "00:00", "close": "24:00"}]}


# 2026-11-23 is a Monday.
def at_ist(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, 23 + day, hour, minute, tzinfo=IST)


def test_open_now_by_weekday_and_range_edges() -> None:
    hours = {"mon": [{"open": "09:00", "close": "13:00"}, {"open": "17:00", "close": "21:00"}],
             "sat": [{"open": "10:00", "close": "14:00"}]}
    zone = "Asia/Kolkata"
    assert not rules.open_at(hours, zone, at_ist(0, 8, 59))
    assert rules.open_at(hours, zone, at_ist(0, 9, 0))  # opens at 09:00
    assert rules.open_at(hours, zone, at_ist(0, 12, 59))
    assert not rules.open_at(hours, zone, at_ist(0, 13, 0))  # closed at 13:00
    assert not rules.open_at(hours, zone, at_ist(0, 15))  # the afternoon break
    assert rules.open_at(hours, zone, at_ist(0, 18))
    assert not rules.open_at(hours, zone, at_ist(1, 10))  # Tuesday: closed all day
    assert rules.open_at(hours, zone, at_ist(5, 11))  # Saturday
    assert not rules.open_at(hours, zone, at_ist(6, 11))  # Sunday


def test_overnight_ranges_run_past_midnight_into_the_next_day() -> None:
    hours = {"fri": [{"open": "18:00", "close": "02:00"}],
             "sun": [{"open": "20:00", "close": "01:30"}]}
    zone = "Asia/Kolkata"
    assert rules.open_at(hours, zone, at_ist(4, 23, 30))  # Friday night
    assert rules.open_at(hours, zone, at_ist(5, 1, 59))  # Saturday, 01:59, still Friday's
    assert not rules.open_at(hours, zone, at_ist(5, 2, 0))
    assert not rules.open_at(hours, zone, at_ist(5, 23))  # Saturday night: closed
    assert rules.open_at(hours, zone, at_ist(6, 21))  # Sunday night
    # Sunday's range goes on into Monday morning (the week wraps round).
    assert rules.open_at(hours, zone, dt.datetime(2026, 11, 30, 1, 0, tzinfo=IST))
    assert not rules.open_at(hours, zone, dt.datetime(2026, 11, 30, 1, 30, tzinfo=IST))


def test_open_now_reads_the_outlets_own_clock() -> None:
    hours = {"mon": [{"open": "09:00", "close": "17:00"}]}
    # Monday 10:00 in Kolkata is 04:30 UTC: 08:30 in Dubai, 04:30 in London.
    instant = at_ist(0, 10)
    assert rules.open_at(hours, "Asia/Kolkata", instant)
    assert not rules.open_at(hours, "Asia/Dubai", instant)
    assert not rules.open_at(hours, "Europe/London", instant)
    # Monday 16:30 in Kolkata is 11:00 UTC: 12:00 in Paris, 20:00 in Tokyo.
    later = at_ist(0, 16, 30)
    assert rules.open_at(hours, "Europe/Paris", later)
    assert not rules.open_at(hours, "Asia/Tokyo", later)
    # Sunday 23:00 in Los Angeles is Monday 07:00 UTC, Monday 12:30 in Kolkata.
    sunday_la = dt.datetime(2026, 11, 29, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    assert not rules.open_at(hours, "America/Los_Angeles", sunday_la)
    assert rules.open_at(hours, "Asia/Kolkata", sunday_la)


# -- tracking URLs ----------------------------------------------------------------------------

@pytest.mark.parametrize("template", [
    "http://track.example/c?id={click_id}",  # not https
    "https://track.example/c?id={click}",  # unknown placeholder
    "https://track.example/c?id={click_id!r}",  # conversion
    "https://track.example/c?id={click_id:>10}",  # format spec
    "https://track.example/c?id={click_id",  # unbalanced
    "https://track.example/c?id={0}",
    "https:///c?id={click_id}",  # no host
    "{click_id}",
])
def test_invalid_tracking_templates(template: str) -> None:
    assert code_of(rules.check_tracking_template, template) == "invalid_tracking_url"


def test_tracking_template_values_are_url_encoded() -> None:
    template = rules.check_tracking_template(
        "https://track.example/c?aff={affiliate_id}&click={click_id}&u={user_id}&o={offer_id}")
    url = rules.fill_template(template, {"click_id": "a&b=c d", "user_id": "42",
                                         "affiliate_id": "A/1", "offer_id": ""})
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert query == {"aff": ["A/1"], "click": ["a&b=c d"], "u": ["42"], "o": [""]}
    assert "a%26b%3Dc%20d" in url
