"""The dashboard: the platform's figures from the analytics summaries for admins who may read
them (today's tiles, the range's totals, the charts), the range checked, and for everyone the
queues they work."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.analytics.models import PlatformDailySummary
from gullak.kit import clock
from gullak.settings import Settings
from tests.helpers.console import admin_browser, super_browser

CHART = re.compile(r"data-chart='([^']*)'")


def _tiles(page: str) -> dict[str, str]:
    """The first grid's stat tiles (the day's), label -> value."""
    found = re.findall(r'<div class="label">([^<]*)</div><div class="value">([^<]*)</div>',
                       page)
    tiles: dict[str, str] = {}
    for label, value in found:
        tiles.setdefault(html.unescape(label), value)
    return tiles


def _charts(page: str) -> list[dict[str, Any]]:
    return [json.loads(html.unescape(spec)) for spec in CHART.findall(page)]


async def _summaries(session: AsyncSession, **days: dict[str, int]) -> None:
    """A platform summary for each `d<n>` (n days ago) given."""
    today = clock.now().date()
    for key, values in days.items():
        session.add(PlatformDailySummary(day=today - dt.timedelta(days=int(key[1:])), **values))
    await session.flush()


async def test_the_days_figures_and_the_ranges_trends(client: httpx.AsyncClient,
                                                      session: AsyncSession,
                                                      settings: Settings) -> None:
    await _summaries(session,
                     d0={"sign_ups": 1234, "active_users": 321, "coins_issued": 5000,
                         "coins_spent": 700, "coins_expired": 30, "gmv": 1234567,
                         "cashback_pending": 4500, "cashback_confirmed": 9900,
                         "withdrawals": 3, "withdrawn": 250000, "orders": 17},
                     d3={"sign_ups": 10, "active_users": 400, "gmv": 100})
    browser = await admin_browser(client, session, settings, "analytics.read")
    r = await browser.get("/console")
    assert r.status_code == 200, r.text
    tiles = _tiles(r.text)
    assert tiles["Sign-ups"] == "1,234" and tiles["Active users"] == "321"
    assert tiles["GMV (₹)"] == "12,345.67" and tiles["Coins issued"] == "5,000"
    assert tiles["Cashback confirmed (₹)"] == "99.00" and tiles["Withdrawn (₹)"] == "2,500.00"
    assert "1,244" in r.text and "12,346.67" in r.text  # the range's sums
    assert '<script src="/console/static/chart.umd.min.js" defer></script>' in r.text
    charts = {c["datasets"][0]["label"]: c for c in _charts(r.text)}
    sign_ups = charts["Sign-ups"]
    assert len(sign_ups["labels"]) == 30
    assert sign_ups["labels"][-1] == clock.now().date().isoformat()
    assert sign_ups["datasets"][0]["data"][-1] == 1234 and sign_ups["datasets"][0]["data"][-4] == 10
    assert charts["GMV (₹)"]["datasets"][0]["data"][-1] == 12345.67
    assert "<script>" not in r.text and " style=" not in r.text.split("<body>")[1]


async def test_a_range_of_the_admins_choice(client: httpx.AsyncClient, session: AsyncSession,
                                            settings: Settings) -> None:
    await _summaries(session, d0={"sign_ups": 7}, d40={"sign_ups": 55}, d200={"sign_ups": 9})
    browser = await admin_browser(client, session, settings, "analytics.read")
    today = clock.now().date()
    day40 = (today - dt.timedelta(days=40)).isoformat()
    r = await browser.get("/console", **{"from": day40, "to": day40})
    assert r.status_code == 200, r.text
    assert _tiles(r.text)["Sign-ups"] == "55"
    r = await browser.get("/console", **{"from": (today - dt.timedelta(days=300)).isoformat(),
                                         "to": today.isoformat()})
    assert r.status_code == 200, r.text
    chart = _charts(r.text)[0]
    assert len(chart["labels"]) in (43, 44)  # by week, from Monday
    assert all(dt.date.fromisoformat(d).weekday() == 0 for d in chart["labels"][1:])
    assert sum(chart["datasets"][0]["data"]) == 7 + 55 + 9


async def test_bad_ranges_are_refused(client: httpx.AsyncClient, session: AsyncSession,
                                      settings: Settings) -> None:
    browser = await admin_browser(client, session, settings, "analytics.read")
    for query in ({"from": "yesterday"}, {"to": "2026-13-01"}, {"from": "x" * 300},
                  {"from": "2026-12-05", "to": "2026-12-01"},
                  {"from": "2024-01-01", "to": "2026-12-01"}):
        r = await browser.get("/console", **query)
        assert r.status_code == 422, (query, r.status_code)
        assert "data-chart" not in r.text


async def test_without_analytics_read_no_figures_but_the_queues(client: httpx.AsyncClient,
                                                                session: AsyncSession,
                                                                settings: Settings) -> None:
    await _summaries(session, d0={"sign_ups": 4321})
    browser = await admin_browser(client, session, settings, "kyc.review", "support.read")
    r = await browser.get("/console")
    assert r.status_code == 200, r.text
    assert "4,321" not in r.text and "data-chart" not in r.text and "chart.umd" not in r.text
    assert 'href="/console/queues/kyc"' in r.text and 'href="/console/queues/tickets"' in r.text
    assert 'href="/console/queues/withdrawals"' not in r.text
    r = await browser.get("/console", **{"from": "nonsense"})  # the range is not even read
    assert r.status_code == 200


async def test_an_admin_without_queues_is_told_so(client: httpx.AsyncClient,
                                                  session: AsyncSession,
                                                  settings: Settings) -> None:
    browser = await admin_browser(client, session, settings)
    r = await browser.get("/console")
    assert r.status_code == 200 and "no queue to work" in r.text


async def test_every_figure_on_an_empty_database(client: httpx.AsyncClient,
                                                 session: AsyncSession,
                                                 settings: Settings) -> None:
    browser = await super_browser(client, session, settings)
    r = await browser.get("/console")
    assert r.status_code == 200, r.text
    assert _tiles(r.text)["Sign-ups"] == "0" and "Not summarised yet" in r.text
