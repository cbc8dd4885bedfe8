"""Readiness: the database answers and its schema is at the migrations' head."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gullak.db import migrate


@dataclass
class Readiness:
    database: bool
    migrations: bool
    current: list[str]
    head: list[str]

    @property
    def ready(self) -> bool:
        return self.database and self.migrations


async def readiness(engine: AsyncEngine) -> Readiness:
    head = sorted(migrate.heads())
    try:
        async with engine.connect() as conn:
            # A database never migrated has no alembic_version table: not ready, not an error.
            exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all() \
                if exists else []
    except Exception:
        return Readiness(database=False, migrations=False, current=[], head=head)
    current = sorted(r[0] for r in rows)
    return Readiness(database=True, migrations=current == head, current=current, head=head)
