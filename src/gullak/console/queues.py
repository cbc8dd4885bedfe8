"""The work queues: what waits for an admin's decision, each counted on the menu. A queue is
a table of its waiting items (oldest first), a page per item, and the decisions, each made
through its domain's service after the permission its API route asks for. Refusals (a
maker approving their own withdrawal, an item decided meanwhile) are error pages, and the
unit of work rolls back whatever the decision had begun.

The queues live by what they decide on: `queue_supply` (merchant onboarding, offers, flagged
reviews), `queue_people` (KYC, step validations, support tickets, risk events) and
`queue_money` (withdrawals); this router mounts them under /console/queues and holds the
counts the menu shows."""

from __future__ import annotations

from fastapi import APIRouter

from gullak.activity import service as activity
from gullak.console import queue_money, queue_people, queue_supply
from gullak.console.menu import Counter
from gullak.console.queue_common import BASE
from gullak.console.web import ConsoleRoute
from gullak.identity import service as identity
from gullak.merchants import service as merchants
from gullak.offers import service as offers
from gullak.payouts import service as payouts
from gullak.risk import service as risk
from gullak.support import service as support

router = APIRouter(prefix=BASE, route_class=ConsoleRoute, include_in_schema=False)
for part in (queue_supply, queue_people, queue_money):
    router.include_router(part.router)

COUNTS: dict[str, Counter] = {
    "merchants": lambda page: merchants.count_onboarding(page.session),
    "offers": lambda page: offers.count_offers(page.session, "pending"),
    "kyc": lambda page: identity.count_kyc(page.session, "pending"),
    "steps": lambda page: activity.count_step_reviews(page.session),
    "withdrawals": lambda page: payouts.count_withdrawal_queue(page.session),
    "reviews": lambda page: merchants.count_flagged_reviews(page.session),
    "tickets": lambda page: support.count_ticket_queue(page.session),
    "risk": lambda page: risk.count_risk_queue(page.session),
}
