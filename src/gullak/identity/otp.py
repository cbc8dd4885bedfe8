"""One-time codes by SMS: sending under rate limits, checking with a bounded number of
attempts, step-up confirmation, and the SMS outbox."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import errors
from gullak.identity.client import Client
from gullak.identity.common import get_user, normalize_phone
from gullak.identity.models import OtpCode, SmsMessage
from gullak.identity.schemas import OtpPurpose, OtpRequestOut, StepUpOut
from gullak.kit import clock, tokens
from gullak.kit.errors import InvalidInput
from gullak.settings import Settings
from gullak.system import service as system

OTP_TTL = dt.timedelta(minutes=5)
OTP_MAX_ATTEMPTS = 5
OTP_COOLDOWN = dt.timedelta(seconds=30)
OTP_PER_PHONE = (5, dt.timedelta(minutes=15))
# The hourly limit per client address is GULLAK_OTP_PER_IP_PER_HOUR (20 by default): a local
# developer whose scripts sign in over and over raises it.
OTP_PER_IP = (20, dt.timedelta(hours=1))
# And GULLAK_OTP_PER_PHONE_PER_DAY per phone in a UTC day.
OTP_PER_DAY = dt.timedelta(days=1)


def _otp_digest(settings: Settings, phone: str, purpose: str, code: str) -> str:
    # Keyed, so a leaked table does not give the codes away to a million guesses.
    message = f"{phone}:{purpose}:{code}".encode()
    return hmac.new(settings.secret("secret_key").encode(), message, "sha256").hexdigest()


async def request_otp(session: AsyncSession, settings: Settings, phone: str,
                      purpose: OtpPurpose, client: Client) -> tuple[OtpRequestOut, uuid.UUID]:
    """Send a 6-digit code; returns the outcome and the outbox message to send."""
    phone = normalize_phone(phone)
    await system.hit(session, f"otp:phone:{phone}", limit=OTP_PER_PHONE[0],
                     window=OTP_PER_PHONE[1])
    await system.hit(session, f"otp:phone-day:{phone}", limit=settings.otp_per_phone_per_day,
                     window=OTP_PER_DAY)
    if client.ip:
        await system.hit(session, f"otp:ip:{client.ip}", limit=settings.otp_per_ip_per_hour,
                         window=OTP_PER_IP[1])
    now = clock.now()
    last = await session.scalar(
        select(OtpCode.created_at).where(OtpCode.phone == phone, OtpCode.purpose == purpose.value)
        .order_by(OtpCode.created_at.desc()).limit(1))
    if last is not None and now - last < OTP_COOLDOWN:
        wait = int((OTP_COOLDOWN - (now - last)).total_seconds()) + 1
        raise errors.OtpCooldown(retry_after=wait, keep_changes=True)
    code = f"{secrets.randbelow(1_000_000):06d}"
    session.add(OtpCode(phone=phone, purpose=purpose.value, created_at=now, ip=client.ip,
                        code_hash=_otp_digest(settings, phone, purpose.value, code),
                        expires_at=now + OTP_TTL))
    message = SmsMessage(phone=phone, body=f"{code} is your Gullak code. It expires in 5 "
                                          f"minutes. Never share it.")
    session.add(message)
    await session.flush()
    return OtpRequestOut(expires_in=int(OTP_TTL.total_seconds()),
                         resend_after=int(OTP_COOLDOWN.total_seconds())), message.id


async def verify_otp(session: AsyncSession, settings: Settings, phone: str, purpose: OtpPurpose,
                     code: str) -> str:
    """Check the latest code sent to `phone`; returns the phone in E.164 form."""
    phone = normalize_phone(phone)
    otp = await session.scalar(
        select(OtpCode).where(OtpCode.phone == phone, OtpCode.purpose == purpose.value)
        .order_by(OtpCode.created_at.desc()).limit(1).with_for_update())
    if otp is None or otp.consumed_at is not None or otp.expires_at <= clock.now():
        raise errors.OtpInvalid(field="code")
    if otp.attempts >= OTP_MAX_ATTEMPTS:
        raise errors.OtpLocked(field="code")
    otp.attempts += 1
    if not hmac.compare_digest(otp.code_hash, _otp_digest(settings, phone, purpose.value, code)):
        await session.flush()
        raise errors.OtpInvalid(field="code")
    otp.consumed_at = clock.now()
    return phone


STEP_UP_TTL = dt.timedelta(minutes=5)


async def step_up(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                  purpose: OtpPurpose, code: str) -> StepUpOut:
    """A signed-in user confirms a code sent to their own phone for a transaction or KYC; the
    token proves it to the endpoint that asks for it (see `check_step_up`)."""
    user = await get_user(session, user_id)
    if user.phone is None:
        raise InvalidInput("This account has no phone number.", code="no_phone")
    await verify_otp(session, settings, user.phone, purpose, code)
    token = tokens.issue_access(settings.secret("secret_key"), subject=user.id, kind="step_up",
                                session_id=user.id, ttl=STEP_UP_TTL,
                                extra={"purpose": purpose.value})
    return StepUpOut(verification_token=token, purpose=purpose,
                     expires_in=int(STEP_UP_TTL.total_seconds()))


def check_step_up(settings: Settings, user_id: uuid.UUID, purpose: OtpPurpose,
                  token: str) -> dict[str, Any]:
    """The token's claims, if it confirms `purpose` for this user (whether it was spent is
    `use_step_up`'s business)."""
    claims = tokens.read_access(settings.secret("secret_key"), token)
    if (claims.get("kind") != "step_up" or claims.get("purpose") != purpose.value
            or claims.get("sub") != str(user_id)):
        raise errors.InvalidToken("This verification is for something else.",
                                  field="verification_token")
    return claims


_SPEND = text("""
WITH gone AS (DELETE FROM step_up_uses WHERE user_id = :user AND expires_at < :now)
INSERT INTO step_up_uses (user_id, token_id, expires_at) VALUES (:user, :token, :expires)
ON CONFLICT DO NOTHING RETURNING token_id
""")


async def use_step_up(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                      purpose: OtpPurpose, token: str) -> None:
    """Spend a step-up confirmation: good once, for one sensitive change, in the unit of work
    that makes it (a unit that fails leaves it unspent)."""
    claims = check_step_up(settings, user_id, purpose, token)
    token_id = claims.get("jti")
    if not isinstance(token_id, str) or not 0 < len(token_id) <= 64:
        raise errors.InvalidToken("This verification is for something else.",
                                  field="verification_token")
    spent = await session.scalar(_SPEND, {
        "user": user_id, "token": token_id, "now": clock.now(),
        "expires": dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)})
    if spent is None:
        raise errors.InvalidToken("This verification was used already.",
                                  field="verification_token")


async def send_sms(session: AsyncSession, message_id: uuid.UUID, sender: Any) -> str:
    """Hand one outbox message to the sender; a real provider's copy of the body is cleared."""
    message = await session.get(SmsMessage, message_id, with_for_update=True)
    if message is None or message.status != "queued" or message.body is None:
        return "skipped"
    sent = await sender.send(message.phone, message.body)
    message.provider, message.provider_id = sent.provider, sent.provider_id
    message.status = "sandbox" if sent.sandbox else "sent"
    message.sent_at = clock.now()
    if not sent.sandbox:
        message.body = None
    return message.status
