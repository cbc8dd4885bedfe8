"""Small helpers shared by the catalog's service modules."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import errors
from gullak.catalog.models import Product
from gullak.kit import audit
from gullak.kit.security import Subject


async def record(session: AsyncSession, actor: Subject | None, action: str, entity: str,
                 entity_id: uuid.UUID, before: Any = None, after: Any = None) -> None:
    """Audit a write by an admin, a merchant user or a service client (not by the system)."""
    if actor is not None and audit.worth_auditing(actor):
        await audit.record(session, actor, action, entity, str(entity_id),
                           before=before, after=after)


def as_json(model: Any) -> Any:
    return model.model_dump(mode="json") if model is not None else None


def slugify(value: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    return slug[:100].strip("-") or "item"


async def product(session: AsyncSession, product_id: uuid.UUID,
                  merchant_id: uuid.UUID | None = None, *, lock: bool = False) -> Product:
    """The product; another merchant's product is reported as missing, never as forbidden."""
    query = select(Product).where(Product.id == product_id)
    if merchant_id is not None:
        query = query.where(Product.merchant_id == merchant_id)
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise errors.ProductNotFound()
    return row


async def free_slug(session: AsyncSession, merchant_id: uuid.UUID, slug: str,
                    own_id: uuid.UUID | None = None) -> bool:
    taken = await session.scalar(select(Product.id).where(Product.merchant_id == merchant_id,
                                                          Product.slug == slug))
    return taken is None or taken == own_id


async def slug_for(session: AsyncSession, merchant_id: uuid.UUID, name: str, sku: str) -> str:
    """A free slug from the name, or from the name and SKU when the name's is taken."""
    base = slugify(name)
    if await free_slug(session, merchant_id, base):
        return base
    return f"{base}-{slugify(sku)}"[:120]
