"""What every payment gateway offers us, and the shapes it answers in.

Adapters turn a provider's API into these; nothing else in payments knows a provider's field
names. Amounts are integers in minor units (paise) both ways. A gateway never sees our
database session: it is called outside any transaction (DESIGN §3).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx

# How long we wait on a provider: long enough for a slow answer, short enough that a hung
# provider cannot hold a request (or a job) for minutes.
TIMEOUT = httpx.Timeout(15.0, connect=5.0)

Kind = Literal["captured", "failed", "expired", "refunded", "other"]
Status = Literal["pending", "captured", "failed", "expired"]


@dataclass(frozen=True)
class PaymentRequest:
    """What a gateway is told about a payment when it is started."""

    id: uuid.UUID
    amount: int
    currency: str
    purpose: str
    reference: str  # our receipt / external id: the payment id, unique at the provider
    description: str


@dataclass(frozen=True)
class GatewayOrder:
    ref: str  # the provider's order or invoice id
    checkout_url: str
    raw: Mapping[str, object]


@dataclass(frozen=True)
class GatewayStatus:
    status: Status
    captured: int  # minor units captured so far
    refunded: int  # minor units refunded so far


@dataclass(frozen=True)
class GatewayEvent:
    event_id: str  # unique per provider: what makes processing exactly-once
    ref: str | None  # the provider's order or invoice id it is about
    kind: Kind
    amount: int | None


class GatewayError(Exception):
    """The provider refused or could not be reached; `detail` is safe to show and store."""

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


class InvalidPayload(ValueError):
    """A verified webhook whose body is not what the provider documents."""


class Gateway(Protocol):
    name: str

    async def create(self, payment: PaymentRequest) -> GatewayOrder: ...

    async def fetch(self, ref: str) -> GatewayStatus: ...

    async def refund(self, ref: str, amount: int, key: str) -> str: ...

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool: ...

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> GatewayEvent: ...


def check(response: httpx.Response, provider: str) -> httpx.Response:
    """The response, or a GatewayError that names the status and the provider's own error
    description (never our request, which carries credentials in its headers)."""
    if response.is_success:
        return response
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    message = (error.get("description") if isinstance(error, dict)
               else body.get("message") if isinstance(body, dict) else None)
    raise GatewayError(f"{provider} answered {response.status_code}: {message or 'no detail'}",
                       status=response.status_code)
