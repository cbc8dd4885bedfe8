"""Engagement demo data."""

from __future__ import annotations

from typing import Any

DATA_SETS: tuple[Any, ...] = ()
