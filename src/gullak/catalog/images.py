"""Product images: added, removed and reordered, positions kept without gaps."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import errors
from gullak.catalog.common import as_json, product, record
from gullak.catalog.models import ProductImage
from gullak.catalog.products import product_out
from gullak.catalog.schemas import ImageIn, ImageOut, ProductOut
from gullak.kit.errors import InvalidInput
from gullak.kit.security import Subject


async def add_image(session: AsyncSession, product_id: uuid.UUID, data: ImageIn,
                    actor: Subject | None, *,
                    merchant_id: uuid.UUID | None = None) -> ProductOut:
    row = await product(session, product_id, merchant_id, lock=True)
    count = await session.scalar(select(func.count()).where(
        ProductImage.product_id == row.id)) or 0
    if count >= 30:
        raise InvalidInput("A product has at most 30 images.", code="too_many_images")
    image = ProductImage(product_id=row.id, url=data.url, alt=data.alt, position=count)
    session.add(image)
    await session.flush()
    await record(session, actor, "product.image_add", "product", row.id,
                 after=as_json(ImageOut.model_validate(image)))
    return await product_out(session, row)


async def _renumber(session: AsyncSession, product_id: uuid.UUID,
                    order: Sequence[uuid.UUID]) -> None:
    # Two steps (out of the way, then into place), so that the unique (product, position)
    # never sees two images at one place.
    await session.execute(text(
        "UPDATE product_images SET position = position + 1000 WHERE product_id = :p"),
        {"p": product_id})
    await session.execute(text(
        "UPDATE product_images i SET position = o.n - 1"
        " FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS o(id, n)"
        " WHERE i.id = o.id AND i.product_id = :p"), {"p": product_id, "ids": list(order)})


async def _image_ids(session: AsyncSession, product_id: uuid.UUID) -> list[uuid.UUID]:
    return list(await session.scalars(select(ProductImage.id).where(
        ProductImage.product_id == product_id).order_by(ProductImage.position)))


async def remove_image(session: AsyncSession, product_id: uuid.UUID, image_id: uuid.UUID,
                       actor: Subject | None, *,
                       merchant_id: uuid.UUID | None = None) -> ProductOut:
    row = await product(session, product_id, merchant_id, lock=True)
    image = await session.scalar(select(ProductImage).where(
        ProductImage.id == image_id, ProductImage.product_id == row.id))
    if image is None:
        raise errors.ImageNotFound()
    before = ImageOut.model_validate(image)
    await session.delete(image)
    await session.flush()
    await _renumber(session, row.id, await _image_ids(session, row.id))
    await record(session, actor, "product.image_remove", "product", row.id, before=as_json(before))
    return await product_out(session, row)


async def reorder_images(session: AsyncSession, product_id: uuid.UUID,
                         image_ids: Sequence[uuid.UUID], actor: Subject | None, *,
                         merchant_id: uuid.UUID | None = None) -> ProductOut:
    row = await product(session, product_id, merchant_id, lock=True)
    current = await _image_ids(session, row.id)
    if len(image_ids) != len(set(image_ids)) or set(image_ids) != set(current):
        raise errors.InvalidReorder(field="image_ids")
    await _renumber(session, row.id, image_ids)
    await record(session, actor, "product.images_reorder", "product", row.id,
                 before=[str(i) for i in current], after=[str(i) for i in image_ids])
    return await product_out(session, row)

