"""Privé through the service with a moved clock: subscribe, the first payment activates,
renewal payments near the period's end extend it, failed renewals end in past due and then
expired after the grace, cancelling stops renewals; and end to end over HTTP with the sandbox
gateway, its webhook and the money in the platform's subscription revenue."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.ledger import service as ledger
from gullak.ledger.verify import verify_database
from gullak.loyalty import errors, flows, service
from gullak.loyalty.schemas import PartnerIn, PlanIn, PriveBenefitOut
from gullak.payments import service as payments
from gullak.payments.gateways.sandbox import Sandbox
from gullak.settings import Settings
from tests.helpers.http import guarded_client
from tests.helpers.offers import live_merchant
from tests.helpers.problems import assert_problem
from tests.loyalty.support import settle_payment
from tests.payments.support import as_user, payments_app, run_payment_jobs

pytestmark = pytest.mark.usefixtures("assets")
T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
PLAN = PlanIn(code="prive_monthly", name="Privé monthly", price=19_900, period_days=30,
              grace_days=3, multiplier_bp=15_000, discount_bp=1_000)


async def make_plan(session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID]:
    """The plan with two partners, one giving more than the plan: (partner, generous)."""
    await service.create_plan(session, PLAN, None)
    partner, _ = await live_merchant(session)
    generous, _ = await live_merchant(session)
    await service.add_partner(session, PLAN.code, PartnerIn(merchant_id=partner), None)
    await service.add_partner(session, PLAN.code, PartnerIn(
        merchant_id=generous, discount_bp=1_500, multiplier_bp=20_000), None)
    return partner, generous


async def test_subscribe_pay_renew_and_extend(session: AsyncSession) -> None:
    partner, generous = await make_plan(session)
    clock.freeze(T0)
    user = uuid.uuid4()
    sub, payment_id = await service.subscribe(session, user, PLAN.code)
    assert (sub.status, sub.period_end, sub.auto_renew) == ("pending_payment", None, True)
    payment = await payments.get_payment(session, payment_id)
    assert (payment.purpose, payment.reference_id, payment.amount) == (
        "subscription", str(sub.id), 19_900)
    assert await service.prive_benefit(session, user, partner) is None
    # Asked again while unpaid: the same subscription and payment.
    again, same = await service.subscribe(session, user, PLAN.code)
    assert (again.id, same) == (sub.id, payment_id)

    await settle_payment(session, payment_id, "succeeded")
    await settle_payment(session, payment_id, "succeeded")  # told twice: one period
    mine = await service.my_prive(session, user)
    assert mine is not None
    assert (mine.status, mine.period_start, mine.period_end) == ("active", T0, T0 + 30 * DAY)
    assert await service.prive_benefit(session, user, partner) == PriveBenefitOut(
        plan_code=PLAN.code, discount_bp=1_000, multiplier_bp=15_000)
    assert await service.prive_benefit(session, user, generous) == PriveBenefitOut(
        plan_code=PLAN.code, discount_bp=1_500, multiplier_bp=20_000)
    assert await service.prive_benefit(session, user, uuid.uuid4()) is None
    with pytest.raises(errors.AlreadySubscribed):
        await service.subscribe(session, user, PLAN.code)

    # Not yet near the end: no renewal. Two days before: one renewal payment, once.
    clock.freeze(T0 + 27 * DAY)
    assert await service.renew_due(session) == []
    clock.freeze(T0 + 28 * DAY)
    renewal = await service.renew_due(session)
    assert len(renewal) == 1 and await service.renew_due(session) == []
    assert (await payments.get_payment(session, renewal[0])).reference_id == str(sub.id)
    # Paid: the next period follows the current one, whenever the payment lands.
    await settle_payment(session, renewal[0], "succeeded")
    mine = await service.my_prive(session, user)
    assert mine is not None and (mine.status, mine.period_end) == ("active", T0 + 60 * DAY)
    assert [(p.kind, p.status) for p in mine.payments] == [
        ("renewal", "succeeded"), ("initial", "succeeded")]
    clock.freeze(T0 + 31 * DAY)
    assert await service.expire_due(session) == 0


async def test_failed_renewals_end_in_expiry_after_grace(session: AsyncSession) -> None:
    partner, _ = await make_plan(session)
    clock.freeze(T0)
    user = uuid.uuid4()
    sub, payment_id = await service.subscribe(session, user, PLAN.code)
    await settle_payment(session, payment_id, "succeeded")
    # Each run near the end asks again after a failure, three times in all.
    clock.freeze(T0 + 28 * DAY)
    for _ in range(3):
        asked = await service.renew_due(session)
        assert len(asked) == 1
        await settle_payment(session, asked[0], "failed")
        assert (await service.my_prive(session, user)).status == "active"  # type: ignore[union-attr]
    assert await service.renew_due(session) == []
    # The period ends unpaid: past due, no benefits.
    clock.freeze(T0 + 30 * DAY + dt.timedelta(minutes=1))
    assert await service.expire_due(session) == 1
    mine = await service.my_prive(session, user)
    assert mine is not None and mine.status == "past_due"
    assert await service.prive_benefit(session, user, partner) is None
    # Within the grace nothing more; after it, expired.
    clock.freeze(T0 + 33 * DAY - dt.timedelta(minutes=1))
    assert await service.expire_due(session) == 0
    clock.freeze(T0 + 33 * DAY)
    assert await service.expire_due(session) == 1
    mine = await service.my_prive(session, user)
    assert mine is not None and (mine.id, mine.status) == (sub.id, "expired")
    # The user may subscribe afresh.
    fresh, _ = await service.subscribe(session, user, PLAN.code)
    assert fresh.id != sub.id and fresh.status == "pending_payment"


async def test_cancel_stops_renewal(session: AsyncSession) -> None:
    partner, _ = await make_plan(session)
    clock.freeze(T0)
    user = uuid.uuid4()
    sub, payment_id = await service.subscribe(session, user, PLAN.code)
    await settle_payment(session, payment_id, "succeeded")
    clock.freeze(T0 + DAY)
    out = await service.cancel(session, user, sub.id)
    assert (out.status, out.auto_renew, out.cancelled_at) == ("active", False, T0 + DAY)
    assert (await service.cancel(session, user, sub.id)).cancelled_at == T0 + DAY
    with pytest.raises(errors.SubscriptionNotFound):
        await service.cancel(session, uuid.uuid4(), sub.id)
    # Active to the period's end, with its benefits, and never renewed.
    clock.freeze(T0 + 29 * DAY)
    assert await service.prive_benefit(session, user, partner) is not None
    assert await service.renew_due(session) == []
    clock.freeze(T0 + 30 * DAY)
    assert await service.expire_due(session) == 1
    mine = await service.my_prive(session, user)
    assert mine is not None and mine.status == "cancelled"
    assert await service.prive_benefit(session, user, partner) is None

    # An unpaid subscription cancelled ends at once; one never paid lapses after a day.
    other = uuid.uuid4()
    pending, _ = await service.subscribe(session, other, PLAN.code)
    assert (await service.cancel(session, other, pending.id)).status == "cancelled"
    late = uuid.uuid4()
    await service.subscribe(session, late, PLAN.code)
    clock.advance(DAY)
    assert await service.expire_due(session) == 1
    assert (await service.my_prive(session, late)).status == "expired"  # type: ignore[union-attr]


async def test_payments_of_others_are_ignored(session: AsyncSession) -> None:
    await make_plan(session)
    clock.freeze(T0)
    user = uuid.uuid4()
    sub, _ = await service.subscribe(session, user, PLAN.code)
    stranger = await payments.create_payment(
        session, user_id=user, purpose="subscription", reference_id=str(sub.id),
        amount=100, key="not-ours")
    await settle_payment(session, stranger.id, "succeeded")
    topup = await payments.create_payment(session, user_id=user, purpose="topup",
                                          reference_id="topup", amount=100, key="t")
    await settle_payment(session, topup.id, "succeeded")
    assert (await service.my_prive(session, user)).status == "pending_payment"  # type: ignore[union-attr]


# -- end to end, through the sandbox gateway -----------------------------------------------------

@pytest.fixture
async def pay(settings: Settings, fresh_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    from gullak.payments import gateways
    from tests.payments.support import make_sandbox
    with gateways.override(make_sandbox(fresh_db)) as found:
        assert isinstance(found, Sandbox)
        async with guarded_client(payments_app(settings, fresh_db)) as c:
            yield c


async def revenue(db: Database) -> int:
    async with unit_of_work(db) as session:
        account = await ledger.platform_account(session, "INR", "subscription_revenue")
        return (await ledger.balance(session, account.id)).posted


async def pay_at(client: httpx.AsyncClient, db: Database, checkout_url: str) -> None:
    click = await client.post(httpx.URL(checkout_url).path, params={"outcome": "paid"})
    assert click.status_code == 200, click.text
    assert await run_payment_jobs(db) == ["succeeded"]


async def test_subscribe_and_renew_through_the_sandbox(pay: httpx.AsyncClient,
                                                       fresh_db: Database,
                                                       settings: Settings) -> None:
    clock.freeze(T0)
    async with unit_of_work(fresh_db) as session:
        await service.create_plan(session, PLAN, None)
    user = uuid.uuid4()
    r = await pay.post("/v1/me/prive/subscriptions", json={"plan_code": PLAN.code},
                       headers=as_user(user))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["subscription"]["status"] == "pending_payment"
    assert body["payment_status"] == "pending" and body["checkout_url"]
    assert_problem(await pay.post("/v1/me/prive/subscriptions", json={"plan_code": "nope"},
                                  headers=as_user(user)), 404, "prive_plan_not_found",
                   "plan_code")

    await pay_at(pay, fresh_db, body["checkout_url"])
    mine = (await pay.get("/v1/me/prive", headers=as_user(user))).json()["subscription"]
    assert (mine["status"], mine["period_end"]) == ("active", "2026-03-31T10:00:00Z")
    assert await revenue(fresh_db) == 19_900

    # Near the end the renewal job asks and starts a payment; paying it extends the period.
    clock.freeze(T0 + 28 * DAY)
    assert await flows.renew(fresh_db, settings) == 1
    assert await flows.renew(fresh_db, settings) == 0
    mine = (await pay.get("/v1/me/prive", headers=as_user(user))).json()["subscription"]
    renewal = mine["payments"][0]
    assert (renewal["kind"], renewal["status"]) == ("renewal", "open")
    started = (await pay.get(f"/v1/payments/{renewal['payment_id']}",
                             headers=as_user(user))).json()
    await pay_at(pay, fresh_db, started["checkout_url"])
    mine = (await pay.get("/v1/me/prive", headers=as_user(user))).json()["subscription"]
    assert (mine["status"], mine["period_end"]) == ("active", "2026-04-30T10:00:00Z")
    assert await revenue(fresh_db) == 39_800

    r = await pay.post(f"/v1/me/prive/subscriptions/{mine['id']}/cancel",
                       headers=as_user(user))
    assert r.status_code == 200 and r.json()["auto_renew"] is False
    assert_problem(await pay.post(f"/v1/me/prive/subscriptions/{mine['id']}/cancel",
                                  headers=as_user(uuid.uuid4())), 404,
                   "prive_subscription_not_found", "subscription_id")
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]
