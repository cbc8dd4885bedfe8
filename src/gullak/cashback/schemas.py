"""Cashback shapes."""

from __future__ import annotations
