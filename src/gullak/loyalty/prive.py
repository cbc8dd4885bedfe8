"""Privé (ReZ): plans with a price and a period, their partner merchants, and subscriptions
paid through the payments domain as payments of purpose 'subscription' whose reference is
the subscription's id.

A subscription starts `pending_payment` with its first payment; `payment.succeeded` makes it
`active` for one period (a renewal's success adds a period to the end of the current one, so
paying early loses nothing). Near the period's end the renewal job asks an auto-renewing
subscription's next payment. At the end an unpaid subscription is `past_due` (no benefits);
after the plan's grace, `expired`. A cancelled one stops renewing and ends at its period's
end as `cancelled`. The money itself goes to the platform's subscription revenue (payments).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit, clock
from gullak.kit.errors import NotFound
from gullak.kit.events import Event
from gullak.kit.security import Subject
from gullak.kit.sql import xact_lock
from gullak.loyalty import errors
from gullak.loyalty.models import (
    LIVE,
    PriveMerchant,
    PrivePayment,
    PrivePlan,
    PriveSubscription,
)
from gullak.loyalty.schemas import (
    PartnerIn,
    PartnerOut,
    PlanIn,
    PlanOut,
    PriveBenefitOut,
    PrivePaymentOut,
    SubscriptionOut,
)
from gullak.merchants import service as merchants
from gullak.payments import service as payments

PURPOSE = "subscription"
RENEW_AHEAD = dt.timedelta(days=2)  # a renewal is asked this long before the period ends
RENEWAL_ATTEMPTS = 3  # per period: a failed renewal is asked again by the next runs
PENDING_FOR = dt.timedelta(days=1)  # an unpaid new subscription lapses after this


# -- plans and partners -----------------------------------------------------------------------

async def _plan(session: AsyncSession, code: str) -> PrivePlan:
    found = await session.scalar(select(PrivePlan).where(PrivePlan.code == code))
    if found is None:
        raise errors.PlanNotFound(field="plan_code")
    return found


async def _plan_out(session: AsyncSession, plan: PrivePlan) -> PlanOut:
    partners = await session.scalars(select(PriveMerchant).where(
        PriveMerchant.plan_id == plan.id, PriveMerchant.active).order_by(PriveMerchant.id))
    return PlanOut(
        code=plan.code, name=plan.name, price=plan.price, currency=plan.currency,
        period_days=plan.period_days, grace_days=plan.grace_days,
        multiplier_bp=plan.multiplier_bp, discount_bp=plan.discount_bp, status=plan.status,
        partners=[PartnerOut(merchant_id=p.merchant_id,
                             discount_bp=p.discount_bp if p.discount_bp is not None
                             else plan.discount_bp,
                             multiplier_bp=p.multiplier_bp or plan.multiplier_bp)
                  for p in partners])


async def create_plan(session: AsyncSession, data: PlanIn, actor: Subject | None) -> PlanOut:
    if await session.scalar(select(PrivePlan.id).where(PrivePlan.code == data.code)) is not None:
        raise errors.PlanExists(field="code")
    now = clock.now()
    plan = PrivePlan(**data.model_dump(), currency="INR", status="active", created_at=now,
                     updated_at=now)
    session.add(plan)
    await session.flush()
    await audit.record(session, actor, "prive_plan.create", "prive_plan", data.code,
                       after=data.model_dump(mode="json"))
    return await _plan_out(session, plan)


async def add_partner(session: AsyncSession, plan_code: str, data: PartnerIn,
                      actor: Subject | None) -> PlanOut:
    """A merchant joins the plan (or changes its terms)."""
    plan = await _plan(session, plan_code)
    try:
        await merchants.get_merchant(session, data.merchant_id)
    except NotFound as exc:
        raise errors.InvalidPartner("No such merchant.", field="merchant_id") from exc
    existing = await session.scalar(select(PriveMerchant).where(
        PriveMerchant.plan_id == plan.id, PriveMerchant.merchant_id == data.merchant_id))
    now = clock.now()
    if existing is None:
        session.add(PriveMerchant(plan_id=plan.id, merchant_id=data.merchant_id,
                                  discount_bp=data.discount_bp,
                                  multiplier_bp=data.multiplier_bp, active=True,
                                  created_at=now, updated_at=now))
    else:
        existing.discount_bp, existing.multiplier_bp = data.discount_bp, data.multiplier_bp
        existing.active, existing.updated_at = True, now
    await session.flush()
    await audit.record(session, actor, "prive_plan.partner", "prive_plan", plan_code,
                       after=data.model_dump(mode="json"))
    return await _plan_out(session, plan)


async def list_plans(session: AsyncSession, *, active_only: bool = True) -> list[PlanOut]:
    query = select(PrivePlan).order_by(PrivePlan.price, PrivePlan.code)
    if active_only:
        query = query.where(PrivePlan.status == "active")
    return [await _plan_out(session, p) for p in await session.scalars(query)]


async def prive_benefit(session: AsyncSession, user_id: uuid.UUID,
                        merchant_id: uuid.UUID) -> PriveBenefitOut | None:
    """The user's active privé benefit at this merchant, or None."""
    row = (await session.execute(
        select(PrivePlan.code, PrivePlan.discount_bp, PrivePlan.multiplier_bp,
               PriveMerchant.discount_bp.label("own_discount"),
               PriveMerchant.multiplier_bp.label("own_multiplier"))
        .select_from(PriveSubscription)
        .join(PrivePlan, PrivePlan.id == PriveSubscription.plan_id)
        .join(PriveMerchant, (PriveMerchant.plan_id == PrivePlan.id)
              & (PriveMerchant.merchant_id == merchant_id) & PriveMerchant.active)
        .where(PriveSubscription.user_id == user_id, PriveSubscription.status == "active",
               PriveSubscription.period_end > clock.now()).limit(1))).first()
    if row is None:
        return None
    return PriveBenefitOut(
        plan_code=row.code,
        discount_bp=row.own_discount if row.own_discount is not None else row.discount_bp,
        multiplier_bp=row.own_multiplier or row.multiplier_bp)


