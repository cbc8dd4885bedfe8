"""What every profile does for its users: sign them up as the app does, credit their wallets."""

from __future__ import annotations

import re
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import service as identity
from gullak.identity.client import Client
from gullak.identity.schemas import DeviceIn, OtpPurpose, ProfileIn, UserOut
from gullak.identity.sms import Sent
from gullak.kit.demo import FailedRows
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.settings import get_settings


class _Phone:
    """The user's phone: it receives the sign-in code, as an `SmsSender` would deliver it."""

    name = "sandbox"

    def __init__(self) -> None:
        self.body = ""

    async def send(self, phone: str, body: str) -> Sent:
        self.body = body
        return Sent(provider=self.name, provider_id=None, sandbox=True)


async def sign_up(session: AsyncSession, phone: str, *, name: str, email: str | None = None,
                  username: str | None = None, referral_code: str | None = None,
                  device_id: str | None = None) -> UserOut:
    """A new user through the OTP sign-up, as the app does it, so that the sign-up bonus and
    the referral follow; then the profile's name, email and username."""
    settings, client, inbox = get_settings(), Client(None, "gullak seed"), _Phone()
    _, message_id = await identity.request_otp(session, settings, phone, OtpPurpose.login,
                                               client)
    await identity.send_sms(session, message_id, inbox)
    code = re.search(r"\b(\d{6})\b", inbox.body)
    if code is None:
        raise FailedRows(f"no sign-in code was sent to {phone}")
    signed = await identity.sign_in_with_otp(
        session, settings, phone, code.group(1), referral_code,
        DeviceIn(device_id=device_id or f"seed-{phone}", device_type="android"), client)
    return await identity.update_profile(session, signed.user.id, ProfileIn(
        name=name, email=email, username=username))


async def credit(session: AsyncSession, user_id: uuid.UUID, asset: str, amount: int, *,
                 source: str, kind: str, reference: str) -> None:
    """`amount` of `asset` into the user's wallet from a platform account, once."""
    wallet = await ledger.user_account(session, user_id, asset)
    platform = await ledger.platform_account(session, asset, source)
    await ledger.transfer(session, TransferIn(
        debit_account_id=platform.id, credit_account_id=wallet.id, asset_code=asset,
        amount=amount, kind=kind, reference_type="profile", reference_id=reference),
        idempotency_key=f"profile:{reference}:{user_id}:{asset}")
