"""Imports every domain's models so that `Base.metadata` knows all tables."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from gullak.db.base import Base

# Each domain with tables adds its models module here.
MODEL_MODULES: tuple[str, ...] = (
    "gullak.system.models",
    "gullak.ledger.models",
    "gullak.identity.models",
    "gullak.access.models",
    "gullak.merchants.models",
    "gullak.catalog.models",
    "gullak.offers.models",
    "gullak.discovery.models",
)


def metadata() -> MetaData:
    for module in MODEL_MODULES:
        importlib.import_module(module)
    return Base.metadata
