"""The one password sign-in of every account kind: users, admins and merchant users.

Each try is throttled twice, by growing delays: per login and client address, so that
whoever guesses at an account from one address is slowed while its owner, from their own
address, still signs in; and per address across logins, so that one address cannot spray
guesses over many accounts. Nothing is throttled per login alone: that would let anyone who
knows a login lock its owner out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity.client import Client
from gullak.kit.errors import GullakError
from gullak.kit.passwords import dummy_hash, verify_password
from gullak.system import service as system

PER_LOGIN = system.Backoff(free=5, forget=dt.timedelta(days=1))
PER_ADDRESS = system.Backoff(free=50, forget=dt.timedelta(hours=1))


class Account(Protocol):
    @property
    def password_hash(self) -> str | None: ...


A = TypeVar("A", bound=Account)


def throttle_keys(kind: str, login: str, ip: str | None) -> tuple[str, str]:
    """(per login and address, per address). The login is digested: keys stay short and
    the rate-limit store holds no email addresses."""
    address = ip or "unknown"
    digest = hashlib.sha256(login.encode()).hexdigest()[:32]
    return f"sign-in:{kind}:{address}:{digest}", f"sign-in:{kind}:{address}"


async def sign_in(session: AsyncSession, kind: str, login: str, password: str, client: Client,
                  find: Callable[[str], Awaitable[A | None]],
                  refuse: Callable[[], GullakError],
                  confirm: Callable[[A], None] | None = None) -> A:
    """The account whose login (trimmed, lower case) and password match, once `confirm`
    (second factor, account status) raised nothing.

    Every refusal looks the same (`refuse()`) and counts as a failure; a refusal from
    `confirm` counts only if it keeps changes (a wrong code does, a disabled account does
    not). An outdated hash (bcrypt, weaker argon2 parameters) is replaced on success.
    """
    key = login.strip().lower()
    per_login, per_address = throttle_keys(kind, key, client.ip)
    attempt = await system.attempt(session, [(per_login, PER_LOGIN),
                                             (per_address, PER_ADDRESS)])
    account = await find(key)
    stored = account.password_hash if account is not None else None
    # An unknown login costs a hash check too, so timing does not tell which logins exist.
    ok, rehashed = verify_password(stored or dummy_hash(), password)
    if account is None or stored is None or not ok:
        error = refuse()
        error.keep_changes = True  # the failure is counted
        raise error
    if confirm is not None:
        confirm(account)
    if rehashed:
        setattr(account, "password_hash", rehashed)  # noqa: B010  (read-only in Account)
    await system.forgive(session, attempt, reset=[per_login])
    return account
