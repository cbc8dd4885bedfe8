"""Commissions per category with validity windows, and the affiliate tracking link."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit.errors import GullakError
from gullak.merchants import service
from gullak.merchants.schemas import CommissionIn
from tests.helpers.merchants import Actor, new_merchant
from tests.helpers.problems import assert_problem
from tests.helpers.state import fingerprint

FOOD = uuid.UUID("01900000-0000-7000-8000-00000000f00d")
GIFTS = uuid.UUID("01900000-0000-7000-8000-0000000091f7")
JAN, FEB, MAR, APR = (dt.datetime(2027, m, 1, tzinfo=dt.UTC) for m in (1, 2, 3, 4))


def window(start: dt.datetime, end: dt.datetime | None, category: uuid.UUID | None = FOOD,
           rate: int = 500) -> dict[str, Any]:
    return {"category_id": str(category) if category else None, "rate_bps": rate,
            "valid_from": start.isoformat(), "valid_until": end.isoformat() if end else None}


async def test_windows_of_one_category_never_overlap(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        admin: Actor) -> None:
    merchant = await new_merchant(session)
    path = f"/v1/admin/merchants/{merchant.id}/commissions"
    assert (await client.post(path, json=window(JAN, MAR), headers=admin.headers)).status_code \
        == 201
    # Touching windows are fine; so are other categories and the catch-all over the same time.
    for body in (window(MAR, None, rate=700), window(JAN, APR, GIFTS), window(JAN, APR, None)):
        r = await client.post(path, json=body, headers=admin.headers)
        assert r.status_code == 201, r.text
    before = await fingerprint(connection)
    for body in (window(FEB, APR), window(dt.datetime(2026, 12, 1, tzinfo=dt.UTC), FEB),
                 window(APR, None), window(FEB, None, None)):
        assert_problem(await client.post(path, json=body, headers=admin.headers), 409,
                       "commission_overlap")
    assert_problem(await client.post(path, json=window(MAR, FEB), headers=admin.headers), 422,
                   "invalid_window", "valid_until")
    assert_problem(await client.post(path, json=window(JAN, FEB) | {"rate_bps": 10_001},
                                     headers=admin.headers), 422, "validation_error")
    assert await fingerprint(connection) == before
    listed = (await client.get(path, headers=admin.headers)).json()
    assert len(listed) == 4


async def test_the_rate_in_force(session: AsyncSession) -> None:
    merchant = await new_merchant(session, commission_bps=250)
    for body in (window(JAN, MAR, rate=500), window(MAR, None, rate=700),
                 window(FEB, APR, None, rate=400)):
        await service.add_commission(session, merchant.id, CommissionIn(**body), None)
    rate = service.commission_rate
    assert await rate(session, merchant.id, FOOD, JAN) == 500
    assert await rate(session, merchant.id, FOOD, MAR) == 700  # the window ends at MAR
    assert await rate(session, merchant.id, GIFTS, FEB) == 400  # the catch-all
    assert await rate(session, merchant.id, GIFTS, JAN) == 250  # the standing rate
    assert await rate(session, merchant.id, None, APR) == 250


async def test_tracking_url_for_a_click(session: AsyncSession) -> None:
    merchant = await new_merchant(
        session, "Urban Threads", affiliate_id="UT 1", website="https://ut.example",
        tracking_url_template="https://t.example/c?a={affiliate_id}&m={merchant_id}"
                              "&click={click_id}&u={user_id}&o={offer_id}")
    user, offer = uuid.uuid4(), uuid.uuid4()
    url = service.tracking_url(merchant, "clk/1&x", user, offer)
    assert urlsplit(url).netloc == "t.example"
    assert parse_qs(urlsplit(url).query) == {"a": ["UT 1"], "m": [str(merchant.id)],
                                            "click": ["clk/1&x"], "u": [str(user)],
                                            "o": [str(offer)]}
    plain = await new_merchant(session, "Plain", website="https://plain.example")
    assert service.tracking_url(plain, "c", None, None) == "https://plain.example"
    nothing = await new_merchant(session, "Nothing")
    with pytest.raises(GullakError) as info:
        service.tracking_url(nothing, "c", None, None)
    assert info.value.code == "no_tracking_url"
