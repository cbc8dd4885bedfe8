"""The gateways, by name: built from the settings when asked for, so that a process uses the
credentials it started with. Tests put a gateway of their own in place with `override`."""

from __future__ import annotations

import hashlib
import hmac
from contextlib import AbstractContextManager

from gullak.db.engine import Database
from gullak.kit.overrides import Overrides
from gullak.payments import errors
from gullak.payments.gateways.base import Gateway
from gullak.payments.gateways.razorpay import Razorpay
from gullak.payments.gateways.sandbox import Sandbox
from gullak.payments.gateways.xendit import Xendit
from gullak.settings import PAYMENT_CREDENTIALS, Settings, get_settings

NAMES = tuple(PAYMENT_CREDENTIALS)
_overrides: Overrides[Gateway] = Overrides()


def override(gateway: Gateway) -> AbstractContextManager[Gateway]:
    return _overrides.using(gateway.name, gateway)


def public_url(settings: Settings) -> str:
    return (settings.payment_public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


def sandbox_secret(settings: Settings) -> str:
    if settings.payment_sandbox_secret is not None:
        return settings.payment_sandbox_secret.get_secret_value()
    return hmac.new(settings.secret("secret_key").encode(), b"payments-sandbox",
                    hashlib.sha256).hexdigest()


def get(name: str, db: Database, settings: Settings | None = None) -> Gateway:
    """The gateway called `name`; unknown_gateway for any other name, and
    gateway_not_configured for a real one whose credentials are not set."""
    if (found := _overrides.get(name)) is not None:
        return found
    if name not in NAMES:
        raise errors.UnknownGateway(field="gateway")
    settings = settings or get_settings()
    missing = [n for n in PAYMENT_CREDENTIALS[name] if getattr(settings, n) is None]
    if missing:
        raise errors.GatewayNotConfigured(f"The {name} gateway has no credentials here.")

    def secret(field: str) -> str:
        value = getattr(settings, field)
        assert value is not None
        return str(value.get_secret_value())

    if name == "razorpay":
        return Razorpay(secret("razorpay_key_id"), secret("razorpay_key_secret"),
                        secret("razorpay_webhook_secret"),
                        checkout_base=f"{public_url(settings)}/v1/payments/razorpay")
    if name == "xendit":
        return Xendit(secret("xendit_secret_key"), secret("xendit_callback_token"))
    chosen = settings
    return Sandbox(db, lambda: sandbox_secret(chosen), public_url=public_url(settings))


def sandbox(db: Database, settings: Settings | None = None) -> Sandbox:
    found = get("sandbox", db, settings)
    if not isinstance(found, Sandbox):
        raise errors.UnknownGateway("The sandbox is not in use here.", field="gateway")
    return found
