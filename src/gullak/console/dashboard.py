"""The dashboard: today and trends from the platform's daily summaries (for admins with
analytics.read; the summaries are the analytics domain's, so the page costs one indexed range
read however busy the platform is), and the queues this admin works, with their open items."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.analytics import service as analytics
from gullak.console.tables import param
from gullak.console.web import AdminPage, ConsoleRoute, Page, templates
from gullak.kit import clock
from gullak.kit.errors import InvalidInput

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

DEFAULT_DAYS = 30
WEEKLY_AFTER = 92  # a longer range is charted by week: a point a day would be unreadable
money = templates.filters["money"]

# (summary column, label, scale: None for a count, else money in minor units of that scale)
FIGURES: tuple[tuple[str, str, int | None], ...] = (
    ("sign_ups", "Sign-ups", None), ("active_users", "Active users", None),
    ("coins_issued", "Coins issued", 0), ("coins_spent", "Coins spent", 0),
    ("coins_expired", "Coins expired", 0), ("orders", "Orders", None),
    ("gmv", "GMV (₹)", 2), ("cashback_pending", "Cashback pending (₹)", 2),
    ("cashback_confirmed", "Cashback confirmed (₹)", 2),
    ("withdrawals", "Withdrawals paid", None), ("withdrawn", "Withdrawn (₹)", 2),
)
SCALES = {name: scale for name, _, scale in FIGURES}
LABELS = {name: label for name, label, _ in FIGURES}
# (title, chart type, the columns drawn)
CHARTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Sign-ups and active users", "line", ("sign_ups", "active_users")),
    ("Coins", "bar", ("coins_issued", "coins_spent", "coins_expired")),
    ("GMV (₹)", "line", ("gmv",)),
    ("Cashback (₹)", "bar", ("cashback_pending", "cashback_confirmed")),
    ("Withdrawn (₹)", "bar", ("withdrawn",)),
)


def _day(page: Page, name: str) -> dt.date | None:
    value = param(page, name, max_length=10)
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} is a day, as YYYY-MM-DD.", code="invalid_date",
                           field=name) from None


def _range(page: Page) -> tuple[dt.date, dt.date]:
    """`?from=&to=` (either may be left out): the last 30 days up to today by default."""
    first, last = _day(page, "from"), _day(page, "to")
    # The span stops at the first and last days a date holds (a `to` in the year 1).
    span = dt.timedelta(days=DEFAULT_DAYS - 1)
    last = last or (clock.now().date() if first is None else
                    min(clock.now().date(), first + min(span, dt.date.max - first)))
    first = first or last - min(span, last - dt.date.min)
    if last < first:
        raise InvalidInput("The range ends before it starts.", code="invalid_date_range",
                           field="to")
    return first, last


def _shown(name: str, value: int) -> str:
    scale = SCALES.get(name)
    return f"{value:,}" if scale is None else money(value, scale)


def _plotted(name: str, value: int) -> float:
    scale = SCALES.get(name)
    return value / 10 ** scale if scale else value


def _combine(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Days summed into one period; its active users are its busiest day's."""
    total = {name: 0 for name in SCALES}
    for row in rows:
        for name in SCALES:
            value = int(row.get(name) or 0)
            total[name] = max(total[name], value) if name == "active_users" \
                else total[name] + value
    return total


def _periods(by_day: dict[dt.date, dict[str, Any]], first: dt.date,
             last: dt.date) -> list[tuple[dt.date, dict[str, int]]]:
    """Every day (or week, from Monday, for a long range) of the range, oldest first, the
    days without a summary as zeros."""
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    weekly = len(days) > WEEKLY_AFTER
    grouped: dict[dt.date, list[dict[str, Any]]] = {}
    for day in days:
        start = day - dt.timedelta(days=day.weekday()) if weekly else day
        grouped.setdefault(start, []).append(by_day.get(day, {}))
    return [(start, _combine(rows)) for start, rows in grouped.items()]


def _charts(periods: list[tuple[dt.date, dict[str, int]]]) -> list[tuple[str, dict[str, Any]]]:
    labels = [start.isoformat() for start, _ in periods]
    return [(title, {"type": kind, "labels": labels, "datasets": [
        {"label": LABELS[name], "data": [_plotted(name, totals[name]) for _, totals in periods]}
        for name in names]}) for title, kind, names in CHARTS]


async def _figures(page: Page) -> dict[str, Any]:
    first, last = _range(page)
    daily = await analytics.periods(page.session, "platform", first, last, "day")
    by_day = {row["period"]: row for row in daily}
    periods = _periods(by_day, first, last)
    today, total = _combine([by_day.get(last, {})]), _combine(daily)
    return {
        "first": first, "last": last, "is_today": last == clock.now().date(),
        "weekly": len(periods) < (last - first).days + 1,
        "computed_at": await analytics.computed_at(page.session, last),
        "today": [(label, _shown(name, today[name])) for name, label, _ in FIGURES],
        "total": [(label, _shown(name, total[name])) for name, label, _ in FIGURES],
        "charts": _charts(periods),
    }


@router.get("")
async def dashboard(page: AdminPage) -> Response:
    """Any signed-in admin: the figures need analytics.read, the queues their own
    permissions (menu.visible)."""
    figures = await _figures(page) if page.can("analytics.read") else None
    return await page.render("dashboard/index.html", title="Dashboard", figures=figures)
