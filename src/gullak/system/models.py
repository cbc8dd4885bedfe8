"""Bookkeeping of the platform itself."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base


class SeedRun(Base):
    """A demo data set that has been loaded, so `gullak run` loads each one once."""

    __tablename__ = "seed_runs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    applied_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class RateLimit(Base):
    """Hits per key and fixed window, when Redis is not configured."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
