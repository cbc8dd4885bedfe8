"""Cheap password hashing for tests that create many users."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from gullak.kit import passwords


def hash_cheaply(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with the smallest cost: production's costs about 0.4 s per hash and is the
    point there only. A check reads the parameters from the stored hash, so hashes made
    either way are still checked."""
    monkeypatch.setattr(passwords, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
