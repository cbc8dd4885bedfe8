from __future__ import annotations

import httpx

from tests.helpers.users import SignedIn


async def test_sign_in_and_me(client: httpx.AsyncClient, alice: SignedIn) -> None:
    r = await client.get("/v1/me", headers=alice.headers)
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == alice.phone
    r = await client.post("/v1/auth/refresh", json={"refresh_token": alice.refresh})
    assert r.status_code == 200, r.text
    r2 = await client.post("/v1/auth/refresh", json={"refresh_token": alice.refresh})
    assert r2.status_code == 401 and r2.json()["code"] == "refresh_token_reused"
    r3 = await client.get("/v1/me", headers={"authorization": f"Bearer {r.json()['access_token']}"})
    assert r3.status_code == 401
