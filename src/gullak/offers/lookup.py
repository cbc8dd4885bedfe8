"""Finding one offer, for the service and its parts (tracking, listings)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.offers import errors
from gullak.offers.models import Offer
from gullak.offers.schemas import OfferOut, PublicOfferOut

# What users may open: an offer under review, a draft or a rejected one is not found.
PUBLIC_STATUSES = ("active", "paused", "expired")


def offer_out(offer: Offer) -> OfferOut:
    return OfferOut.model_validate(offer)


def public_out(offer: Offer | OfferOut, at: dt.datetime | None = None) -> PublicOfferOut:
    out = PublicOfferOut.model_validate(offer, from_attributes=True)
    boosted = offer.boosted_until is not None and offer.boosted_until > (at or clock.now())
    return out.model_copy(update={"boosted": boosted})


async def offer(session: AsyncSession, offer_id: uuid.UUID, merchant_id: uuid.UUID | None,
                *, lock: bool = False) -> Offer:
    """The offer; for a merchant's user (`merchant_id`), only one of that merchant's."""
    found = await session.get(Offer, offer_id, with_for_update=lock or None,
                              populate_existing=lock)
    if found is None or (merchant_id is not None and found.merchant_id != merchant_id):
        raise errors.OfferNotFound()
    return found


async def public(session: AsyncSession, offer_id: uuid.UUID) -> Offer:
    found = await session.get(Offer, offer_id)
    if found is None or found.status not in PUBLIC_STATUSES:
        raise errors.OfferNotFound()
    return found
