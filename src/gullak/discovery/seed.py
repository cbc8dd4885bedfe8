"""Discovery demo data: none of its own; the spelling dictionary is built from the demo
catalogue as soon as it is loaded, not ten minutes later."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.discovery import service
from gullak.kit.demo import DataSet


async def build_dictionary(session: AsyncSession) -> None:
    await service.refresh_terms(session)


DATA_SETS = (DataSet("search-dictionary", build_dictionary,
                     needs=("merchants", "catalog", "offers"), rebuild=True),)
