from __future__ import annotations

from typing import Any

from gullak.kit.logging import redact


def test_secrets_and_pii_are_masked() -> None:
    event: dict[str, Any] = {
        "event": "login", "password": "hunter2", "otp": "123456", "refresh_token": "r",
        "pan": "ABCDE1234F", "account_number": "0001", "api_key": "k", "user_id": "u1",
        "amount": 100,
    }
    out = redact(None, "info", event)
    for key in ("password", "otp", "refresh_token", "pan", "account_number", "api_key"):
        assert out[key] == "***"
    assert out["user_id"] == "u1" and out["amount"] == 100 and out["event"] == "login"
