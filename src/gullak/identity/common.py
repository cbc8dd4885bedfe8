"""What identity's service modules share: contact details in canonical form, the keys
that seal secrets, and finding a user."""

from __future__ import annotations

import re
import uuid

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import errors
from gullak.identity.models import User
from gullak.kit.crypto import Keyring
from gullak.settings import Settings


def normalize_phone(raw: str, region: str = "IN") -> str:
    """E.164 (`+919812345678`) for a valid mobile number; `invalid_phone` otherwise."""
    if re.search(r"[A-Za-z]", raw):  # the parser would read letters as keypad digits
        raise errors.InvalidPhone(field="phone")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise errors.InvalidPhone(field="phone") from exc
    kind = phonenumbers.number_type(number)
    if not phonenumbers.is_valid_number(number) or kind not in (
        phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise errors.InvalidPhone(field="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise errors.InvalidEmail(field="email") from exc


def keyring(settings: Settings) -> Keyring:
    # Older keys may follow the current one, comma-separated, while values are re-sealed.
    return Keyring([k for k in settings.secret("encryption_key").split(",") if k])


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise errors.UserNotFound()
    return user


def ensure_active(user: User) -> None:
    if user.status != "active" or user.deleted_at is not None:
        raise errors.AccountUnavailable(f"This account is {user.status}.")
