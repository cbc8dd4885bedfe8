"""What the profiles do for their merchants: onboard them as an admin would, publish offers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.merchants import service as merchants
from gullak.merchants.schemas import DocumentIn, Status
from gullak.offers import service as offers
from gullak.offers.schemas import OfferIn


async def go_live(session: AsyncSession, merchant_id: uuid.UUID, slug: str,
                  document: str = "shop_license") -> None:
    """Onboard a new merchant as an admin would: its document verified, then live."""
    uploaded = await merchants.add_document(session, merchant_id, DocumentIn(
        document_type=document, number=f"{document[:3].upper()}-{slug[:20]}",
        file_url=f"https://files.example/{slug}/{document}.pdf"), None)
    await merchants.set_status(session, merchant_id, Status.documents_submitted, None, None)
    await merchants.review_document(session, merchant_id, uploaded.id, True, None, None)
    await merchants.set_status(session, merchant_id, Status.verified, None, None)
    await merchants.set_status(session, merchant_id, Status.live, None, None)


async def publish_offers(session: AsyncSession, merchant_id: uuid.UUID, category: uuid.UUID,
                         terms: list[dict[str, Any]], *, start: dt.datetime,
                         days: int) -> None:
    """Each offer created, submitted and approved, live from `start` for `days`."""
    for item in terms:
        offer = await offers.create_offer(session, merchant_id, OfferIn(
            valid_from=start, valid_until=start + dt.timedelta(days=days),
            category_id=category, **item), None)
        await offers.transition(session, offer.id, "submit", None)
        await offers.transition(session, offer.id, "approve", None)
