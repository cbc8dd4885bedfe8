"""The demo data loads, its merchants are live and searchable, its owner can sign in."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.search import SearchQuery
from gullak.merchants import seed, service


async def test_demo_merchants(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await seed.load(session)
    hits = await service.search(session, SearchQuery(city="Mumbai", limit=50))
    assert {"Bombay Brew House", "Urban Threads"} <= {h.title for h in hits}
    near = await service.nearby(session, 12.9352, 77.6245, 3000, 10, SearchQuery())
    assert near and near[0].title == "Koramangala Kitchen, Koramangala 5th Block"
    r = await client.post("/v1/merchant/auth/login", json={
        "email": seed.DEMO_OWNER_EMAIL, "password": seed.DEMO_OWNER_PASSWORD})
    assert r.status_code == 200, r.text
    r = await client.get("/v1/merchant/outlets",
                         headers={"authorization": f"Bearer {r.json()['access_token']}"})
    assert {o["name"] for o in r.json()} == {"Bandra West", "Lower Parel"}
    assert (await client.get("/v1/pages/about")).status_code == 200
