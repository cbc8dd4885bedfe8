"""One password policy: at least twelve characters, at most 128, none of the most common
passwords, not the login; users, admins and merchant users are all held to it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.access import service as access
from gullak.access.models import AdminUser
from gullak.identity import service as identity
from gullak.identity.models import User
from gullak.kit.passwords import (
    COMMON,
    MAX_LENGTH,
    MIN_LENGTH,
    WeakPassword,
    check_policy,
    verify_password,
)
from gullak.merchants import service as merchants
from gullak.merchants.models import MerchantUser
from gullak.merchants.schemas import MerchantUserIn
from gullak.settings import Settings
from tests.helpers.admins import make_admin
from tests.helpers.merchants import new_merchant
from tests.helpers.passwords import hash_cheaply
from tests.helpers.users import new_phone


def refusal(password: str, logins: tuple[str | None, ...] = ()) -> str | None:
    """The policy's detail for `password`, or None if it is accepted."""
    try:
        check_policy(password, logins=logins)
    except WeakPassword as exc:
        assert (exc.status, exc.code, exc.field) == (422, "weak_password", "password")
        return exc.detail
    return None


def test_length_is_between_twelve_and_128_characters() -> None:
    assert MIN_LENGTH == 12 and MAX_LENGTH == 128
    assert refusal("") == refusal("a" * 3) == refusal("k7#Lm2!pQ9x") \
        == "Passwords need at least 12 characters."
    assert refusal("k7#Lm2!pQ9xz") is None
    assert refusal("seven ravens under a copper moon " * 3) is None  # a passphrase
    assert refusal("x" * 128 + "y") == "Passwords may have at most 128 characters."
    # Characters, not bytes: twelve letters of any script are enough.
    assert refusal("पासवर्डपासवर्ड") is None


def test_common_passwords_are_refused_in_any_case() -> None:
    for password in ("password1234", "PASSWORD1234", "Password@123", "qwerty123456",
                     "123456789012", "1q2w3e4r5t6y"):
        assert refusal(password) == "This password is among the most commonly used.", password
    # Every listed password is long enough to get past the length check to the list.
    assert all(len(p) >= MIN_LENGTH and p == p.casefold() for p in COMMON)


def test_the_login_is_not_a_password() -> None:
    logins = ("Priya.Kapoor@example.com", "priya_k_2024", None)
    for password in ("priya.kapoor@example.com", "PRIYA.KAPOOR", "Priya_K_2024",
                     " priya_k_2024 ".strip()):
        assert refusal(password, logins) == "The password may not be the login.", password
    assert refusal("priya.kapoor.is.here", logins) is None


def test_the_field_is_named_as_the_caller_asks() -> None:
    with pytest.raises(WeakPassword) as caught:
        check_policy("short", field="new_password")
    assert caught.value.field == "new_password"


# -- the three kinds of account ---------------------------------------------------------------

Setter = Callable[[AsyncSession, Settings, str, str], Awaitable[str | None]]


async def set_user_password(session: AsyncSession, settings: Settings, email: str,
                            password: str) -> str | None:
    user = User(phone=new_phone(), email=email, referral_code=uuid.uuid4().hex[:8].upper())
    session.add(user)
    await session.flush()
    await identity.set_password(session, user.id, password, None)
    return user.password_hash


async def set_admin_password(session: AsyncSession, settings: Settings, email: str,
                             password: str) -> str | None:
    admin = await make_admin(session, settings, email=email)
    await access.set_admin_password(session, admin.id, password)
    return await session.scalar(select(AdminUser.password_hash).where(AdminUser.id == admin.id))


async def create_merchant_user(session: AsyncSession, settings: Settings, email: str,
                               password: str) -> str | None:
    merchant = await new_merchant(session)
    out = await merchants.create_merchant_user(session, merchant.id, MerchantUserIn(
        email=email, name="Meera", password=password), None)
    return await session.scalar(select(MerchantUser.password_hash)
                                .where(MerchantUser.id == out.id))


KINDS: dict[str, tuple[Setter, str]] = {
    "user": (set_user_password, "new_password"),
    "admin": (set_admin_password, "password"),
    "merchant user": (create_merchant_user, "password"),
}


@pytest.mark.parametrize("kind", KINDS)
async def test_every_kind_of_account_follows_the_policy(
        kind: str, session: AsyncSession, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    hash_cheaply(monkeypatch)
    set_password, field = KINDS[kind]

    def email() -> str:
        return f"meera.{uuid.uuid4().hex[:8]}@example.com"

    login = email()
    for address, weak in ((email(), "k7#Lm2!pQ9x"), (email(), "Password1234"),
                          (email(), "x" * 129), (login, login.upper())):
        with pytest.raises(WeakPassword) as caught:
            await set_password(session, settings, address, weak)
        assert caught.value.field == field
    stored = await set_password(session, settings, email(), "k7#Lm2!pQ9xz")
    assert stored is not None and verify_password(stored, "k7#Lm2!pQ9xz")[0]
