"""Re-sealing encrypted columns under the current key, after a key was added in front."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.crypto import Keyring


@dataclass(frozen=True)
class Sealed:
    table: str
    column: str
    context: str


async def reseal(session: AsyncSession, ring: Keyring, columns: list[Sealed]) -> int:
    """Re-seal every value of `columns` that an older key sealed; returns how many."""
    changed = 0
    for c in columns:
        rows = (await session.execute(text(
            f"SELECT id, {c.column} AS value FROM {c.table} WHERE {c.column} IS NOT NULL"
            f" FOR UPDATE"))).all()
        for row in rows:
            if ring.needs_rotation(row.value):
                await session.execute(
                    text(f"UPDATE {c.table} SET {c.column} = :v WHERE id = :id"),
                    {"v": ring.rotate(row.value, context=c.context), "id": row.id})
                changed += 1
    return changed
