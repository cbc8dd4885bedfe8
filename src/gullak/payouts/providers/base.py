"""What every payouts provider offers us, and the shapes it answers in.

Adapters turn a provider's API into these; nothing else in payouts knows a provider's field
names. Amounts are integers in minor units both ways. A provider never sees our database
session: it is called outside any transaction (DESIGN §3), with an idempotency key that is
unique per attempt, so a retried call never pays twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx

# Long enough for a slow answer, short enough that a hung provider cannot hold a job.
TIMEOUT = httpx.Timeout(20.0, connect=5.0)

MethodKind = Literal["bank", "upi", "bank_channel", "mobile"]
# processing: accepted, not final; succeeded: the money reached the destination; failed:
# it never left (a rejection included); reversed: it left, then came back (a bounce).
PayoutStatus = Literal["processing", "succeeded", "failed", "reversed"]


@dataclass(frozen=True)
class Destination:
    """Where the money goes. `account_number` is in clear only here, on its way to the
    provider; it is never logged (see `masked`)."""

    kind: MethodKind
    holder_name: str
    account_number: str | None = None
    ifsc: str | None = None  # India: the branch code of a bank account
    upi_id: str | None = None  # India: a virtual payment address, name@bank
    channel_code: str | None = None  # Xendit: the bank or e-wallet channel, e.g. ID_BCA
    operator: str | None = None  # a mobile number's (kind mobile: account_number is the number)

    @property
    def masked(self) -> str:
        if self.kind == "upi" and self.upi_id:
            name, _, bank = self.upi_id.partition("@")
            return f"{name[:2]}***@{bank}"
        number = self.account_number or ""
        return f"XXXX{number[-4:]}"


@dataclass(frozen=True)
class Contact:
    """Who is paid: some providers keep a contact per beneficiary."""

    reference: str  # our owner id
    name: str
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class PayoutRequest:
    id: uuid.UUID  # the disbursement (one attempt): unique at the provider as reference
    key: str  # the idempotency key of this attempt
    amount: int  # minor units
    currency: str  # INR, IDR, ...
    destination: Destination
    contact: Contact
    narration: str  # shown on the beneficiary's statement; short, plain characters


@dataclass(frozen=True)
class PayoutResult:
    ref: str  # the provider's payout id
    status: PayoutStatus
    failure: str | None = None  # why it failed or was reversed, safe to show the user
    raw: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class PayoutEvent:
    event_id: str  # unique per provider: what makes processing exactly-once
    ref: str | None  # the provider's payout id it is about
    reference: str | None  # our disbursement id, where the provider echoes it
    status: PayoutStatus | None  # None: an event we do not act on
    failure: str | None
    amount: int | None


@dataclass(frozen=True)
class StatementLine:
    """One payout as the provider's books have it, for reconciliation."""

    ref: str
    reference: str | None  # our disbursement id
    amount: int
    status: PayoutStatus
    day: dt.date  # the UTC day the provider settled (or last changed) it


@dataclass(frozen=True)
class Verification:
    """The answer of a penny drop (or a name lookup): whether the destination exists and
    takes money, and the name its bank holds for it."""

    valid: bool
    registered_name: str | None
    ref: str  # the provider's validation id
    detail: str | None = None  # why not valid, safe to show the user


class ProviderError(Exception):
    """The provider refused or could not be reached; `detail` is safe to show and store.
    `final` says the provider refused this request for good (bad destination, not our
    credentials or their outage): the attempt failed, and retrying the same will not help."""

    def __init__(self, detail: str, *, status: int | None = None, final: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.final = final


class VerificationUnavailable(ProviderError):
    """The provider offers no way to check a destination: the method is then checked by the
    holder name given against the KYC name alone (see methods.record_verification)."""


class InvalidPayload(ValueError):
    """A verified callback whose body is not what the provider documents."""


class PayoutProvider(Protocol):
    name: str
    currencies: frozenset[str]
    kinds: frozenset[MethodKind]

    async def create(self, request: PayoutRequest) -> PayoutResult: ...

    async def fetch(self, ref: str) -> PayoutResult: ...

    async def statement(self, day: dt.date) -> list[StatementLine]: ...

    async def verify(self, destination: Destination, contact: Contact,
                     key: str) -> Verification: ...

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> bool: ...

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> PayoutEvent: ...


def check(response: httpx.Response, provider: str) -> httpx.Response:
    """The response, or a ProviderError naming the status and the provider's own error
    description (never our request, which carries credentials in its headers). A 4xx other
    than 401, 403, 409 and 429 is final: the provider refused this request as it is."""
    if response.is_success:
        return response
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    message = (error.get("description") if isinstance(error, dict)
               else body.get("message") if isinstance(body, dict) else None)
    code = response.status_code
    final = 400 <= code < 500 and code not in (401, 403, 409, 429)
    raise ProviderError(f"{provider} answered {code}: {message or 'no detail'}", status=code,
                        final=final)


def hidden(text: str, values: Iterable[str | None]) -> str:
    """`text` with each of `values` (credentials, account numbers) masked to its last four."""
    for value in values:
        if value and len(value) > 4:
            text = text.replace(value, f"XXXX{value[-4:]}")
    return text


async def call(provider: str, api: str, auth: httpx.Auth,
               transport: httpx.AsyncBaseTransport | None, secrets: Sequence[str | None],
               method: str, path: str, **kwargs: Any) -> Any:
    """One request to a provider's API, its JSON answer; every failure a ProviderError whose
    detail hides `secrets` (a provider's error text may quote the request back)."""
    try:
        async with httpx.AsyncClient(base_url=api, auth=auth, timeout=TIMEOUT,
                                     transport=transport) as client:
            response = await client.request(method, path, **kwargs)
        return check(response, provider).json()
    except httpx.HTTPError as exc:
        raise ProviderError(f"{provider} unreachable: {type(exc).__name__}") from None
    except ProviderError as exc:
        raise ProviderError(hidden(exc.detail, secrets), status=exc.status,
                            final=exc.final) from None
    except ValueError:
        raise ProviderError(f"{provider} answered with a body that is not JSON") from None