# -- subscriptions ----------------------------------------------------------------------------

async def _out(session: AsyncSession, sub: PriveSubscription) -> SubscriptionOut:
    plan = await session.get(PrivePlan, sub.plan_id)
    assert plan is not None
    paid = await session.scalars(select(PrivePayment).where(
        PrivePayment.subscription_id == sub.id).order_by(PrivePayment.id.desc()))
    return SubscriptionOut(
        id=sub.id, user_id=sub.user_id, plan_code=plan.code, status=sub.status,  # type: ignore[arg-type]
        period_start=sub.period_start, period_end=sub.period_end, auto_renew=sub.auto_renew,
        cancelled_at=sub.cancelled_at, created_at=sub.created_at,
        payments=[PrivePaymentOut.model_validate(p) for p in paid])


async def _ask(session: AsyncSession, sub: PriveSubscription, plan: PrivePlan, kind: str,
               gateway: str | None) -> uuid.UUID:
    """A new payment for the subscription, recorded on both sides; its id."""
    tries = int(await session.scalar(select(func.count()).select_from(PrivePayment).where(
        PrivePayment.subscription_id == sub.id,
        PrivePayment.for_period_end.is_(None) if sub.period_end is None
        else PrivePayment.for_period_end == sub.period_end)) or 0)
    period = sub.period_end.strftime("%Y%m%dT%H%M%S") if sub.period_end else "first"
    payment = await payments.create_payment(
        session, user_id=sub.user_id, purpose=PURPOSE, reference_id=str(sub.id),
        amount=plan.price, currency=plan.currency, key=f"prive:{sub.id}:{period}:{tries + 1}",
        gateway=gateway)
    session.add(PrivePayment(subscription_id=sub.id, user_id=sub.user_id, payment_id=payment.id,
                             kind=kind,
                             for_period_end=sub.period_end, amount=plan.price, status="open",
                             created_at=clock.now()))
    await session.flush()
    return payment.id


