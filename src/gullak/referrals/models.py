"""Referrals tables."""

from __future__ import annotations

from gullak.db.base import Base  # noqa: F401
