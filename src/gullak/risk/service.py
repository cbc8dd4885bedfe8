"""Risk commands and queries, the domain's public face: the handlers of the facts that the
rules score (rules.py), what is kept and who is refused (enforcement.py), and the back
office's review and lifting of blocks (review.py). Services never commit; the caller's unit
of work does (except the one short transaction of a refusing block, see enforcement.py).

A sign-in (`user.signed_in`), a redemption (`offer.redeemed`) and a withdrawal
(`withdrawal.requested`) are refused for a blocked user; these and a sign-up (`user.signed_up`)
are refused when their own finding blocks the user.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.browse import Browse, Page
from gullak.kit.events import Event
from gullak.risk import rules
from gullak.risk.enforcement import act, blocked, guard
from gullak.risk.review import get_event, lift, list_blocks, list_events, review
from gullak.settings import get_settings
from gullak.kit.browse import page
from gullak.risk.models import RiskEvent
from gullak.risk.schemas import RiskEventOut

__all__ = ["blocked", "get_event", "guard", "lift", "list_blocks", "list_events", "review",
           "offer_redeemed", "user_signed_in", "user_signed_up", "withdrawal_requested"]


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return str(value)[:200] if value else None


async def user_signed_in(session: AsyncSession, event: Event) -> None:
    user_id = _uuid(event.data.get("user_id"))
    if user_id is None:
        return
    await guard(session, user_id)
    settings, now = get_settings(), clock.now()
    device, new_device = _text(event.data.get("device_id")), bool(event.data.get("new_device"))
    found = [await rules.sign_in(session, settings, user_id, device, new_device,
                                 _text(event.data.get("city")), now)]
    if new_device:  # an account on a device it used before is counted already
        found.append(await rules.device_accounts(session, settings, user_id, device))
    await act(session, settings, user_id, [f for f in found if f])


async def user_signed_up(session: AsyncSession, event: Event) -> None:
    user_id = _uuid(event.data.get("user_id"))
    if user_id is None:
        return
    settings = get_settings()
    found = [await rules.device_accounts(session, settings, user_id,
                                         _text(event.data.get("device_id")))]
    if event.data.get("referred_by_id"):
        found.append(await rules.referral_ring(session, settings, user_id))
    await act(session, settings, user_id, [f for f in found if f])


async def offer_redeemed(session: AsyncSession, event: Event) -> None:
    user_id = _uuid(event.data.get("user_id"))
    if user_id is None:
        return
    await guard(session, user_id)
    settings = get_settings()
    found = await rules.redemption_velocity(session, settings, user_id,
                                            str(event.data.get("redemption_id")), clock.now())
    await act(session, settings, user_id, [found] if found else [])


async def withdrawal_requested(session: AsyncSession, event: Event) -> None:
    user_id = _uuid(event.data.get("owner_id"))
    if event.data.get("owner_type") != "user" or user_id is None:
        return
    await guard(session, user_id)
    if event.data.get("purpose", "withdrawal") != "withdrawal":
        return
    settings = get_settings()
    found = await rules.withdrawal(session, settings, user_id,
                                   str(event.data.get("withdrawal_id")),
                                   str(event.data.get("asset_code")),
                                   int(event.data.get("amount") or 0), clock.now())
    await act(session, settings, user_id, found)


# -- the console: the review queue ------------------------------------------------------------

async def browse_risk_queue(session: AsyncSession, browse: Browse, *,
                            status: str | None = "pending", rule: str | None = None) -> Page:
    """Risk events (pending by default), a keyset page sortable by score or created_at; rows
    are RiskEventOut."""
    from sqlalchemy import select


    query = select(RiskEvent)
    if status is not None:
        query = query.where(RiskEvent.status == status)
    if rule is not None:
        query = query.where(RiskEvent.rule == rule)
    found = await page(session, query, browse, RiskEvent.id,
                       {"score": RiskEvent.score, "created_at": RiskEvent.created_at})
    return Page([RiskEventOut.model_validate(r) for r in found.rows], found.next_cursor)


async def count_risk_queue(session: AsyncSession) -> int:
    from sqlalchemy import func, select


    found = await session.scalar(select(func.count()).select_from(RiskEvent).where(
        RiskEvent.status == "pending"))
    return int(found or 0)
