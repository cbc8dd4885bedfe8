"""The console's menu: every admin page, the permission that shows it, and the queues whose
open items are counted beside their name. A page is listed only to an admin who may open it,
and the page itself refuses anyone else (web.Page.require)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import service as activity
from gullak.identity import service as identity
from gullak.merchants import service as merchants
from gullak.offers import service as offers
from gullak.payouts import service as payouts
from gullak.risk import service as risk
from gullak.support import service as support


@dataclass(frozen=True)
class Item:
    section: str
    label: str
    path: str
    permission: str  # "": any signed-in account of the portal
    count: str | None = None  # a key of COUNTS


ITEMS: tuple[Item, ...] = (
    Item("Overview", "Dashboard", "/console", ""),
    Item("Queues", "Merchant onboarding", "/console/queues/merchants", "merchants.review",
         "merchants"),
    Item("Queues", "Offers to approve", "/console/queues/offers", "offers.review", "offers"),
    Item("Queues", "KYC reviews", "/console/queues/kyc", "kyc.review", "kyc"),
    Item("Queues", "Step validations", "/console/queues/steps", "activity.review", "steps"),
    Item("Queues", "Withdrawals", "/console/queues/withdrawals", "payouts.review",
         "withdrawals"),
    Item("Queues", "Flagged reviews", "/console/queues/reviews", "reviews.moderate", "reviews"),
    Item("Queues", "Support tickets", "/console/queues/tickets", "support.read", "tickets"),
    Item("Queues", "Risk events", "/console/queues/risk", "risk.read", "risk"),
    Item("People", "Users", "/console/users", "users.read"),
    Item("Money", "Ledger", "/console/ledger", "ledger.read"),
    Item("Money", "Orders", "/console/orders", "orders.read"),
    Item("Money", "Settlements", "/console/settlements", "payouts.read"),
    Item("Money", "Gift cards", "/console/giftcards", "giftcards.read"),
    Item("Supply", "Merchants", "/console/merchants", "merchants.read"),
    Item("Supply", "Categories", "/console/catalog", "catalog.manage"),
    Item("Supply", "Products", "/console/catalog/products", "catalog.products"),
    Item("Supply", "Catalog events", "/console/catalog/events", "events.manage"),
    Item("Supply", "Offers", "/console/offers", "offers.read"),
    Item("Growth", "Campaigns", "/console/campaigns", "campaigns.read"),
    Item("Growth", "Segments", "/console/segments", "campaigns.read"),
    Item("Growth", "Reward rules", "/console/rules", "rewards.read"),
    Item("Growth", "Tiers", "/console/tiers", "loyalty.read"),
    Item("Growth", "Notification templates", "/console/templates", "notifications.manage"),
    Item("System", "Admins", "/console/admins", "admins.manage"),
    Item("System", "Roles", "/console/roles", "roles.manage"),
    Item("System", "Departments", "/console/departments", "admins.manage"),
    Item("System", "Settings", "/console/settings", "settings.manage"),
    Item("System", "Feature flags", "/console/flags", "settings.manage"),
    Item("System", "Audit log", "/console/audit", "audit.read"),
    Item("System", "Database", "/console/system", "system.read"),
)

MERCHANT_ITEMS: tuple[Item, ...] = (
    Item("Shop", "Overview", "/merchant", "merchant.read"),
    Item("Shop", "Outlets", "/merchant/outlets", "merchant.read"),
    Item("Shop", "Products", "/merchant/products", "merchant.read"),
    Item("Shop", "Offers", "/merchant/offers", "merchant.read"),
    Item("Sales", "Orders", "/merchant/orders", "merchant.orders.read"),
    Item("Sales", "Redemptions", "/merchant/redemptions", "merchant.read"),
    Item("Sales", "Reviews", "/merchant/reviews", "merchant.read"),
    Item("Sales", "Settlements", "/merchant/settlements", "merchant.read"),
    Item("Team", "Users", "/merchant/users", "merchant.users.manage"),
)

Counter = Callable[[AsyncSession], Awaitable[int]]
Can = Callable[[str], bool]

# Open items of each queue (indexed counts of a status, through the domains' services).
COUNTS: dict[str, Counter] = {
    "merchants": merchants.count_onboarding,
    "offers": lambda session: offers.count_offers(session, "pending"),
    "kyc": lambda session: identity.count_kyc(session, "pending"),
    "steps": activity.count_step_reviews,
    "withdrawals": payouts.count_withdrawal_queue,
    "reviews": merchants.count_flagged_reviews,
    "tickets": support.count_ticket_queue,
    "risk": risk.count_risk_queue,
}


def visible(portal: str, can: Can) -> list[tuple[str, list[Item]]]:
    """The menu's sections, each with the items this account may open."""
    items = ITEMS if portal == "console" else MERCHANT_ITEMS
    sections: dict[str, list[Item]] = {}
    for item in items:
        if not item.permission or can(item.permission):
            sections.setdefault(item.section, []).append(item)
    return list(sections.items())


# The queues' counts, kept a few seconds: eight counts were a quarter of a page's time
# (py-spy, docs/console.md). A write through this process's console drops them, so an admin
# sees their own decision at once; other processes' decisions show within COUNTS_TTL.
COUNTS_TTL = 5.0
_counted: dict[str, tuple[float, int]] = {}


async def counts(session: AsyncSession, can: Can) -> dict[str, int]:
    """Open items of each queue this admin may work on."""
    now, shown = time.monotonic(), {}
    for item in ITEMS:
        if not item.count or not can(item.permission):
            continue
        kept = _counted.get(item.count)
        if kept is None or kept[0] <= now:
            kept = (now + COUNTS_TTL, await COUNTS[item.count](session))
            _counted[item.count] = kept
        shown[item.count] = kept[1]
    return shown


def forget_counts() -> None:
    """After a write: the next page counts afresh."""
    _counted.clear()
