"""Loyalty commands and queries, the domain's public face: tiers (tiers.py), privé
(prive.py), achievements and streaks (achievements.py), and the handlers of other domains'
events. Services never commit; the caller's unit of work does.

What counts: a completed purchase order counts its total less what was refunded as 'spent'
(INR paise) and one 'orders_completed'; a confirmed reward counts its amount as 'earned'.
Each is reported once per reference, so an event told twice counts once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.events import Event
from gullak.loyalty.achievements import (
    Report,
    create_achievement,
    list_achievements,
    my_achievements,
    report,
    report_many,
)
from gullak.loyalty.models import LoyaltyTier, UserLoyalty
from gullak.loyalty.prive import (
    add_partner,
    cancel,
    create_plan,
    expire_due,
    list_plans,
    my_prive,
    payment_failed,
    payment_succeeded,
    prive_benefit,
    renew_due,
    subscribe,
    user_subscriptions,
)
from gullak.loyalty.tiers import (
    create_tier,
    figure,
    list_tiers,
    multipliers,
    my_tier,
    review,
    set_tier,
    tier_of,
    update_tier,
    user_loyalty,
)

__all__ = [
    "Report", "add_partner", "cancel", "create_achievement", "create_plan", "create_tier", "expire_due",
    "figure", "list_achievements", "list_plans", "list_tiers", "multipliers", "my_achievements", "my_prive",
    "my_tier", "order_status_changed", "payment_failed", "payment_succeeded", "prive_benefit",
    "renew_due", "report", "report_many", "review", "reward_confirmed", "set_tier", "subscribe", "tier_of",
    "update_tier", "user_loyalty", "user_subscriptions",
]
SPENT_CURRENCY = "INR"


def _user(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def order_status_changed(session: AsyncSession, event: Event) -> None:
    data = event.data
    if data.get("to_status") != "completed" or data.get("kind") != "purchase":
        return
    user_id = _user(data.get("user_id"))
    if user_id is None:
        return
    reference = f"order:{data.get('order_id')}"
    await report(session, user_id, "orders_completed", 1, reference=reference)
    total, refunded = data.get("total"), data.get("refunded") or 0
    if data.get("currency") == SPENT_CURRENCY and type(total) is int and type(refunded) is int:
        await report(session, user_id, "spent", max(total - refunded, 0), reference=reference)


async def reward_confirmed(session: AsyncSession, event: Event) -> None:
    data = event.data
    user_id, amount = _user(data.get("user_id")), data.get("amount")
    if user_id is None or type(amount) is not int or amount <= 0:
        return
    await report(session, user_id, "earned", amount, reference=f"reward:{data.get('reward_id')}")


# -- segments: who is in a tier, as a statement another domain combines (campaigns) -----------

def users_in_tiers(codes: Sequence[str],
                   among: Select[uuid.UUID]) -> Select[uuid.UUID]:
    """The users of `among` whose tier now is one of `codes`; a user never ranked is in the
    lowest active tier, as `tier_of` says."""
    people = among.subquery()
    user_id = people.c[0]
    lowest = (select(LoyaltyTier.code).where(LoyaltyTier.active).order_by(LoyaltyTier.rank)
              .limit(1).scalar_subquery())
    return (select(user_id).select_from(people)
            .outerjoin(UserLoyalty, UserLoyalty.user_id == user_id)
            .where(func.coalesce(UserLoyalty.tier_code, lowest).in_(list(codes))))