async def subscribe(session: AsyncSession, user_id: uuid.UUID, plan_code: str,
                    gateway: str | None = None) -> tuple[SubscriptionOut, uuid.UUID]:
    """A subscription pending its first payment, and that payment (not yet started at its
    gateway). Asking again for the same plan while unpaid gives the same subscription, with
    its open payment, or a new one if the last failed."""
    plan = await _plan(session, plan_code)
    if plan.status != "active":
        raise errors.PlanUnavailable(field="plan_code")
    await xact_lock(session, f"prive:{user_id}")
    live = await session.scalar(select(PriveSubscription).where(
        PriveSubscription.user_id == user_id, PriveSubscription.status.in_(LIVE)))
    if live is not None and (live.status != "pending_payment" or live.plan_id != plan.id):
        raise errors.AlreadySubscribed(subscription_id=str(live.id))
    if live is None:
        now = clock.now()
        live = PriveSubscription(user_id=user_id, plan_id=plan.id, status="pending_payment",
                                 auto_renew=True, created_at=now, updated_at=now)
        session.add(live)
        await session.flush()
    else:
        waiting = await session.scalar(select(PrivePayment.payment_id).where(
            PrivePayment.subscription_id == live.id, PrivePayment.status == "open"))
        if waiting is not None:
            return await _out(session, live), waiting
    payment_id = await _ask(session, live, plan, "initial", gateway)
    return await _out(session, live), payment_id


async def _mine(session: AsyncSession, user_id: uuid.UUID,
                subscription_id: uuid.UUID) -> PriveSubscription:
    sub = await session.scalar(select(PriveSubscription).where(
        PriveSubscription.id == subscription_id).with_for_update())
    if sub is None or sub.user_id != user_id:
        raise errors.SubscriptionNotFound(field="subscription_id")
    return sub


async def cancel(session: AsyncSession, user_id: uuid.UUID,
                 subscription_id: uuid.UUID) -> SubscriptionOut:
    """No more renewals: an active subscription lasts to its period's end; one never paid,
    or past due, ends now. Cancelling twice is the same as once."""
    sub = await _mine(session, user_id, subscription_id)
    now = clock.now()
    if sub.status in ("expired", "cancelled"):
        if sub.status == "cancelled":
            return await _out(session, sub)
        raise errors.SubscriptionClosed()
    if sub.auto_renew:
        sub.auto_renew, sub.cancelled_at = False, now
    if sub.status in ("pending_payment", "past_due"):
        sub.status, sub.ended_at = "cancelled", now
    sub.updated_at = now
    await session.flush()
    return await _out(session, sub)


async def my_prive(session: AsyncSession, user_id: uuid.UUID) -> SubscriptionOut | None:
    """The live subscription, else the latest one."""
    sub = await session.scalar(select(PriveSubscription).where(
        PriveSubscription.user_id == user_id)
        .order_by(PriveSubscription.status.in_(LIVE).desc(), PriveSubscription.id.desc())
        .limit(1))
    return None if sub is None else await _out(session, sub)


async def user_subscriptions(session: AsyncSession, user_id: uuid.UUID) -> list[SubscriptionOut]:
    rows = await session.scalars(select(PriveSubscription).where(
        PriveSubscription.user_id == user_id).order_by(PriveSubscription.id.desc()))
    return [await _out(session, s) for s in rows]


# -- payments' outcomes -----------------------------------------------------------------------

async def _payment_of(session: AsyncSession,
                      data: dict[str, Any]) -> tuple[PrivePayment, PriveSubscription] | None:
    """Our record of a subscription payment the event is about, or None (not ours)."""
    if data.get("purpose") != PURPOSE:
        return None
    try:
        payment_id = uuid.UUID(str(data.get("payment_id")))
        subscription_id = uuid.UUID(str(data.get("reference_id")))
    except ValueError:
        return None
    paid = await session.scalar(select(PrivePayment).where(
        PrivePayment.payment_id == payment_id,
        PrivePayment.subscription_id == subscription_id).with_for_update())
    if paid is None:
        return None
    sub = await session.scalar(select(PriveSubscription).where(
        PriveSubscription.id == subscription_id).with_for_update()
        .execution_options(populate_existing=True))
    assert sub is not None
    return paid, sub


async def payment_succeeded(session: AsyncSession, event: Event) -> None:
    found = await _payment_of(session, dict(event.data))
    if found is None:
        return
    paid, sub = found
    if paid.status == "succeeded":
        return
    plan = await session.get(PrivePlan, sub.plan_id)
    assert plan is not None
    now = clock.now()
    paid.status, paid.settled_at = "succeeded", now
    period = dt.timedelta(days=plan.period_days)
    if sub.status in ("active", "past_due") and sub.period_end is not None:
        sub.period_end += period  # a renewal: the next period follows the current one
    elif sub.status == "pending_payment" or not await _other_live(session, sub):
        sub.period_start, sub.period_end = now, now + period
        sub.ended_at = None
    else:
        # Paid for a subscription that ended while another is live: nothing to extend; the
        # payment stays succeeded for the back office to refund.
        await session.flush()
        return
    sub.status, sub.updated_at = "active", now
    await session.flush()


