"""Merchants demo data."""

from __future__ import annotations
