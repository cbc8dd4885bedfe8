"""Step-up: a signed-in user confirms a code for a transaction; the token proves it once."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from gullak.identity import service
from gullak.identity.errors import InvalidToken
from gullak.identity.schemas import OtpPurpose
from gullak.settings import Settings
from tests.helpers.users import SignedIn, last_code


async def test_step_up_for_a_transaction(client: httpx.AsyncClient, connection: AsyncConnection,
                                         alice: SignedIn, bob: SignedIn,
                                         settings: Settings) -> None:
    r = await client.post("/v1/auth/otp", json={"phone": alice.phone, "purpose": "transaction"})
    assert r.status_code == 202
    code = await last_code(connection, alice.phone)
    # Bob cannot use a code sent to Alice: it is checked against his own phone.
    r = await client.post("/v1/me/otp/verify", headers=bob.headers,
                          json={"purpose": "transaction", "code": code})
    assert r.status_code == 401 and r.json()["code"] == "otp_invalid"
    r = await client.post("/v1/me/otp/verify", headers=alice.headers,
                          json={"purpose": "transaction", "code": code})
    assert r.status_code == 200, r.text
    token = r.json()["verification_token"]
    user_id = alice.user["id"]
    service.check_step_up(settings, uuid.UUID(user_id), OtpPurpose.transaction, token)
    with pytest.raises(InvalidToken):
        service.check_step_up(settings, uuid.UUID(user_id), OtpPurpose.kyc, token)
    with pytest.raises(InvalidToken):
        service.check_step_up(settings, uuid.UUID(bob.user["id"]), OtpPurpose.transaction, token)
    # A step-up token is not an access token.
    r = await client.get("/v1/me", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 401
    # The code is spent.
    r = await client.post("/v1/me/otp/verify", headers=alice.headers,
                          json={"purpose": "transaction", "code": code})
    assert r.status_code == 401
