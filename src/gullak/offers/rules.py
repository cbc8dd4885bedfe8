"""Offer rules that need no database: terms that fit the type, what a cart earns, and the
offer's days and hours on a local clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from gullak.offers import errors

BPS = 10_000
# Cashback is credited in coins: one coin for every 100 minor units (one rupee) of cashback.
MINOR_PER_COIN = 100
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Priced(Protocol):
    type: str
    bogo_buy: int | None
    bogo_get: int | None
    discount_kind: str | None
    discount_value: int | None
    max_discount: int | None
    cashback_kind: str | None
    cashback_value: int | None
    max_cashback: int | None


def check_terms(t: Mapping[str, Any]) -> None:
    """Refuse terms that cannot work together; `t` holds every field of the offer."""
    if t["valid_until"] <= t["valid_from"]:
        raise errors.InvalidWindow(field="valid_until")
    for kind, value, cap in (("discount_kind", "discount_value", "max_discount"),
                             ("cashback_kind", "cashback_value", "max_cashback")):
        if (t[kind] is None) != (t[value] is None):
            raise errors.InvalidTerms(f"{kind} and {value} go together.", field=value)
        if t[kind] == "percent" and not 1 <= t[value] <= BPS:
            raise errors.PercentOutOfRange(field=value)
        # A bogo offer's free items are its discount, which max_discount may cap alone.
        capped = t[kind] is not None or (cap == "max_discount" and t["type"] == "bogo")
        if t[cap] is not None and not capped:
            raise errors.InvalidTerms(f"{cap} caps a {kind.split('_')[0]}.", field=cap)
    needs = {
        "discount_percent": ("discount_kind", "percent"),
        "discount_fixed": ("discount_kind", "fixed"),
    }
    kind_type = t["type"]
    if kind_type in needs:
        field, wanted = needs[kind_type]
        if t[field] != wanted:
            raise errors.InvalidTerms(f"A {kind_type} offer needs discount_kind {wanted} and a"
                                      f" discount_value.", field=field)
    if kind_type == "cashback" and t["cashback_kind"] is None:
        raise errors.InvalidTerms("A cashback offer needs cashback_kind and cashback_value.",
                                  field="cashback_kind")
    if kind_type == "bogo" and (t["bogo_buy"] is None or t["bogo_get"] is None):
        raise errors.InvalidTerms("A bogo offer needs bogo_buy and bogo_get.", field="bogo_buy")
    if kind_type == "freebie" and not t["freebie_item"]:
        raise errors.InvalidTerms("A freebie offer names its freebie_item.",
                                  field="freebie_item")
    if kind_type == "coupon_code" and not t["coupon_code"]:
        raise errors.InvalidTerms("A coupon_code offer needs its coupon_code.",
                                  field="coupon_code")
    for window in t["hours"] or []:
        if window["start"] == window["end"] or window["start"] == "24:00":
            raise errors.InvalidHours(field="hours")


def unique(values: Iterable[Any]) -> list[Any]:
    """Without repeats, first occurrence first."""
    return list(dict.fromkeys(values))


def benefits(offer: Priced, amount: int, item_count: int = 1,
             item_price: int | None = None) -> tuple[int, int]:
    """(discount in minor units, cashback in coins) of a cart of `amount` minor units. A bogo
    offer's discount is its free items instead: buy N get M makes M of every N + M items
    free, at `item_price` each (unknown without it: nothing off)."""
    discount = 0
    if offer.type == "bogo":
        buy, get = offer.bogo_buy or 0, offer.bogo_get or 0
        if item_price is not None and buy + get > 0:
            discount = item_count // (buy + get) * get * item_price
    elif offer.discount_kind == "percent":
        discount = amount * (offer.discount_value or 0) // BPS
    elif offer.discount_kind == "fixed":
        discount = offer.discount_value or 0
    if offer.max_discount is not None:
        discount = min(discount, offer.max_discount)
    discount = min(discount, amount)
    cashback = 0
    if offer.cashback_kind == "percent":
        cashback = (amount - discount) * (offer.cashback_value or 0) // BPS
    elif offer.cashback_kind == "fixed":
        cashback = offer.cashback_value or 0
    if offer.max_cashback is not None:
        cashback = min(cashback, offer.max_cashback)
    return discount, cashback // MINOR_PER_COIN


def local(at: dt.datetime, zone: str) -> dt.datetime:
    return at.astimezone(ZoneInfo(zone))


def weekday(at: dt.datetime) -> str:
    return WEEKDAYS[at.weekday()]


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def within_hours(windows: list[Mapping[str, str]], at: dt.datetime) -> bool:
    """Whether the local time `at` falls in one of the windows (an end before the start runs
    past midnight)."""
    minute = at.hour * 60 + at.minute
    for window in windows:
        start, end = _minutes(window["start"]), _minutes(window["end"])
        if start < end and start <= minute < end:
            return True
        if start > end and (minute >= start or minute < end):
            return True
    return False
