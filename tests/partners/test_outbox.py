"""The outbox: a status change of a partner's order writes exactly one event and one delivery
job in the change's own transaction; a rolled-back change writes neither; orders no partner
placed write nothing."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit.security import Subject
from gullak.orders import flows as orders
from gullak.orders.flows import Policy
from gullak.orders.schemas import OrderIn
from gullak.partners import flows, service
from gullak.partners.schemas import PartnerOrderIn
from gullak.settings import Settings
from tests.orders.support import Shop, fund, order_body
from tests.partners.support import count, make_partner

ADMIN = Subject("admin", uuid.uuid4(), frozenset({"orders.manage", "orders.read"}))
EVENTS = "SELECT count(*) FROM partner_events"
JOBS = "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'partners.deliver'"


async def test_each_status_change_writes_one_event_in_its_own_transaction(
        session: AsyncSession, connection: AsyncConnection, settings: Settings,
        shop: Shop) -> None:
    partner = await make_partner(session, settings, url="http://127.0.0.1:9/hooks")
    user = uuid.uuid4()
    await fund(session, user, "INR", 100_000)
    link, _ = await service.link(session, user, partner.id)
    actor = Subject("service", partner.id, frozenset({f"partner:{partner.id}"}))
    placed, _ = await flows.place(session, actor, partner.id, PartnerOrderIn(
        **order_body(shop, (shop.dosa, 1)), external_ref="O-1", link_id=link.id),
        Policy.of(settings))
    # Placing moved the order twice (created, paid): one event each, in their order.
    assert await count(connection, EVENTS) == 2
    events, jobs = await count(connection, EVENTS), await count(connection, JOBS)
    await orders.advance(session, placed.order.id, "confirm", ADMIN)
    assert (await count(connection, EVENTS), await count(connection, JOBS)) == \
        (events + 1, jobs + 1)
    payload = (await service_events(connection))[-1]
    assert payload["data"] | {"at": None} == {
        "order_id": str(placed.order.id), "order_number": placed.order.number,
        "external_ref": "O-1", "sequence": 3, "from_status": "paid",
        "to_status": "confirmed", "reason": None, "at": None}
    # A change that is rolled back leaves neither its event nor its job.
    savepoint = await session.begin_nested()
    await orders.advance(session, placed.order.id, "ready", ADMIN)
    assert await count(connection, EVENTS) == events + 2
    await savepoint.rollback()
    assert (await count(connection, EVENTS), await count(connection, JOBS)) == \
        (events + 1, jobs + 1)


async def test_orders_no_partner_placed_write_no_event(
        session: AsyncSession, connection: AsyncConnection, settings: Settings,
        shop: Shop) -> None:
    await make_partner(session, settings, url="http://127.0.0.1:9/hooks")
    user = uuid.uuid4()
    await fund(session, user, "INR", 100_000)
    placed, _ = await orders.place_order(session, Subject("user", user),
                                         OrderIn(**order_body(shop, (shop.dosa, 1))),
                                         Policy.of(settings))
    await orders.advance(session, placed.id, "confirm", ADMIN)
    assert (await count(connection, EVENTS), await count(connection, JOBS)) == (0, 0)


async def service_events(connection: AsyncConnection) -> list[dict[str, Any]]:
    rows = await connection.scalars(text(
        "SELECT payload FROM partner_events ORDER BY partner_order_id, sequence"))
    return list(rows)