async def _other_live(session: AsyncSession, sub: PriveSubscription) -> bool:
    return await session.scalar(select(PriveSubscription.id).where(
        PriveSubscription.user_id == sub.user_id, PriveSubscription.id != sub.id,
        PriveSubscription.status.in_(LIVE))) is not None


async def payment_failed(session: AsyncSession, event: Event) -> None:
    """The subscription stays as it is: a new one still waits for payment (the user may ask
    again), a renewal is asked again by the next renewal run, until the period's end."""
    found = await _payment_of(session, dict(event.data))
    if found is None:
        return
    paid, _ = found
    if paid.status == "open":
        paid.status, paid.settled_at = "failed", clock.now()
        await session.flush()


# -- jobs -------------------------------------------------------------------------------------

async def renew_due(session: AsyncSession, *, limit: int = 100,
                    gateway: str | None = None) -> list[uuid.UUID]:
    """Renewal payments for auto-renewing subscriptions near their period's end that have
    none open or paid for this period (a failed one is asked again, a few times); the new
    payments' ids, for their gateway."""
    now = clock.now()
    has_payment = select(PrivePayment.id).where(
        PrivePayment.subscription_id == PriveSubscription.id,
        PrivePayment.for_period_end == PriveSubscription.period_end,
        PrivePayment.status.in_(("open", "succeeded"))).exists()
    tries = select(func.count()).select_from(PrivePayment).where(
        PrivePayment.subscription_id == PriveSubscription.id,
        PrivePayment.for_period_end == PriveSubscription.period_end).scalar_subquery()
    subs = list(await session.scalars(select(PriveSubscription).where(
        PriveSubscription.status.in_(("active", "past_due")), PriveSubscription.auto_renew,
        PriveSubscription.period_end <= now + RENEW_AHEAD, ~has_payment,
        tries < RENEWAL_ATTEMPTS).order_by(PriveSubscription.period_end).limit(limit)
        .with_for_update(skip_locked=True)))
    asked = []
    for sub in subs:
        plan = await session.get(PrivePlan, sub.plan_id)
        assert plan is not None
        if plan.status != "active":
            continue
        asked.append(await _ask(session, sub, plan, "renewal", gateway))
    return asked


async def expire_due(session: AsyncSession, *, limit: int = 100) -> int:
    """Subscriptions whose time is up: at the period's end a cancelled one ends and an
    unpaid one is past due; past the grace, expired; a new one never paid lapses. Returns
    how many moved."""
    now = clock.now()
    moved = 0
    ended = list(await session.scalars(select(PriveSubscription).where(
        PriveSubscription.status == "active", PriveSubscription.period_end <= now)
        .order_by(PriveSubscription.period_end).limit(limit).with_for_update(skip_locked=True)))
    for sub in ended:
        if sub.auto_renew:
            sub.status = "past_due"
        else:
            sub.status, sub.ended_at = "cancelled", now
        sub.updated_at = now
        moved += 1
    late = list(await session.execute(select(PriveSubscription, PrivePlan.grace_days).join(
        PrivePlan, PrivePlan.id == PriveSubscription.plan_id).where(
        PriveSubscription.status == "past_due",
        PriveSubscription.period_end + func.make_interval(0, 0, 0, PrivePlan.grace_days) <= now)
        .limit(limit).with_for_update(of=PriveSubscription, skip_locked=True)))
    for sub, _ in late:
        sub.status, sub.ended_at, sub.updated_at = "expired", now, now
        moved += 1
    lapsed = list(await session.scalars(select(PriveSubscription).where(
        PriveSubscription.status == "pending_payment",
        PriveSubscription.created_at <= now - PENDING_FOR).limit(limit)
        .with_for_update(skip_locked=True)))
    for sub in lapsed:
        sub.status, sub.ended_at, sub.updated_at = "expired", now, now
        moved += 1
    await session.flush()
    return moved
