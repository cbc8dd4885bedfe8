"""Signing outbound webhooks, and the guard on where they may be sent.

`Gullak-Signature: t=<unix seconds>,v1=<hex>` where hex is HMAC-SHA256, keyed with the
partner's signing secret (the whole `whsec_...` string, UTF-8), of `f"{t}.{body}"` over the
exact body bytes. While a rotated secret is in its grace period both sign, as two `v1=`
entries: a receiver accepts the request when any one matches, and refuses a `t` further than
its tolerance (five minutes is usual) from its own clock, which stops replays of old requests.

Webhook URLs must be https and resolve only to public addresses, so that a partner (or whoever
holds an admin's session) cannot make the worker call into our own network. Development and
tests set GULLAK_PARTNERS_WEBHOOK_ALLOW_PRIVATE to deliver to http://127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
from urllib.parse import urlsplit

from gullak.partners import errors

HEADER = "Gullak-Signature"
EVENT_HEADER = "Gullak-Event-Id"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: list[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}" for s in secrets)])


def verify(header: str, body: bytes, secret: str, now: int,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """What a receiver does (docs/api.md): the reference for partners' own code."""
    parts = [p.partition("=") for p in header.split(",")]
    stamps = [v for k, _, v in parts if k == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit() or abs(now - int(stamps[0])) > tolerance:
        return False
    expected = signature(secret, int(stamps[0]), body)
    return any(hmac.compare_digest(expected, v) for k, _, v in parts if k == "v1")


def check_shape(url: str, allow_private: bool) -> tuple[str, int]:
    """The URL's host and port, if its form is acceptable; refused otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise errors.InvalidWebhookUrl("Not a URL.", field="webhook_url") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise errors.InvalidWebhookUrl(field="webhook_url")
    if parts.username or parts.password:
        raise errors.InvalidWebhookUrl("A webhook URL carries no credentials.",
                                       field="webhook_url")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check_destination(url: str, allow_private: bool) -> None:
    """Refuse a URL that is not https or that resolves to a private, loopback, link-local or
    otherwise non-public address (every address it resolves to is checked)."""
    host, port = check_shape(url, allow_private)
    if allow_private:
        return
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise errors.InvalidWebhookUrl("The webhook host does not resolve.",
                                       field="webhook_url") from None
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if not ip.is_global:
            raise errors.InvalidWebhookUrl("The webhook host resolves to a private address.",
                                           field="webhook_url")
