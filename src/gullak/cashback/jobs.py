"""Cashback background work."""

from __future__ import annotations
