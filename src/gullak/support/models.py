"""The support domain's tables."""

from __future__ import annotations
