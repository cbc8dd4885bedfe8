"""Password hashing: argon2id; bcrypt hashes carried over from older systems still verify and
are replaced by argon2id at the next successful login."""

from __future__ import annotations

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


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
