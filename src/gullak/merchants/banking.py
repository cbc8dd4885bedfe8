"""Bank account verification ("penny drop"): one interface, a sandbox that moves no money, and
Cashfree's Bank Account Verification API (sync, v2).

Configured from the environment (GULLAK_BANK_VERIFICATION_...); the sandbox is the default so
that nothing leaves the machine unless a provider is set up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gullak.merchants import errors

Outcome = Literal["verified", "failed", "pending"]


@dataclass(frozen=True)
class Check:
    account_number: str
    ifsc: str
    holder: str
    phone: str | None = None


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    provider: str
    name_at_bank: str | None = None
    reason: str | None = None
    reference: str | None = None


class Verifier(Protocol):
    name: str

    async def verify(self, check: Check) -> Result: ...


class BankVerificationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GULLAK_BANK_VERIFICATION_", env_file=".env",
                                      extra="ignore")

    provider: Literal["sandbox", "cashfree"] = "sandbox"
    cashfree_client_id: str | None = None
    cashfree_client_secret: SecretStr | None = None
    # https://sandbox.cashfree.com/verification for Cashfree's own test environment.
    cashfree_base_url: str = "https://api.cashfree.com/verification"
    timeout_seconds: float = 30.0


class SandboxVerifier:
    """Deterministic and offline: an account number ending in 0000 does not exist, one ending
    in 1111 stays pending (the bank has not answered yet), any other is valid and held by the
    name given. It says so in every result."""

    name = "sandbox"

    async def verify(self, check: Check) -> Result:
        if check.account_number.endswith("0000"):
            return Result("failed", self.name, reason="sandbox: INVALID_BANK_ACCOUNT",
                          reference="sandbox")
        if check.account_number.endswith("1111"):
            return Result("pending", self.name, reason="sandbox: IN_PROCESS",
                          reference="sandbox")
        return Result("verified", self.name, name_at_bank=check.holder.upper(),
                      reference="sandbox")


# Cashfree's account_status values that are final; anything else is still in progress.
_CASHFREE_FAILED = {"INVALID", "FAILED", "REJECTED", "MANUALLY_REJECTED", "CANCELLED"}


class CashfreeVerifier:
    """POST {base}/bank-account/sync with x-client-id / x-client-secret headers and
    {bank_account, ifsc, name, phone}; the answer's account_status is VALID, INVALID, or a
    status of a verification still in progress."""

    name = "cashfree"

    def __init__(self, client_id: str, client_secret: str, *, base_url: str,
                 timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.base_url, self.timeout, self.transport = base_url.rstrip("/"), timeout, transport

    async def verify(self, check: Check) -> Result:
        body = {"bank_account": check.account_number, "ifsc": check.ifsc, "name": check.holder}
        if check.phone:
            body["phone"] = check.phone
        headers = {"x-client-id": self.client_id, "x-client-secret": self.client_secret,
                   "content-type": "application/json", "accept": "application/json"}
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as http:
                response = await http.post(f"{self.base_url}/bank-account/sync", json=body,
                                           headers=headers)
        except httpx.HTTPError as exc:
            raise errors.BankVerificationUnavailable(f"Cashfree: {type(exc).__name__}") from exc
        try:
            data = response.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if response.status_code in (400, 422):
            # The provider refused the details themselves: a final answer, not an outage.
            return Result("failed", self.name,
                          reason=str(data.get("code") or data.get("message") or "bad_request"))
        if response.status_code != 200:
            raise errors.BankVerificationUnavailable(
                f"Cashfree answered {response.status_code}: {data.get('code') or ''}".strip())
        status = str(data.get("account_status") or "").upper()
        reference = str(data["reference_id"]) if data.get("reference_id") is not None else None
        if status == "VALID":
            return Result("verified", self.name, name_at_bank=data.get("name_at_bank"),
                          reference=reference)
        if status in _CASHFREE_FAILED:
            return Result("failed", self.name, name_at_bank=data.get("name_at_bank"),
                          reason=str(data.get("account_status_code") or status),
                          reference=reference)
        return Result("pending", self.name, reason=status or None, reference=reference)


def configured(settings: BankVerificationSettings | None = None,
               transport: httpx.AsyncBaseTransport | None = None) -> Verifier:
    settings = settings or BankVerificationSettings()
    if settings.provider == "cashfree":
        if not settings.cashfree_client_id or settings.cashfree_client_secret is None:
            raise errors.BankVerificationUnavailable(
                "Set GULLAK_BANK_VERIFICATION_CASHFREE_CLIENT_ID and _CLIENT_SECRET.")
        return CashfreeVerifier(settings.cashfree_client_id,
                                settings.cashfree_client_secret.get_secret_value(),
                                base_url=settings.cashfree_base_url,
                                timeout=settings.timeout_seconds, transport=transport)
    return SandboxVerifier()
