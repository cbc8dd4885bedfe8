"""Delivering webhooks to a real HTTP server on 127.0.0.1: signed as documented (checked by a
verifier written here from the scheme), retried with exponential backoff, failed after the
last attempt, kept in order per order, replayed as a new series, and run by the real worker.
Each test has a database of its own: delivery commits between its units of work."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from gullak import worker
from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.kit.security import Subject
from gullak.orders import flows as orders
from gullak.orders.flows import Policy
from gullak.partners import delivery, flows, service
from gullak.partners.schemas import PartnerCreatedOut, PartnerOrderIn
from gullak.settings import Settings, get_settings
from tests.helpers.http import strict_client
from tests.orders.support import fund, make_shop, order_body
from tests.partners.support import Receiver, basic, make_partner, receiver, signature_ok

ADMIN = Subject("admin", uuid.uuid4(), frozenset({"orders.manage", "orders.read"}))


@dataclass
class Placed:
    partner: PartnerCreatedOut
    partner_order_id: uuid.UUID
    order_id: uuid.UUID


async def place(db: Database, settings: Settings, url: str, ref: str = "W-1") -> Placed:
    """A partner order, committed: its placement wrote two events (created, paid)."""
    async with unit_of_work(db) as session:
        shop = await make_shop(session)
        partner = await make_partner(session, settings, url=url)
        user = uuid.uuid4()
        await fund(session, user, "INR", 100_000)
        link, _ = await service.link(session, user, partner.id)
        actor = Subject("service", partner.id, frozenset({f"partner:{partner.id}"}))
        out, _ = await flows.place(session, actor, partner.id, PartnerOrderIn(
            **order_body(shop, (shop.dosa, 1)), external_ref=ref, link_id=link.id),
            Policy.of(settings))
        row = await session.scalar(text(
            "SELECT id FROM partner_orders WHERE order_id = :o"), {"o": out.order.id})
    return Placed(partner, row, out.order.id)


async def rows(db: Database, sql: str, **params: object) -> list[tuple[object, ...]]:
    async with db.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(sql), params)]


EVENTS = "SELECT sequence, status, attempts, series FROM partner_events ORDER BY sequence"
LOG = ("SELECT e.sequence, d.series, d.attempt, d.status_code FROM partner_deliveries d"
       " JOIN partner_events e ON e.id = d.event_id ORDER BY d.at, d.id")


def check_signed(got: Receiver, secret: str) -> None:
    now = int(clock.now().timestamp())
    for request in got.received:
        assert signature_ok(request.headers["gullak-signature"], request.body, secret, now)
        assert request.headers["gullak-event-id"] == request.json()["id"]
        # A changed body, another secret or an old timestamp are refused by the same check.
        assert not signature_ok(request.headers["gullak-signature"], request.body + b" ",
                                secret, now)
        assert not signature_ok(request.headers["gullak-signature"], request.body,
                                secret + "x", now)
        assert not signature_ok(request.headers["gullak-signature"], request.body, secret,
                                now + 301)


async def test_events_are_delivered_signed_and_in_order(fresh_db: Database,
                                                        settings: Settings) -> None:
    async with receiver(200) as got:
        placed = await place(fresh_db, settings, got.url)
        assert await delivery.deliver_order(fresh_db, settings, placed.partner_order_id) == 2
    assert [(r.json()["data"]["sequence"], r.json()["data"]["to_status"])
            for r in got.received] == [(1, "created"), (2, "paid")]
    assert {r.json()["data"]["external_ref"] for r in got.received} == {"W-1"}
    check_signed(got, placed.partner.signing_secret)
    assert await rows(fresh_db, EVENTS) == [(1, "delivered", 1, 1), (2, "delivered", 1, 1)]
    assert await rows(fresh_db, LOG) == [(1, 1, 1, 200), (2, 1, 1, 200)]


async def test_a_failing_receiver_is_retried_with_backoff_and_holds_back_later_events(
        fresh_db: Database, settings: Settings) -> None:
    async with receiver(500, 502, 200) as got:
        placed = await place(fresh_db, settings, got.url)
        started = clock.now()
        clock.freeze(started)
        assert await delivery.deliver_order(fresh_db, settings, placed.partner_order_id) == 1
        # Event 2 waits for event 1: only one request so far, and nothing due now.
        assert len(got.received) == 1
        assert await delivery.deliver_order(fresh_db, settings, placed.partner_order_id) == 0
        (first_retry,) = await rows(fresh_db, "SELECT next_attempt_at FROM partner_events"
                                    " WHERE sequence = 1")
        gap = first_retry[0] - started  # type: ignore[operator]
        assert dt.timedelta(seconds=8) <= gap <= dt.timedelta(seconds=10)  # 10 s less jitter
        scheduled = await rows(fresh_db, "SELECT scheduled_at FROM procrastinate_jobs"
                               " WHERE task_name = 'partners.deliver'"
                               " AND scheduled_at IS NOT NULL")
        assert len(scheduled) == 1  # the retry's job, written with the failed attempt
        clock.freeze(first_retry[0])  # type: ignore[arg-type]
        assert await delivery.deliver_order(fresh_db, settings, placed.partner_order_id) == 1
        (second_retry,) = await rows(fresh_db, "SELECT next_attempt_at FROM partner_events"
                                     " WHERE sequence = 1")
        gap = second_retry[0] - first_retry[0]  # type: ignore[operator]
        assert dt.timedelta(seconds=16) <= gap <= dt.timedelta(seconds=20)  # doubled
        clock.freeze(second_retry[0])  # type: ignore[arg-type]
        assert await delivery.deliver_order(fresh_db, settings, placed.partner_order_id) == 2
    assert [r.json()["data"]["sequence"] for r in got.received] == [1, 1, 1, 2]
    assert len({r.json()["id"] for r in got.received[:3]}) == 1  # one event id throughout
    assert await rows(fresh_db, LOG) == [(1, 1, 1, 500), (1, 1, 2, 502), (1, 1, 3, 200),
                                         (2, 1, 1, 200)]
    assert await rows(fresh_db, EVENTS) == [(1, "delivered", 3, 1), (2, "delivered", 1, 1)]
    check_signed(got, placed.partner.signing_secret)


async def test_an_event_fails_after_the_last_attempt_and_a_replay_delivers_it(
        fresh_db: Database, settings: Settings) -> None:
    settings = settings.model_copy(update={"partners_webhook_max_attempts": 2})
    async with receiver(503, 503, 200) as got:
        placed = await place(fresh_db, settings, got.url)
        await delivery.deliver_order(fresh_db, settings, placed.partner_order_id)
        clock.advance(dt.timedelta(seconds=11))
        # The second failure is the last: event 1 fails, and event 2 is no longer held back.
        assert await delivery.deliver_order(fresh_db, settings, placed.partner_order_id) == 2
        assert await rows(fresh_db, EVENTS) == [(1, "failed", 2, 1), (2, "delivered", 1, 1)]
        event_id = got.received[0].json()["id"]
        app = create_app(settings, fresh_db)
        async with strict_client(app) as client:
            r = await client.post(f"/v1/partner/webhooks/{event_id}/replay",
                                  headers=basic(placed.partner))
            assert r.status_code == 202, r.text
            assert (r.json()["status"], r.json()["series"], r.json()["attempts"]) == \
                ("pending", 2, 0)
            assert await delivery.deliver_order(fresh_db, settings,
                                                placed.partner_order_id) == 1
            r = await client.get(f"/v1/partner/webhooks/{event_id}",
                                 headers=basic(placed.partner))
    assert got.received[-1].json()["id"] == event_id
    assert [(d["series"], d["attempt"], d["status_code"]) for d in r.json()["deliveries"]] == \
        [(1, 1, 503), (1, 2, 503), (2, 1, 200)]
    assert r.json()["status"] == "delivered"
    check_signed(got, placed.partner.signing_secret)


async def test_another_partner_cannot_replay_or_read_an_event(fresh_db: Database,
                                                              settings: Settings) -> None:
    async with receiver(200) as got:
        placed = await place(fresh_db, settings, got.url)
        await delivery.deliver_order(fresh_db, settings, placed.partner_order_id)
    async with unit_of_work(fresh_db) as session:
        other = await make_partner(session, settings)
    event_id = got.received[0].json()["id"]
    async with strict_client(create_app(settings, fresh_db)) as client:
        for method in ("GET", "POST"):
            path = f"/v1/partner/webhooks/{event_id}" + ("/replay" if method == "POST" else "")
            r = await client.request(method, path, headers=basic(other))
            assert r.status_code == 404 and r.json()["code"] == "partner_event_not_found"
    assert await rows(fresh_db, EVENTS) == [(1, "delivered", 1, 1), (2, "delivered", 1, 1)]


async def test_a_private_address_is_refused_at_delivery_without_a_call(
        fresh_db: Database, settings: Settings) -> None:
    async with receiver(200) as got:
        placed = await place(fresh_db, settings, got.url)
        strict = settings.model_copy(update={"partners_webhook_allow_private": False})
        assert await delivery.deliver_order(fresh_db, strict, placed.partner_order_id) == 1
    assert got.received == []
    (error,) = await rows(fresh_db, "SELECT error FROM partner_deliveries")
    assert str(error[0]).startswith("refused")


@pytest.fixture
async def worker_settings(settings: Settings,
                          monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Settings]:
    """The worker reads the process's settings: webhooks to 127.0.0.1 there too, and the
    same keys (those of the test's data folder) to open the signing secret."""
    monkeypatch.setenv("GULLAK_PARTNERS_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("GULLAK_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


async def test_the_worker_delivers_what_a_status_change_enqueued(
        fresh_db: Database, worker_settings: Settings) -> None:
    async with receiver(200) as got:
        placed = await place(fresh_db, worker_settings, got.url)
        async with unit_of_work(fresh_db) as session:
            await orders.advance(session, placed.order_id, "confirm", ADMIN)
        await worker.run(fresh_db.url, concurrency=1, stop_after_idle=True)
    assert [r.json()["data"]["to_status"] for r in got.received] == \
        ["created", "paid", "confirmed"]
    check_signed(got, placed.partner.signing_secret)


async def test_the_sweep_enqueues_due_events_whose_job_was_lost(
        fresh_db: Database, settings: Settings) -> None:
    async with receiver(200) as got:
        placed = await place(fresh_db, settings, got.url)
        async with fresh_db.engine.begin() as conn:
            await conn.execute(text("DELETE FROM procrastinate_jobs"))
        assert await delivery.sweep(fresh_db) == 1
        (job,) = await rows(fresh_db, "SELECT args FROM procrastinate_jobs"
                            " WHERE task_name = 'partners.deliver'")
        assert job[0] == {"partner_order_id": str(placed.partner_order_id)}
        await delivery.deliver_order(fresh_db, settings, placed.partner_order_id)
        assert await delivery.sweep(fresh_db) == 0
    assert len(got.received) == 2


async def test_a_rotated_secret_signs_beside_the_old_one_for_the_grace_period(
        fresh_db: Database, settings: Settings) -> None:
    async with receiver(200) as got:
        placed = await place(fresh_db, settings, got.url)
        async with unit_of_work(fresh_db) as session:
            new = await service.rotate_secret(session, settings, placed.partner.id)
        await delivery.deliver_order(fresh_db, settings, placed.partner_order_id)
        check_signed(got, placed.partner.signing_secret)
        check_signed(got, new.signing_secret)
        clock.advance(dt.timedelta(hours=settings.partners_secret_grace_hours, seconds=1))
        async with unit_of_work(fresh_db) as session:
            await orders.advance(session, placed.order_id, "confirm", ADMIN)
        await delivery.deliver_order(fresh_db, settings, placed.partner_order_id)
    last = got.received[-1]
    now = int(clock.now().timestamp())
    assert signature_ok(last.headers["gullak-signature"], last.body, new.signing_secret, now)
    assert not signature_ok(last.headers["gullak-signature"], last.body,
                            placed.partner.signing_secret, now)


