"""Loyalty errors, each with a stable code."""

from __future__ import annotations
