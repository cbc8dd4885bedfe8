from __future__ import annotations

import datetime as dt
import os
import uuid

from hypothesis import given
from hypothesis import strategies as st

from gullak.kit import clock
from gullak.kit.ids import uuid7


def test_uuid7_is_version_7_and_increasing() -> None:
    ids = [uuid7() for _ in range(5000)]
    assert all(u.version == 7 and u.variant == "specified in RFC 4122" for u in ids)
    assert ids == sorted(ids, key=lambda u: u.int)
    assert len(set(ids)) == len(ids)


def test_uuid7_carries_the_time() -> None:
    before = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    ms = uuid7().int >> 80
    assert before - 5 <= ms <= before + 1000


@given(st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=3650)))
def test_clock_advance(delta: dt.timedelta) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    clock.freeze(start)
    clock.advance(delta)
    assert clock.now() == start + delta
    clock.reset()
    assert abs(clock.now() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)


def test_a_forked_process_makes_ids_of_its_own() -> None:
    """The randomness read ahead is not shared with a child: its ids differ from the
    parent's in their random bits, not only in their time."""
    uuid7()  # the parent has bytes read ahead
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then out
        os.write(writer, b"".join(uuid7().bytes for _ in range(3)))
        os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    data = os.read(reader, 48)
    os.close(reader)
    child = [uuid.UUID(bytes=data[i:i + 16]) for i in range(0, 48, 16)]
    mine = [uuid7() for _ in range(3)]
    random_bits = (1 << 62) - 1
    assert {u.int & random_bits for u in child}.isdisjoint({u.int & random_bits for u in mine})
