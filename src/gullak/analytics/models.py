"""The analytics domain's tables."""

from __future__ import annotations
