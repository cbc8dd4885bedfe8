from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.crypto import Keyring, mask
from gullak.kit.rotation import Sealed, reseal


def test_seal_and_open_with_context() -> None:
    ring = Keyring(["k1"])
    sealed = ring.seal("ABCDE1234F", context="kyc.pan")
    assert "ABCDE1234F" not in sealed
    assert ring.seal("ABCDE1234F", context="kyc.pan") != sealed  # a fresh nonce each time
    assert ring.open(sealed, context="kyc.pan") == "ABCDE1234F"
    with pytest.raises(InvalidTag):  # moved to another column, it does not open
        ring.open(sealed, context="kyc.bank_account")


def test_tampering_is_detected() -> None:
    ring = Keyring(["k1"])
    sealed = ring.seal("secret")
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises((InvalidTag, ValueError)):
        ring.open(flipped)


def test_rotation_keeps_old_values_readable() -> None:
    old = Keyring(["old"])
    sealed = old.seal("1234567890")
    new = Keyring(["new", "old"])
    assert new.open(sealed) == "1234567890"
    assert new.needs_rotation(sealed)
    rotated = new.rotate(sealed)
    assert not new.needs_rotation(rotated)
    with pytest.raises(ValueError):
        Keyring(["new"]).open(sealed)  # the old key is needed until everything is re-sealed


def test_mask() -> None:
    assert mask("123456789012") == "XXXXXXXX9012"
    assert mask("12") == "XX"


async def test_reseal_rewrites_only_what_an_older_key_sealed(session: AsyncSession) -> None:
    await session.execute(text("CREATE TEMP TABLE sealed_probe (id int PRIMARY KEY, v text)"))
    old, new = Keyring(["old"]), Keyring(["new", "old"])
    await session.execute(text("INSERT INTO sealed_probe VALUES (1, :a), (2, :b), (3, NULL)"),
                          {"a": old.seal("one", context="c"), "b": new.seal("two", context="c")})
    changed = await reseal(session, new, [Sealed("sealed_probe", "v", "c")])
    assert changed == 1
    rows = dict((await session.execute(text("SELECT id, v FROM sealed_probe"))).all())
    assert Keyring(["new"]).open(rows[1], context="c") == "one"
    assert Keyring(["new"]).open(rows[2], context="c") == "two"
    assert rows[3] is None
