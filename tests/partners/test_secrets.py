"""Partners' API keys and signing secrets never reach a log line or an error body, and
concurrent duplicates of one placement make one order."""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
import structlog
from sqlalchemy import text

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import logging as app_logging
from gullak.partners import delivery, service
from gullak.partners.schemas import PartnerCreatedOut, PartnerIn
from gullak.settings import Settings
from tests.helpers.http import http_client
from tests.helpers.offers import Actors
from tests.orders.support import fund, make_shop, order_body, subjects_of
from tests.partners.support import basic, receiver


@pytest.fixture
def app_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """The app's logging as in production (JSON, debug level), captured."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    app_logging.configure("debug", "json")
    buffer = io.StringIO()
    ours = logging.StreamHandler(buffer)
    ours.setFormatter(root.handlers[0].formatter)
    root.handlers[:] = [*handlers, ours]

    def read() -> str:
        out = capsys.readouterr()
        return buffer.getvalue() + out.out + out.err

    try:
        yield read
    finally:
        root.removeHandler(ours)
        root.setLevel(level)
        structlog.configure(**saved)


async def test_keys_and_secrets_stay_out_of_logs_and_error_bodies(
        fresh_db: Database, settings: Settings, app_logs: Callable[[], str]) -> None:
    app = create_app(settings, fresh_db)
    actors = subjects_of(app, Actors())
    admin = actors.admin("partners.manage", "partners.read")
    bodies: list[str] = []
    async with receiver(500, 200) as got, http_client(app) as client:
        r = await client.post("/v1/admin/partners", headers=admin,
                              json={"name": "Leaky", "webhook_url": got.url})
        assert r.status_code == 201, r.text
        created = r.json()
        r = await client.post(f"/v1/admin/partners/{created['id']}/signing-secret",
                              headers=admin)
        assert r.status_code == 200, r.text
        rotated = r.json()["signing_secret"]
        holder = created["key_holder"]
        partner = PartnerCreatedOut.model_validate(created)
        for headers in (basic(partner, key=created["api_key"] + "x"),
                        basic(partner.model_copy(update={"key_holder": holder + "x"}))):
            r = await client.get("/v1/partner/orders", headers=headers)
            assert r.status_code == 401
            bodies.append(r.text)
        r = await client.post("/v1/admin/partners", headers=admin,
                              json={"name": "Leaky", "webhook_url": got.url})
        assert r.status_code == 409
        bodies.append(r.text)
        async with unit_of_work(fresh_db) as session:
            shop = await make_shop(session)
            user = uuid.uuid4()
            await fund(session, user, "INR", 100_000)
            link, _ = await service.link(session, user, partner.id)
        r = await client.post("/v1/partner/orders", headers=basic(partner), json={
            **order_body(shop, (shop.dosa, 1)), "external_ref": "S-1", "link_id": str(link.id)})
        assert r.status_code == 201, r.text
        async with fresh_db.engine.connect() as conn:
            po = await conn.scalar(text("SELECT id FROM partner_orders"))
        await delivery.deliver_order(fresh_db, settings, po)  # a 500, then a retry later
        r = await client.get("/v1/partner/webhooks", headers=basic(partner))
        bodies.append(r.text)
    logs = app_logs()
    assert "partner_webhook_attempt" in logs  # the capture works
    assert len(got.received) == 1
    for secret in (created["api_key"], created["signing_secret"], rotated):
        assert secret not in logs
        assert all(secret not in body for body in bodies)
        assert secret not in got.received[0].headers.get("gullak-signature", "")


async def test_concurrent_duplicates_make_one_order(fresh_db: Database,
                                                    settings: Settings) -> None:
    app = create_app(settings, fresh_db)
    actors = subjects_of(app, Actors())
    async with unit_of_work(fresh_db) as session:
        shop = await make_shop(session)
        user = uuid.uuid4()
        await fund(session, user, "INR", 1_000_000)
        partner = await service.create(session, settings, PartnerIn(name="Racer"),
                                       None)
    async with http_client(app) as client:
        r = await client.post(f"/v1/me/partners/{partner.id}/link", headers=actors.user(user))
        link = r.json()["id"]
        body = {**order_body(shop, (shop.dosa, 1)), "external_ref": "DUP-1", "link_id": link}
        answers: list[httpx.Response] = await asyncio.gather(*(
            client.post("/v1/partner/orders", json=body, headers=basic(partner))
            for _ in range(6)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201], \
        [a.text for a in answers]
    assert len({a.json()["order"]["id"] for a in answers}) == 1
    async with fresh_db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM orders")) == 1
        assert await conn.scalar(text("SELECT count(*) FROM partner_orders")) == 1
