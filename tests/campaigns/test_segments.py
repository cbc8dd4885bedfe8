"""Segments: each filter, and filters together, keep exactly the users a hand-built fixture
says they should; a user who may not be reached (blocked) is never in a segment; bad filters
are 422s with stable codes and change nothing."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.campaigns import errors, service
from gullak.campaigns.models import Segment
from gullak.campaigns.schemas import PreviewIn, SegmentPatch
from gullak.kit import clock
from gullak.ledger import service as ledger
from gullak.settings import Settings
from tests.campaigns.support import (
    add_order,
    make_segment,
    make_template,
    make_tiers,
    make_user,
    sending_campaign,
    set_tier,
)
from tests.helpers.admins import admin_with
from tests.helpers.ledger import make_book

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


async def fixture(session: AsyncSession) -> dict[str, uuid.UUID]:
    """Four users; the comment on each filter test says who matches and why."""
    clock.freeze(NOW)
    day = dt.timedelta(days=1)
    await make_tiers(session)
    book = await make_book(session)
    u = {
        "asha": await make_user(session, city="Pune", last_login=NOW - 2 * day,
                                platform="android", app_version="3.2.0"),
        "bala": await make_user(session, city="pune", last_login=NOW - 40 * day,
                                platform="ios", app_version="2.9.9"),
        "chen": await make_user(session, city="Mumbai", platform="web",
                                app_version="10.0"),
        "dev": await make_user(session, city="Pune", last_login=NOW - day, platform="android",
                               app_version="3.5", status="blocked"),
    }
    await set_tier(session, u["asha"], "gold")
    await set_tier(session, u["chen"], "silver")
    await set_tier(session, u["dev"], "gold")
    for name, coins in (("asha", 500), ("bala", 50), ("dev", 500)):
        await book.fund(await ledger.user_account(session, u[name], "COIN"), coins)
    for _ in range(3):
        await add_order(session, u["asha"], at=NOW - 3 * day)
    await add_order(session, u["bala"], at=NOW - 5 * day)
    await add_order(session, u["bala"], at=NOW - 60 * day)
    await add_order(session, u["bala"], at=NOW - 61 * day)
    await add_order(session, u["chen"], at=NOW - 2 * day)
    await add_order(session, u["chen"], at=NOW - 2 * day, status="cancelled")
    await add_order(session, u["dev"], at=NOW - 2 * day)
    return u


async def ours(session: AsyncSession, users: dict[str, uuid.UUID],
               filters: list[dict[str, Any]]) -> set[str]:
    parsed = PreviewIn.model_validate({"filters": filters}).filters
    found = set(await session.scalars(service.members(parsed)))
    return {name for name, user_id in users.items() if user_id in found}


CASES: list[tuple[list[dict[str, Any]], set[str]]] = [
    ([], {"asha", "bala", "chen"}),  # everyone reachable: dev is blocked
    ([{"type": "city", "city": "PUNE"}], {"asha", "bala"}),  # any case
    ([{"type": "city", "city": "Delhi"}], set()),
    ([{"type": "tier", "tiers": ["gold"]}], {"asha"}),
    ([{"type": "tier", "tiers": ["bronze"]}], {"bala"}),  # never ranked: the lowest tier
    ([{"type": "tier", "tiers": ["bronze", "silver"]}], {"bala", "chen"}),
    ([{"type": "last_active", "within_days": 7}], {"asha"}),
    ([{"type": "last_active", "within_days": 60}], {"asha", "bala"}),
    ([{"type": "inactive", "days": 30}], {"bala", "chen"}),  # chen never signed in
    ([{"type": "balance", "asset_code": "COIN", "min": 100}], {"asha"}),
    ([{"type": "balance", "asset_code": "COIN", "min": 50, "max": 50}], {"bala"}),
    ([{"type": "balance", "asset_code": "COIN", "max": 499}], {"bala"}),  # chen has no account
    ([{"type": "orders", "min_count": 3, "within_days": 10}], {"asha"}),
    ([{"type": "orders", "min_count": 1, "within_days": 10}], {"asha", "bala", "chen"}),
    ([{"type": "orders", "min_count": 2, "within_days": 10}], {"asha"}),  # cancelled: no
    ([{"type": "orders", "min_count": 3, "within_days": 90}], {"asha", "bala"}),
    ([{"type": "app_version", "min": "3.0"}], {"asha", "chen"}),  # 10.0 > 3.0 as numbers
    ([{"type": "app_version", "max": "3.0"}], {"bala"}),
    ([{"type": "app_version", "min": "2.9.9", "max": "3.2.0"}], {"asha", "bala"}),
    ([{"type": "platform", "platforms": ["android"]}], {"asha"}),
    ([{"type": "platform", "platforms": ["ios", "web"]}], {"bala", "chen"}),
    # Together: AND.
    ([{"type": "city", "city": "pune"}, {"type": "tier", "tiers": ["gold"]}], {"asha"}),
    ([{"type": "city", "city": "pune"}, {"type": "inactive", "days": 30},
      {"type": "balance", "asset_code": "COIN", "min": 1}], {"bala"}),
    ([{"type": "platform", "platforms": ["android"]}, {"type": "orders", "min_count": 4,
                                                        "within_days": 10}], set()),
]


async def test_each_filter_keeps_exactly_the_matching_users(session: AsyncSession) -> None:
    users = await fixture(session)
    for filters, expected in CASES:
        assert await ours(session, users, filters) == expected, filters


async def test_counts_agree_with_members(session: AsyncSession) -> None:
    users = await fixture(session)
    for filters, expected in CASES:
        parsed = PreviewIn.model_validate({"filters": filters}).filters
        everyone = set(await session.scalars(service.members(parsed)))
        assert await service.count(session, parsed) == len(everyone)
        assert {n for n, u in users.items() if u in everyone} == expected


async def test_preview_and_saved_count_over_http(client: httpx.AsyncClient,
                                                 session: AsyncSession,
                                                 settings: Settings) -> None:
    reader = await admin_with(client, session, settings, "campaigns.read", "campaigns.manage")
    filters = [{"type": "city", "city": "Pune"}, {"type": "tier", "tiers": ["gold"]}]
    r = await client.post("/v1/admin/segments/preview", headers=reader.headers,
                          json={"filters": filters})
    assert r.status_code == 200, r.text
    before = r.json()["count"]
    await fixture(session)
    r = await client.post("/v1/admin/segments/preview", headers=reader.headers,
                          json={"filters": filters})
    assert r.json()["count"] == before + 1  # asha; dev is gold in Pune but blocked
    r = await client.post("/v1/admin/segments", headers=reader.headers,
                          json={"name": "Pune gold", "filters": filters})
    assert r.status_code == 201, r.text
    saved = r.json()
    assert saved["filters"] == filters
    r = await client.get(f"/v1/admin/segments/{saved['id']}/count", headers=reader.headers)
    assert r.status_code == 200 and r.json()["count"] == before + 1
    r = await client.get("/v1/admin/segments", headers=reader.headers)
    assert r.json()["items"][0]["id"] == saved["id"]


BAD: list[tuple[Any, str]] = [
    ([{"type": "zodiac", "sign": "leo"}], "union_tag_invalid"),
    ([{"city": "Pune"}], "union_tag_not_found"),
    ([{"type": "city", "city": "Pu\x00ne"}], "invalid_character"),
    ([{"type": "city", "city": "\ud800"}], "invalid_character"),
    ([{"type": "balance", "asset_code": "COIN"}], "balance_band_empty"),
    ([{"type": "balance", "asset_code": "COIN", "min": 10, "max": 5}], "balance_band_inverted"),
    ([{"type": "balance", "asset_code": "COIN", "min": 2**70}], "less_than_equal"),
    ([{"type": "balance", "asset_code": "COIN", "min": "10"}], "int_type"),
    ([{"type": "orders", "min_count": 0, "within_days": 3}], "greater_than_equal"),
    ([{"type": "app_version", "min": "3.x"}], "string_pattern_mismatch"),
    ([{"type": "app_version", "min": "4.0", "max": "3.9.9"}], "version_range_inverted"),
    ([{"type": "platform", "platforms": ["symbian"]}], "literal_error"),
    ([{"type": "city", "city": "Pune", "extra": 1}], "extra_forbidden"),
    ("city", "list_type"),
]


@pytest.mark.parametrize(("filters", "code"), BAD)
async def test_bad_filters_are_refused_with_a_stable_code(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings, filters: Any,
        code: str) -> None:
    admin = await admin_with(client, session, settings, "campaigns.read", "campaigns.manage")
    before = await session.scalar(select(func.count()).select_from(Segment))
    for path, body in (("/v1/admin/segments/preview", {"filters": filters}),
                       ("/v1/admin/segments", {"name": "bad", "filters": filters})):
        # Escaped JSON: a lone surrogate travels as the text \ud800, as a client sends it.
        r = await client.post(path, content=json.dumps(body),
                              headers={**admin.headers, "content-type": "application/json"})
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["code"] == "validation_error"
        assert code in {e["code"] for e in problem["errors"]}, problem
    assert await session.scalar(select(func.count()).select_from(Segment)) == before


async def test_a_segment_cannot_change_under_a_live_campaign(session: AsyncSession) -> None:
    segment = await make_segment(session, [{"type": "city", "city": "Pune"}])
    await sending_campaign(session, segment, await make_template(session))
    with pytest.raises(errors.SegmentInUse):
        await service.update_segment(session, segment, SegmentPatch.model_validate(
            {"filters": []}))
    _, after = await service.update_segment(session, segment, SegmentPatch(name="Renamed"))
    assert after.name == "Renamed" and after.filters == [{"type": "city", "city": "Pune"}]
