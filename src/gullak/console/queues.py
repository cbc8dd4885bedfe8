"""The work queues: what waits for an admin's decision, each counted on the menu. A queue is
a table of its waiting items (oldest first), a page per item, and the decisions, each made
through its domain's service after the permission its API route asks for. Refusals (a
maker approving their own withdrawal, an item decided meanwhile) are error pages, and the
unit of work rolls back whatever the decision had begun.

The queues live by what they decide on: `queue_supply` (merchant onboarding, offers, flagged
reviews), `queue_people` (KYC, step validations, support tickets, risk events) and
`queue_money` (withdrawals); this router mounts them under /console/queues. The counts
beside their names on the menu are `menu.COUNTS`."""

from __future__ import annotations

from fastapi import APIRouter

from gullak.console import queue_money, queue_people, queue_supply
from gullak.console.queue_common import BASE
from gullak.console.web import ConsoleRoute

router = APIRouter(prefix=BASE, route_class=ConsoleRoute, include_in_schema=False)
for part in (queue_supply, queue_people, queue_money):
    router.include_router(part.router)
