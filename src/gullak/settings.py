"""Settings from the environment (prefix GULLAK_) and an optional .env file."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gullak.kit import logging as gullak_logging

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A list setting is given comma-separated (`10.0.0.0/8,10.1.2.3`) or as a JSON list.
ListSetting = Annotated[list[str], NoDecode]
# Environment variables whose values are masked in logs even when another domain's settings
# read them (bank verification's provider credentials, for one).
_SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "KEY")

# Secrets that every deployment needs. In development a missing one is generated once and
# kept in the data folder, so tokens survive restarts; in production it must be given.
SECRET_NAMES = ("secret_key", "encryption_key")


class ConfigError(RuntimeError):
    """The configuration cannot start Gullak; the message says what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GULLAK_", env_file=".env", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset starts the embedded server"
    )
    test_database_url: str | None = Field(
        default=None, description="PostgreSQL server the tests create their databases on"
    )
    database_replica_url: str | None = Field(
        default=None, description="a streaming replica that read-only endpoints read from"
    )
    data_dir: Path = Field(default=Path(".gullak"), description="embedded server and secrets")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # auto: console lines on a terminal, JSON where logs are collected (a file, a pipe, a
    # container), which also costs a request about a seventh of what console lines do.
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    secret_key: SecretStr | None = None
    encryption_key: SecretStr | None = None
    redis_url: str | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    # The database URL is a PgBouncer in transaction pooling mode: no prepared statements.
    database_pgbouncer: bool = False
    worker_concurrency: int = Field(default=4, ge=1)
    # API processes of `gullak serve` and `gullak run`; unset means one per core. With several,
    # db_pool_size and db_max_overflow are shared out between them.
    web_workers: int | None = Field(default=None, ge=1, le=256)
    # How long an API process may reuse a verified API key, an open session or an admin's
    # permissions; a change drops them at once in every process (kit/notify.py). 0: no cache.
    auth_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    # The hottest routes answered without FastAPI's routing and dependency solving
    # (kit/express.py); off, every request goes the ordinary way.
    express_lane: bool = True
    # A direct PostgreSQL URL for the cache's LISTEN connection, when GULLAK_DATABASE_URL goes
    # through a transaction-pooling PgBouncer (which cannot keep a LISTEN); unset: the same.
    database_listen_url: str | None = None
    seed_demo: bool = Field(default=True, description="load demo data on the first `gullak run`")
    # Sign-in codes one client address may ask for in an hour (all of localhost is one client).
    otp_per_ip_per_hour: int = Field(default=20, ge=1, le=1_000_000)
    # Sign-in codes one phone may be sent in a UTC day, whatever the client: each is an SMS
    # paid for, and a phone asked for again and again is a pumping attack or a stuck app.
    otp_per_phone_per_day: int = Field(default=30, ge=1, le=1_000_000)
    access_token_minutes: int = Field(default=15, ge=1, le=1440)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    # The console (/console, /merchant): a browser idle this long is signed out; a session
    # ends after console_session_hours however busy.
    console_idle_minutes: int = Field(default=30, ge=1, le=1440)
    console_session_hours: int = Field(default=12, ge=1, le=168)
    # Text messages: "sandbox" keeps them in the sms_outbox table (nothing leaves the machine);
    # "twilio" sends them through Twilio's REST API.
    sms_provider: Literal["sandbox", "twilio"] = "sandbox"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    # Social sign-in: the client ids (audiences) our apps use with each provider.
    google_client_ids: list[str] = Field(default_factory=list)
    apple_client_ids: list[str] = Field(default_factory=list)
    facebook_app_id: str | None = None
    facebook_app_secret: SecretStr | None = None
    # Addresses (or CIDR networks) of the reverse proxies in front of us. Only a request whose
    # socket peer is one of them has its X-Forwarded-For read; by default none is trusted.
    trusted_proxies: ListSetting = Field(default_factory=list)
    # Browser origins allowed to call the API (CORS); none by default.
    cors_origins: ListSetting = Field(default_factory=list)
    # Served over HTTPS (by us or a TLS proxy): browsers are told to keep to HTTPS (HSTS).
    https: bool = False
    # /metrics answers clients in these networks, or any client with this bearer token.
    metrics_networks: ListSetting = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    metrics_token: SecretStr | None = None
    # /docs, /redoc and /openapi.json; unset means on except in production.
    api_docs: bool | None = None
    # Orders. Tax in basis points on what is paid for the goods (after the discount): per
    # merchant category id where one is named, else the flat rate (the merchants domain has
    # categories but no tax rates of its own).
    orders_tax_bps: int = Field(default=500, ge=0, le=10_000)
    orders_tax_bps_by_category: dict[str, int] = Field(default_factory=dict)
    # Delivery fee in paise for orders delivered (pickup is free), waived from a subtotal.
    orders_delivery_fee: int = Field(default=4_000, ge=0)
    orders_free_delivery_from: int | None = Field(default=50_000, ge=0)
    # Coins (not wallet cash) pay at most this share of an order, in basis points.
    orders_coin_cap_bps: int = Field(default=2_000, ge=0, le=10_000)
    # Paise per minor unit of a coin, where not 10^(2 - scale) (one coin, one rupee).
    orders_coin_rates: dict[str, int] = Field(default_factory=dict)
    # An order not paid in time is cancelled, its holds and stock released.
    orders_unpaid_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    # A reward-shop order holds its coins until delivery, for at most this long.
    orders_reward_hold_days: int = Field(default=30, ge=1, le=365)
    # Payments: "sandbox" takes payments with no account anywhere (nothing is charged);
    # "razorpay" and "xendit" call the provider with the credentials below.
    payment_gateway: Literal["sandbox", "razorpay", "xendit"] = "sandbox"
    # Where browsers reach this API: the sandbox's checkout page and Razorpay's checkout page
    # are under it. Unset: http://{host}:{port}.
    payment_public_url: str | None = None
    # Signs the sandbox's own webhooks; unset: derived from secret_key.
    payment_sandbox_secret: SecretStr | None = None
    razorpay_key_id: SecretStr | None = None
    razorpay_key_secret: SecretStr | None = None
    razorpay_webhook_secret: SecretStr | None = None
    xendit_secret_key: SecretStr | None = None
    xendit_callback_token: SecretStr | None = None
    # Top-ups of the INR wallet, in paise: ₹10 to ₹1,00,000 by default.
    topup_min_amount: int = Field(default=1_000, ge=1)
    topup_max_amount: int = Field(default=10_000_000, ge=1)
    # A payment still waiting on the provider this long is asked about by the reconciliation.
    payment_pending_minutes: int = Field(default=30, ge=1, le=10_080)
    # Payouts: "sandbox" pays no one (its books are the table payout_sandbox); "razorpayx"
    # pays Indian bank accounts and UPI ids, "xendit" Indonesian bank channels, with the
    # credentials below (Xendit's are the payments' own).
    payout_provider_in: Literal["sandbox", "razorpayx"] = "sandbox"
    payout_provider_id: Literal["sandbox", "xendit"] = "sandbox"
    # Mobile recharges: only the sandbox so far (an aggregator's adapter plugs in here).
    payout_provider_recharge: Literal["sandbox"] = "sandbox"
    razorpayx_key_id: SecretStr | None = None
    razorpayx_key_secret: SecretStr | None = None
    razorpayx_webhook_secret: SecretStr | None = None
    razorpayx_account_number: SecretStr | None = None  # the business account paid from
    # Signs the payouts sandbox's own callbacks; unset: derived from secret_key.
    payout_sandbox_secret: SecretStr | None = None
    # The assets a user may withdraw (cash only: coins never leave as money).
    payout_assets: list[str] = Field(default_factory=lambda: ["INR"])
    # Withdrawal limits in the asset's minor units: ₹100 at least, ₹25,000 a day and
    # ₹1,00,000 a month by default (what is held or paid counts; rejected and failed do not).
    payout_min_amount: int = Field(default=10_000, ge=1)
    payout_daily_max: int = Field(default=2_500_000, ge=1)
    payout_monthly_max: int = Field(default=10_000_000, ge=1)
    # The fee: a flat part plus basis points of the amount, kept by the platform.
    payout_fee_flat: int = Field(default=0, ge=0)
    payout_fee_bps: int = Field(default=0, ge=0, le=10_000)
    # Tax withheld (TDS), in basis points of the amount, on withdrawals above a threshold.
    payout_tax_bps: int = Field(default=0, ge=0, le=10_000)
    payout_tax_above: int = Field(default=0, ge=0)
    # Above this a withdrawal needs a verified KYC with a PAN (₹10,000 by default).
    payout_kyc_above: int = Field(default=1_000_000, ge=0)
    # Trusted users' withdrawals up to this are approved without a person (₹1,000); trusted:
    # verified KYC and this many earlier withdrawals paid without a bounce.
    payout_auto_approve_max: int = Field(default=100_000, ge=0)
    payout_trusted_after: int = Field(default=1, ge=0, le=1_000)
    # Above this a withdrawal needs two approvals from two different admins (₹50,000).
    payout_two_approvals_above: int = Field(default=5_000_000, ge=0)
    # A payout method added or changed receives nothing for this long (account takeover).
    payout_cooling_off_hours: int = Field(default=24, ge=0, le=24 * 90)
    # How alike, 0 to 100, the bank's name for an account and the KYC name must be.
    payout_name_match: int = Field(default=80, ge=0, le=100)
    # A disbursement still waiting on its provider this long is asked about.
    payout_pending_minutes: int = Field(default=30, ge=1, le=10_080)
    # Gift cards: wrong PINs in a row that lock a card, for how long; balance checks one client
    # address may make in an hour, and claims one user may try in an hour.
    giftcards_pin_attempts: int = Field(default=5, ge=1, le=100)
    giftcards_lock_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    giftcards_checks_per_hour: int = Field(default=30, ge=1, le=1_000_000)
    giftcards_claims_per_hour: int = Field(default=20, ge=1, le=1_000_000)
    # Partners' outbound webhooks: attempts per event before it is failed, the first retry's
    # delay (doubling after each failure, with jitter, up to the cap), each call's timeout, and
    # whether webhook URLs may be http and reach private or loopback addresses (development
    # and tests only: it opens the worker to calls into our own network).
    partners_webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    partners_webhook_backoff_seconds: float = Field(default=30.0, ge=0, le=86_400)
    partners_webhook_backoff_cap_seconds: float = Field(default=21_600.0, ge=0, le=604_800)
    partners_webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    partners_webhook_allow_private: bool = False
    # A rotated signing secret keeps signing (a second v1 in the signature) for this long.
    partners_secret_grace_hours: int = Field(default=24, ge=0, le=720)
    # Missed days a month that do not break a streak (an achievement's consecutive days).
    streak_freezes_per_month: int = Field(default=1, ge=0, le=31)
    # Notifications. Marketing messages one user gets at most per day and per week; the time
    # zone of users who chose none; how long a worker owns a delivery it is sending (after
    # that it is sent again, with the same idempotency key), attempts before a delivery is
    # failed and the first retry's delay (doubling). Push and email: "sandbox" keeps what
    # would be sent in a table (`gullak push outbox`, `gullak email outbox`); "live" sends
    # through FCM HTTP v1 (Android, web) and APNs (iOS), "smtp" through the SMTP server.
    notifications_marketing_per_day: int = Field(default=2, ge=0, le=1_000)
    notifications_marketing_per_week: int = Field(default=6, ge=0, le=10_000)
    notifications_time_zone: str = "Asia/Kolkata"
    notifications_lease_seconds: int = Field(default=120, ge=5, le=3_600)
    notifications_max_attempts: int = Field(default=6, ge=1, le=50)
    notifications_backoff_seconds: int = Field(default=30, ge=1, le=86_400)
    push_provider: Literal["sandbox", "live"] = "sandbox"
    fcm_project_id: str | None = None
    fcm_service_account_json: SecretStr | None = None  # the service account's JSON key
    apns_team_id: str | None = None
    apns_key_id: str | None = None
    apns_private_key: SecretStr | None = None  # the .p8 key's PEM text
    apns_topic: str | None = None  # the app's bundle id
    apns_development: bool = False  # api.sandbox.push.apple.com instead of api.push.apple.com
    email_provider: Literal["sandbox", "smtp"] = "sandbox"
    email_from: str = "Gullak <no-reply@gullak.local>"
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65_535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    # Activity (steps). Coins (of the asset below) per 1,000 verified steps, at most this many
    # coins a day before the tier multiplier; the daily goal; months of step records kept; how
    # many days back a resync may change; anti-cheat: a day scoring at least `partial_score`
    # is credited `partial_share_bp` of its steps, at least `review_score` waits for a review;
    # the human limits each check holds a day to.
    activity_asset: str = "FITCOIN"
    activity_coins_per_1000_steps: int = Field(default=10, ge=0, le=1_000_000)
    activity_daily_coin_cap: int = Field(default=100, ge=0)
    activity_goal_steps: int = Field(default=10_000, ge=1, le=1_000_000)
    activity_retention_months: int = Field(default=24, ge=2, le=240)
    activity_resync_days: int = Field(default=7, ge=1, le=28)
    activity_partial_score: int = Field(default=30, ge=1, le=1_000)
    activity_review_score: int = Field(default=70, ge=1, le=1_000)
    activity_partial_share_bp: int = Field(default=5_000, ge=0, le=10_000)
    activity_daily_step_cap: int = Field(default=60_000, ge=1)
    activity_max_cadence: int = Field(default=220, ge=1)  # steps a minute
    activity_max_speed_mps: float = Field(default=7.0, gt=0)
    activity_manual_max_steps: int = Field(default=5_000, ge=0)
    activity_device_max_users: int = Field(default=3, ge=1)
    activity_tz_jump_hours: int = Field(default=4, ge=1, le=26)
    activity_early_bird_steps: int = Field(default=1_000, ge=1)
    # Support tickets. SLA minutes per priority (low, normal, high, urgent) to the first agent
    # answer and to resolution; days after resolution a user may still reopen; attachments:
    # "local" keeps them in the folder below (data_dir/support when unset), at most this many
    # bytes each (sent as base64 in JSON, so within max_body_bytes at 4/3 the size), of these
    # content types, this many a ticket.
    support_first_response_minutes: dict[str, Annotated[int, Field(ge=1, le=525_600)]] = Field(
        default_factory=lambda: {"low": 2_880, "normal": 1_440, "high": 240, "urgent": 60})
    support_resolution_minutes: dict[str, Annotated[int, Field(ge=1, le=525_600)]] = Field(
        default_factory=lambda: {"low": 14_400, "normal": 4_320, "high": 1_440, "urgent": 480})
    support_reopen_days: int = Field(default=7, ge=0, le=365)
    support_storage: Literal["local"] = "local"
    support_storage_dir: Path | None = None
    support_attachment_max_bytes: int = Field(default=512 * 1024, ge=1, le=100 * 1024 * 1024)
    support_attachment_types: list[str] = Field(default_factory=lambda: [
        "image/png", "image/jpeg", "image/webp", "application/pdf", "text/plain"])
    support_attachments_per_ticket: int = Field(default=20, ge=1, le=1_000)
    # Risk. A finding scores 0 to 100; at or above `risk_block_score` its user is refused at
    # sign-in, redemption and withdrawal until an admin lifts the block, and a lifted user is
    # not blocked again automatically for `risk_lift_grace_days`. A counting rule scores 50 at
    # its threshold and 100 at twice it (80 at 1.6 times): accounts seen on one device,
    # redemptions by one user in the window, referees signed up from one device, withdrawals
    # by one user in the window, and a withdrawal this many times the user's usual (the median
    # of their last ones, once they have `risk_withdrawal_history` of them). A sign-in from a
    # new device in a new city scores `risk_sign_in_score`.
    risk_block_score: int = Field(default=80, ge=1, le=101)
    risk_lift_grace_days: int = Field(default=30, ge=0, le=365)
    risk_sign_in_score: int = Field(default=60, ge=0, le=100)
    risk_device_accounts: int = Field(default=3, ge=2, le=1_000)
    risk_redemptions_per_window: int = Field(default=20, ge=1, le=100_000)
    risk_redemption_window_minutes: int = Field(default=10, ge=1, le=10_080)
    risk_referees_per_device: int = Field(default=3, ge=2, le=1_000)
    risk_withdrawals_per_window: int = Field(default=5, ge=1, le=1_000)
    risk_withdrawal_window_hours: int = Field(default=24, ge=1, le=720)
    risk_withdrawal_multiple: int = Field(default=5, ge=2, le=1_000)
    risk_withdrawal_history: int = Field(default=3, ge=1, le=100)

    # Marketing campaigns. Whether a campaign needs another admin's approval before it is
    # scheduled (maker-checker), and how many messages one unit of work of a send holds (the
    # throttle per minute still bounds the whole minute).
    campaign_approval_required: bool = True
    campaign_send_chunk: int = Field(default=500, ge=1, le=10_000)
    # Analytics. Activity events are kept this many days (whole months are dropped once past
    # it); a client's event may be at most `analytics_late_days` old and at most
    # `analytics_ahead_minutes` ahead of the server's clock (a phone's clock drifts).
    analytics_retention_days: int = Field(default=180, ge=31, le=3_650)
    analytics_late_days: int = Field(default=7, ge=1, le=30)
    analytics_ahead_minutes: int = Field(default=10, ge=0, le=1_440)

    # Exports. Where export files are kept (unset: <data_dir>/exports); rows per Parquet row
    # group (what an export holds in memory at once); the daily warehouse export of yesterday
    # (off by default): on or off, its datasets (comma-separated) and its format.
    export_dir: Path | None = None
    export_parquet_row_group: int = Field(default=50_000, ge=100, le=1_000_000)
    export_warehouse_enabled: bool = False
    export_warehouse_datasets: str = ("transfers,orders,cashbacks,withdrawals,user_summaries,"
                                      "merchant_summaries,offer_summaries,platform_summaries")
    export_warehouse_format: Literal["csv", "parquet"] = "parquet"

    @field_validator("trusted_proxies", "cors_origins", "metrics_networks", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies", "metrics_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from exc
        return value

    def networks(self, name: str) -> tuple[Network, ...]:
        """A list setting of addresses and CIDR networks, parsed."""
        items: list[str] = getattr(self, name)
        return tuple(ipaddress.ip_network(item, strict=False) for item in items)

    @property
    def api_processes(self) -> int:
        return self.web_workers or os.cpu_count() or 1

    @property
    def docs_enabled(self) -> bool:
        return self.api_docs if self.api_docs is not None else not self.is_production

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def secret(self, name: str) -> str:
        """The named secret, generated and kept in the data folder outside production."""
        value: SecretStr | None = getattr(self, name)
        if value is not None:
            return value.get_secret_value()
        if self.is_production:
            raise ConfigError(f"GULLAK_{name.upper()} must be set when GULLAK_ENV=production")
        return _stored_secrets(self.data_dir)[name]


# What each data folder's secrets file held when last read: a development server asks for the
# signing key on every request, and reading and parsing the file each time showed in profiles.
_read: dict[Path, dict[str, str]] = {}


def _stored_secrets(data_dir: Path) -> dict[str, str]:
    path = data_dir / "secrets.json"
    known = _read.get(path)
    if known is not None and path.exists():
        return known
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in SECRET_NAMES if name not in stored]
    if missing:
        for name in missing:
            stored[name] = secrets.token_urlsafe(32)
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored, indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    _read[path] = stored
    return stored


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret: ours (given or generated), and those of other settings read
    from the environment or .env under a secret-looking GULLAK_ name."""
    values = [v.get_secret_value() for name in type(settings).model_fields
              if isinstance(v := getattr(settings, name), SecretStr)]
    if not settings.is_production:
        values += [settings.secret(name) for name in SECRET_NAMES]
    named = {**_dotenv(), **os.environ}
    values += [value for key, value in named.items()
               if key.upper().startswith("GULLAK_") and value
               and any(word in key.upper() for word in _SECRET_WORDS)]
    # A key ring is several keys separated by commas; each is a secret on its own.
    return [part for value in values for part in value.split(",") if part]


def _dotenv() -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(".env").items() if v is not None}


@lru_cache
def get_settings() -> Settings:
    return Settings()


def check_startup(settings: Settings) -> None:
    """Fail at start-up, with a clear message, on configuration that cannot work."""
    for name in SECRET_NAMES:
        settings.secret(name)
    if settings.is_production and settings.database_url is None:
        raise ConfigError("GULLAK_DATABASE_URL must be set when GULLAK_ENV=production")
    if settings.sms_provider == "twilio":
        missing = [name for name in ("twilio_account_sid", "twilio_auth_token", "twilio_from")
                   if not getattr(settings, name)]
        if missing:
            names = ", ".join(f"GULLAK_{m.upper()}" for m in missing)
            raise ConfigError(f"GULLAK_SMS_PROVIDER=twilio needs {names}")
    _check_payments(settings)
    _check_payouts(settings)
    _check_web(settings)
    # Every process passes here before it serves or works, so from now on its log lines mask
    # the configured secrets wherever they appear.
    gullak_logging.mask(secret_values(settings))


PAYMENT_CREDENTIALS = {
    "sandbox": (),
    "razorpay": ("razorpay_key_id", "razorpay_key_secret", "razorpay_webhook_secret"),
    "xendit": ("xendit_secret_key", "xendit_callback_token"),
}


PAYOUT_CREDENTIALS = {
    "sandbox": (),
    "razorpayx": ("razorpayx_key_id", "razorpayx_key_secret", "razorpayx_webhook_secret",
                  "razorpayx_account_number"),
    "xendit": ("xendit_secret_key", "xendit_callback_token"),
}


def _check_payouts(settings: Settings) -> None:
    for name in (settings.payout_provider_in, settings.payout_provider_id):
        missing = [n for n in PAYOUT_CREDENTIALS[name] if not getattr(settings, n)]
        if missing:
            names = ", ".join(f"GULLAK_{m.upper()}" for m in missing)
            raise ConfigError(f"The {name} payouts provider needs {names}")
    if not settings.payout_min_amount <= settings.payout_daily_max <= settings.payout_monthly_max:
        raise ConfigError("GULLAK_PAYOUT_MIN_AMOUNT <= GULLAK_PAYOUT_DAILY_MAX <="
                          " GULLAK_PAYOUT_MONTHLY_MAX must hold")


def _check_payments(settings: Settings) -> None:
    # A real gateway without its credentials would fail on the first payer, not at start.
    missing = [name for name in PAYMENT_CREDENTIALS[settings.payment_gateway]
               if not getattr(settings, name)]
    if missing:
        names = ", ".join(f"GULLAK_{m.upper()}" for m in missing)
        raise ConfigError(f"GULLAK_PAYMENT_GATEWAY={settings.payment_gateway} needs {names}")
    if settings.topup_min_amount > settings.topup_max_amount:
        raise ConfigError("GULLAK_TOPUP_MIN_AMOUNT must not exceed GULLAK_TOPUP_MAX_AMOUNT")


def _check_web(settings: Settings) -> None:
    everyone = [n for n in settings.networks("trusted_proxies") if n.prefixlen == 0]
    if everyone:
        # Every client would be believed about its own address, and escape per-IP limits.
        raise ConfigError(f"GULLAK_TRUSTED_PROXIES must not trust every address ({everyone[0]})")
    if not settings.is_production:
        return
    if "*" in settings.cors_origins:
        raise ConfigError("GULLAK_CORS_ORIGINS must list origins, not '*', in production")
    if any(n.prefixlen == 0 for n in settings.networks("metrics_networks")):
        raise ConfigError("GULLAK_METRICS_NETWORKS must not open /metrics to every address in "
                          "production; set GULLAK_METRICS_TOKEN for remote scrapers")
    token = settings.metrics_token
    if token is not None and len(token.get_secret_value()) < 24:
        raise ConfigError("GULLAK_METRICS_TOKEN must be at least 24 characters in production")
