"""Settings from the environment (prefix GULLAK_) and an optional .env file."""

from __future__ import annotations

import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    data_dir: Path = Field(default=Path(".gullak"), description="embedded server and secrets")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    secret_key: SecretStr | None = None
    encryption_key: SecretStr | None = None
    redis_url: str | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    worker_concurrency: int = Field(default=4, ge=1)
    seed_demo: bool = Field(default=True, description="load demo data on the first `gullak run`")
    access_token_minutes: int = Field(default=15, ge=1, le=1440)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
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


def _stored_secrets(data_dir: Path) -> dict[str, str]:
    path = data_dir / "secrets.json"
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
    return stored


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
