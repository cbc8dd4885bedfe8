"""The client's address: the socket peer, or what trusted proxies say in X-Forwarded-For.
Per-IP limits, sessions and the audit all read the one address the app settles on."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.identity.service import OTP_PER_IP
from gullak.kit import clock
from gullak.kit.audit import request_meta
from gullak.kit.http import client_address
from gullak.settings import ConfigError, Settings, check_startup
from tests.helpers.identity import rewind_clock
from tests.helpers.users import new_phone

PROXIES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "192.0.2.10"))


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    # Not from a trusted proxy: the header is the client's word and is ignored.
    ("203.0.113.5", "198.51.100.1", "203.0.113.5"),
    ("127.0.0.1", "198.51.100.1", "127.0.0.1"),
    # From a proxy: the right-most address that no trusted proxy wrote.
    ("10.1.2.3", "198.51.100.1", "198.51.100.1"),
    ("10.1.2.3", "1.1.1.1, 198.51.100.1", "198.51.100.1"),
    ("10.1.2.3", "1.1.1.1, 198.51.100.1, 192.0.2.10, 10.9.9.9", "198.51.100.1"),
    ("10.1.2.3", "2001:db8::7", "2001:db8::7"),
    # Every hop a proxy: the first one is as far as we can see.
    ("10.1.2.3", "10.0.0.7, 192.0.2.10", "10.0.0.7"),
    # Garbage where an address should be: it came from the client, so the proxy that passed
    # it on is the client as far as we know.
    ("10.1.2.3", "198.51.100.1, not-an-ip", "10.1.2.3"),
    ("10.1.2.3", "198.51.100.1, not-an-ip, 10.0.0.9", "10.0.0.9"),
    ("10.1.2.3", None, "10.1.2.3"),
    ("10.1.2.3", "", "10.1.2.3"),
    (None, "198.51.100.1", None),
])
def test_client_address(peer: str | None, forwarded: str | None, client: str | None) -> None:
    assert client_address(peer, forwarded, PROXIES) == client


def test_no_proxy_is_trusted_by_default() -> None:
    settings = Settings(env="test")
    assert settings.trusted_proxies == []
    assert client_address("127.0.0.1", "198.51.100.1", settings.networks("trusted_proxies")) \
        == "127.0.0.1"


def test_the_setting_takes_addresses_and_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GULLAK_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.10")
    assert Settings(env="test").networks("trusted_proxies") == PROXIES
    monkeypatch.setenv("GULLAK_TRUSTED_PROXIES", "10.0.0.0/8,nonsense")
    with pytest.raises(ValueError, match="nonsense"):
        Settings(env="test")


def test_trusting_every_address_is_refused(settings: Settings) -> None:
    check_startup(settings.model_copy(update={"trusted_proxies": ["10.0.0.0/8"]}))
    for everyone in ("0.0.0.0/0", "::/0"):
        with pytest.raises(ConfigError, match="GULLAK_TRUSTED_PROXIES"):
            check_startup(settings.model_copy(update={"trusted_proxies": [everyone]}))


seen = APIRouter()


@seen.get("/v1/probe/client")
async def probe_client(request: Request) -> dict[str, str | None]:
    meta = request_meta.get()
    return {"client": request.client.host if request.client else None,
            "audit": meta.ip if meta else None}


def client_of(app: FastAPI, peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(peer, 4321))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
def proxied(settings: Settings, db: Database, app: FastAPI) -> FastAPI:
    """The test app, behind a proxy at 10.0.0.1."""
    trusted = settings.model_copy(update={"trusted_proxies": ["10.0.0.1"]})
    behind = create_app(trusted, db)
    behind.dependency_overrides = app.dependency_overrides
    behind.include_router(seen)
    return behind


async def test_the_request_and_the_audit_see_one_address(proxied: FastAPI) -> None:
    spoofed = {"x-forwarded-for": "6.6.6.6, 198.51.100.7"}
    async with client_of(proxied, "10.0.0.1") as via_proxy:
        body = (await via_proxy.get("/v1/probe/client", headers=spoofed)).json()
    assert body == {"client": "198.51.100.7", "audit": "198.51.100.7"}
    # A client that is not the proxy cannot pick its address.
    async with client_of(proxied, "127.0.0.1") as direct:
        body = (await direct.get("/v1/probe/client", headers=spoofed)).json()
    assert body == {"client": "127.0.0.1", "audit": "127.0.0.1"}


async def test_per_ip_limits_count_the_forwarded_client(proxied: FastAPI,
                                                        connection: AsyncConnection) -> None:
    rewind_clock()
    limit, _ = OTP_PER_IP

    def from_(client: str, spoof: int) -> dict[str, str]:
        # The left part changes every time: only the right-most untrusted address counts.
        return {"x-forwarded-for": f"203.0.113.{spoof}, {client}"}

    async with client_of(proxied, "10.0.0.1") as via_proxy:
        for n in range(limit):
            r = await via_proxy.post("/v1/auth/otp", json={"phone": new_phone()},
                                     headers=from_("198.51.100.7", n))
            assert r.status_code == 202, r.text
        r = await via_proxy.post("/v1/auth/otp", json={"phone": new_phone()},
                                 headers=from_("198.51.100.7", 250))
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        # Another client behind the same proxy has its own count.
        r = await via_proxy.post("/v1/auth/otp", json={"phone": new_phone()},
                                 headers=from_("198.51.100.8", 251))
        assert r.status_code == 202, r.text
    clock.reset()
