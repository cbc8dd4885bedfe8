"""Settings: environment prefix, generated development secrets, production refusals."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gullak.settings import ConfigError, Settings, check_startup


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GULLAK_PORT", "9123")
    monkeypatch.setenv("GULLAK_HOST", "0.0.0.0")
    s = Settings()
    assert (s.host, s.port) == ("0.0.0.0", 9123)


def test_bad_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GULLAK_PORT", "99999")
    with pytest.raises(ValueError, match="port"):
        Settings()


def test_development_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    s = Settings(env="development", data_dir=tmp_path)
    key = s.secret("secret_key")
    assert len(key) >= 32
    assert Settings(env="development", data_dir=tmp_path).secret("secret_key") == key
    assert s.secret("encryption_key") != key
    mode = stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode)
    assert mode == 0o600


def test_given_secret_wins(tmp_path: Path) -> None:
    s = Settings(env="development", data_dir=tmp_path, secret_key="from-env" * 4)
    assert s.secret("secret_key") == "from-env" * 4


def test_production_needs_its_secrets(tmp_path: Path) -> None:
    s = Settings(env="production", data_dir=tmp_path, database_url="postgresql://x/y")
    with pytest.raises(ConfigError, match="GULLAK_SECRET_KEY"):
        check_startup(s)
    assert not (tmp_path / "secrets.json").exists()


def test_production_needs_a_database(tmp_path: Path) -> None:
    s = Settings(env="production", data_dir=tmp_path, secret_key="a" * 40, encryption_key="b" * 40)
    with pytest.raises(ConfigError, match="GULLAK_DATABASE_URL"):
        check_startup(s)
