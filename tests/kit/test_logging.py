from __future__ import annotations

import io
import json
import logging
import re
import sys
import uuid
from typing import Any

import pytest
import structlog

from gullak.kit.logging import configure, redact


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


def test_auto_format_is_json_off_a_terminal_and_console_on_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def line(stream: io.StringIO) -> str:
        monkeypatch.setattr(sys, "stderr", stream)
        configure("info", "auto")
        structlog.get_logger("gullak.test").info("request", path="/v1/x", uid=uuid.UUID(int=1))
        return stream.getvalue().strip()

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    try:
        logged = json.loads(line(io.StringIO()))
        assert logged["event"] == "request" and logged["path"] == "/v1/x"
        assert logged["uid"] == str(uuid.UUID(int=1)) and logged["level"] == "info"
        shown = line(Terminal())
        plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)  # colours, on a terminal
        assert "request" in plain and "path=/v1/x" in plain and not plain.startswith("{")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**saved)
