"""A user's password and authenticator app (TOTP)."""

from __future__ import annotations

import hmac
import uuid

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import errors
from gullak.identity.common import get_user, keyring
from gullak.identity.models import User
from gullak.identity.schemas import TotpSetupOut
from gullak.kit import clock
from gullak.kit.errors import InvalidInput
from gullak.kit.passwords import hash_password, verify_password
from gullak.kit.passwords import check_policy
from gullak.settings import Settings


async def set_password(session: AsyncSession, user_id: uuid.UUID, new: str,
                       current: str | None) -> None:
    user = await get_user(session, user_id)
    if user.password_hash:
        ok, _ = verify_password(user.password_hash, current or "")
        if not ok:
            raise errors.InvalidCredentials("The current password is wrong.",
                                            field="current_password", keep_changes=False)
    check_policy(new, logins=(user.email, user.username, user.phone), field="new_password")
    user.password_hash = hash_password(new)


async def start_totp(session: AsyncSession, settings: Settings, user_id: uuid.UUID) -> TotpSetupOut:
    user = await get_user(session, user_id)
    if user.totp_enabled:  # switching factors needs the current code: disable first
        raise errors.Taken("An authenticator is already on; disable it first.",
                           code="totp_already_enabled")
    secret = pyotp.random_base32()
    user.totp_secret = keyring(settings).seal(secret, context="users.totp_secret")
    user.totp_enabled = False
    label = user.email or user.phone or str(user.id)
    uri = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name="Gullak")
    return TotpSetupOut(secret=secret, provisioning_uri=uri)


def totp_step(secret: str, code: str, after: int | None) -> int | None:
    """The time step whose code `code` is, within one step of now and later than `after` (the
    step of the last code accepted); None if there is none. A code is good once: seen by
    whoever stands behind its owner, it must not open a second session in the minute and a
    half it stays valid."""
    totp = pyotp.TOTP(secret)
    now = totp.timecode(clock.now())
    for step in (now - 1, now, now + 1):
        # As bytes: compare_digest refuses a str that is not ASCII (a code in other digits).
        if (after is None or step > after) and hmac.compare_digest(
                totp.generate_otp(step).encode(), code.encode()):
            return step
    return None


def totp_ok(settings: Settings, user: User, code: str) -> bool:
    """Whether `code` is the user's authenticator code, not used before; it is used up."""
    if not user.totp_secret:
        return False
    secret = keyring(settings).open(user.totp_secret, context="users.totp_secret")
    step = totp_step(secret, code, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


async def confirm_totp(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                       code: str) -> None:
    user = await get_user(session, user_id)
    if not totp_ok(settings, user, code):
        raise InvalidInput("Wrong authenticator code.", code="invalid_totp", field="code")
    user.totp_enabled = True


async def disable_totp(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                       code: str) -> None:
    user = await get_user(session, user_id)
    if user.totp_enabled and not totp_ok(settings, user, code):
        raise InvalidInput("Wrong authenticator code.", code="invalid_totp", field="code")
    user.totp_enabled, user.totp_secret = False, None
