"""The payouts providers, by name: built from the settings when asked for, so a process uses
the credentials it started with. Which provider pays a method follows its kind: Indian bank
accounts and UPI ids go to GULLAK_PAYOUT_PROVIDER_IN, bank channels to
GULLAK_PAYOUT_PROVIDER_ID, mobile recharges to GULLAK_PAYOUT_PROVIDER_RECHARGE. Tests put a provider of their own in place with `override`."""

from __future__ import annotations

import hashlib
import hmac
from contextlib import AbstractContextManager

from gullak.db.engine import Database
from gullak.kit.overrides import Overrides
from gullak.payouts import errors
from gullak.payouts.providers.base import PayoutProvider
from gullak.payouts.providers.sandbox import Sandbox
from gullak.settings import PAYOUT_CREDENTIALS, Settings, get_settings

NAMES = tuple(PAYOUT_CREDENTIALS)
_overrides: Overrides[PayoutProvider] = Overrides()


def override(provider: PayoutProvider) -> AbstractContextManager[PayoutProvider]:
    return _overrides.using(provider.name, provider)


def for_kind(kind: str, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    if kind == "mobile":
        return settings.payout_provider_recharge
    return settings.payout_provider_id if kind == "bank_channel" else settings.payout_provider_in


def in_use(settings: Settings | None = None) -> list[str]:
    settings = settings or get_settings()
    return sorted({settings.payout_provider_in, settings.payout_provider_id,
                   settings.payout_provider_recharge})


def sandbox_secret(settings: Settings) -> str:
    if settings.payout_sandbox_secret is not None:
        return settings.payout_sandbox_secret.get_secret_value()
    return hmac.new(settings.secret("secret_key").encode(), b"payouts-sandbox",
                    hashlib.sha256).hexdigest()


def get(name: str, db: Database, settings: Settings | None = None) -> PayoutProvider:
    """The provider called `name`; unknown_payout_provider for any other name, and
    payout_provider_not_configured for a real one whose credentials are not set."""
    if (found := _overrides.get(name)) is not None:
        return found
    if name not in NAMES:
        raise errors.UnknownProvider(field="provider")
    settings = settings or get_settings()
    if any(getattr(settings, n) is None for n in PAYOUT_CREDENTIALS[name]):
        raise errors.ProviderNotConfigured(f"The {name} payouts provider has no credentials here.")

    def secret(field: str) -> str:
        value = getattr(settings, field)
        assert value is not None
        return str(value.get_secret_value())

    if name == "razorpayx":
        from gullak.payouts.providers.razorpayx import RazorpayX

        return RazorpayX(secret("razorpayx_key_id"), secret("razorpayx_key_secret"),
                         secret("razorpayx_webhook_secret"), secret("razorpayx_account_number"))
    if name == "xendit":
        from gullak.payouts.providers.xendit import XenditPayouts

        return XenditPayouts(secret("xendit_secret_key"), secret("xendit_callback_token"))
    chosen = settings
    return Sandbox(db, lambda: sandbox_secret(chosen))


def sandbox(db: Database, settings: Settings | None = None) -> Sandbox:
    found = get("sandbox", db, settings)
    if not isinstance(found, Sandbox):
        raise errors.UnknownProvider("The sandbox is not in use here.", field="provider")
    return found
