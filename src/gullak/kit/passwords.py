"""Passwords: the one policy every account kind follows, and hashing.

Hashing is argon2id; bcrypt hashes carried over from older systems still verify and are
replaced by argon2id at the next successful sign-in.

The policy follows NIST SP 800-63B: length rather than composition rules, a list of passwords
known to be guessed first, and nothing derived from the login. Twelve characters is the
minimum: sign-in is throttled, but a leaked hash is attacked offline at whatever speed the
attacker affords, and twelve is what OWASP and the BSI now recommend for such passwords.
"""

from __future__ import annotations

import secrets

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gullak.kit.errors import InvalidInput

MIN_LENGTH = 12
# Long enough for any passphrase or manager-made password, short enough that hashing a
# posted body stays cheap.
MAX_LENGTH = 128

# Among the most used passwords in breach corpora that are at least MIN_LENGTH long (the
# shorter ones fail on length), compared without regard to case.
COMMON = frozenset({
    "000000000000", "111111111111", "123123123123", "123456789012", "1234567890123",
    "12345678901234", "123456123456", "1q2w3e4r5t6y", "1qaz2wsx3edc",
    "1qaz2wsx3edc4rfv", "aaaaaaaaaaaa", "abc123abc123", "abcd1234abcd", "abcdefghijkl",
    "admin1234567", "administrator", "adminadmin123", "asdfghjkl123", "baseball1234",
    "changeme1234", "football1234", "iloveyou1234", "iloveyouiloveyou", "letmein12345",
    "monkey123456", "p@ssw0rd1234", "passw0rd1234", "password1234", "password@123",
    "password12345", "passwordpassword", "qazwsxedcrfv", "qwerty123456", "qwertyqwerty",
    "qwertyuiop12", "qwertyuiop123", "qwertyuiopasdf", "superman1234", "trustno1trustno1",
    "welcome12345", "welcome@1234", "zaq12wsxcde3", "zxcvbnm12345", "gullakgullak",
    "gullak123456",
})


class WeakPassword(InvalidInput):
    code = "weak_password"
    title = "This password is too easy to guess"


def check_policy(password: str, *, logins: tuple[str | None, ...] = (),
                 field: str = "password") -> None:
    """Refuse a password that is too short, too long, common, or the account's own login
    (an email's local part counts too); `field` names the offending field."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Passwords need at least {MIN_LENGTH} characters.", field=field)
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Passwords may have at most {MAX_LENGTH} characters.", field=field)
    folded = password.casefold()
    if folded in COMMON:
        raise WeakPassword("This password is among the most commonly used.", field=field)
    for login in logins:
        if not login:
            continue
        login = login.strip().casefold()
        if folded in (login, login.partition("@")[0]):
            raise WeakPassword("The password may not be the login.", field=field)


_hasher = PasswordHasher()
_dummy: tuple[PasswordHasher, str] | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def dummy_hash() -> str:
    """A hash of no one's password, made with the current parameters: checking a password
    against it for an unknown login costs what checking a real one does."""
    global _dummy
    if _dummy is None or _dummy[0] is not _hasher:
        _dummy = (_hasher, _hasher.hash(secrets.token_urlsafe(16)))
    return _dummy[1]


def verify_password(stored: str, password: str) -> tuple[bool, str | None]:
    """(matches, new hash to store instead or None)."""
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        try:
            ok = bcrypt.checkpw(password.encode()[:72], stored.encode())
        except ValueError:
            return False, None
        return ok, (hash_password(password) if ok else None)
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, (hash_password(password) if _hasher.check_needs_rehash(stored) else None)
