"""Each test's data lives in its own rolled-back transaction: the queues' counts kept by the
process for a few seconds (console/menu.py) must not carry over from one test to the next."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gullak.console import menu


@pytest.fixture(autouse=True)
def _fresh_counts() -> Iterator[None]:
    menu.forget_counts()
    yield
    menu.forget_counts()
