"""Cashback commands and queries."""

from __future__ import annotations


