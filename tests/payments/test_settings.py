"""Payment settings: a real gateway refuses to start without its credentials, and the
credentials never reach a log line or an error body."""

from __future__ import annotations

import uuid

import httpx
import pytest
import structlog
from pydantic import SecretStr

from gullak.db.engine import Database
from gullak.kit import logging as gullak_logging
from gullak.payments import gateways
from gullak.payments.gateways.razorpay import Razorpay
from gullak.settings import ConfigError, Settings, check_startup, secret_values
from tests.helpers.http import http_client
from tests.payments.support import as_user, payments_app

SECRET = "rzp-live-secret-never-logged-42"


@pytest.mark.parametrize(("gateway", "given", "missing"), [
    ("razorpay", {}, ("GULLAK_RAZORPAY_KEY_ID, GULLAK_RAZORPAY_KEY_SECRET,"
                      " GULLAK_RAZORPAY_WEBHOOK_SECRET")),
    ("razorpay", {"razorpay_key_id": "k", "razorpay_key_secret": "s"},
     "GULLAK_RAZORPAY_WEBHOOK_SECRET"),
    ("xendit", {"xendit_secret_key": "x"}, "GULLAK_XENDIT_CALLBACK_TOKEN"),
])
def test_a_real_gateway_needs_its_credentials(tmp_path, gateway: str,  # type: ignore[no-untyped-def]
                                              given: dict[str, str], missing: str) -> None:
    settings = Settings(env="test", data_dir=tmp_path, payment_gateway=gateway, **given)
    with pytest.raises(ConfigError) as caught:
        check_startup(settings)
    assert str(caught.value).endswith(f"needs {missing}")


def test_the_sandbox_needs_nothing_and_credentials_are_masked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    check_startup(Settings(env="test", data_dir=tmp_path))
    settings = Settings(env="test", data_dir=tmp_path, payment_gateway="razorpay",
                        razorpay_key_id="rzp_live_id_000111", razorpay_key_secret=SECRET,
                        razorpay_webhook_secret="whsec-razor-never-logged")
    check_startup(settings)
    assert SECRET in secret_values(settings)
    assert SECRET not in repr(settings)
    assert SECRET not in gullak_logging.scrub(f"calling with {SECRET}")


async def test_gateway_errors_carry_no_credentials(
        settings: Settings, fresh_db: Database) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        # What a provider might echo back: our own credentials.
        return httpx.Response(401, json={"error": {"description": "bad key"}},
                              headers={"www-authenticate": request.headers["authorization"]})

    razor = Razorpay("rzp_live_id_000111", SECRET, "whsec", checkout_base="http://test",
                     transport=httpx.MockTransport(refuse))
    user = uuid.uuid4()
    # The app's own settings choose the gateway: the process's environment is not read.
    chosen = settings.model_copy(update={
        "payment_gateway": "razorpay", "razorpay_key_id": SecretStr("rzp_live_id_000111"),
        "razorpay_key_secret": SecretStr(SECRET), "razorpay_webhook_secret": SecretStr("w")})
    app = payments_app(chosen, fresh_db)
    with structlog.testing.capture_logs() as logs, gateways.override(razor):
        async with http_client(app) as client:
            r = await client.post("/v1/me/topups", json={"amount": 5_000},
                                  headers=as_user(user))
    assert r.status_code == 502 and r.json()["code"] == "gateway_error"
    assert "bad key" in r.json()["detail"]
    assert SECRET not in r.text and "rzp_live_id_000111" not in r.text
    assert logs and all(SECRET not in str(line) for line in logs)
