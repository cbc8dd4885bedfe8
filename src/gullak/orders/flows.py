"""Orders across domains: placing (catalog stock, offers, ledger holds, a payment), payment
outcomes, fulfilment, cancellation and the unpaid-order sweep; refunds in refunds.py.

Gift cards pay through a hold on the card's own ledger account, checked (code and PIN) before
anything else is touched: a wrong PIN refuses the order with nothing written but the card's
count of wrong PINs. Gift card products of a paid order issue their cards (giftcards domain).

Every movement of value is a ledger transfer with reference ('order', order id) and an
idempotency key derived from the order id. Captured coins and cash go to the merchant's
account in that asset; the gateway's part goes from the platform's order escrow account to
the merchant's INR account. Moves on one order are serialised by its row lock; a move is
checked before anything else is touched, so a refused one changes nothing.

A succeeded payment's money waits in the platform's order escrow account (the payments domain
puts it there); the order moves it to the merchant when it is paid, and back there for a
gateway refund, which the payments domain then returns to the gateway.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import service as catalog
from gullak.catalog.errors import ReservationClosed, StockNotFound
from gullak.catalog.schemas import ReserveIn
from gullak.db.engine import driver_rows
from gullak.giftcards import service as giftcards
from gullak.kit import clock
from gullak.kit.errors import NotFound
from gullak.kit.events import Event
from gullak.kit.ids import request_digest, uuid7
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import CaptureIn, HoldIn, TransferIn
from gullak.merchants import service as merchants
from gullak.merchants.schemas import MerchantOut
from gullak.offers import service as offers
from gullak.offers.schemas import RedeemIn
from gullak.orders import common, errors, pricing, refunds, service
from gullak.orders.common import ESCROW, ORDERS_ACTOR, REFERENCE
from gullak.orders.models import Order, OrderItem, OrderTender
from gullak.orders.money import Allocation
from gullak.orders.pricing import INR, Policy
from gullak.orders.schemas import OrderIn, OrderOut
from gullak.payments import service as payments

# Holds and stock outlive the payment window, so that the sweep, not the ledger, ends them.
MARGIN = dt.timedelta(hours=1)
MAX_RESERVATION = dt.timedelta(days=7)  # the catalog's longest reservation
# action: the status it leads to
ACTIONS = {"confirm": "confirmed", "ready": "ready", "ship": "shipped", "deliver": "delivered",
           "complete": "completed", "cancel": "cancelled"}


def _hash(data: OrderIn) -> str:
    request = data.model_dump(mode="json")
    if data.gift_cards is not None:  # no PIN, and no code in clear, in a stored hash
        request["gift_cards"] = [{"code": giftcards.code_digest(g.code), "amount": g.amount}
                                 for g in data.gift_cards]
    return request_digest(request)


def slot(tender: OrderTender | Allocation) -> str:
    """What a tender's ledger keys are named by: its asset, or its card."""
    if tender.gift_card_id is not None:
        return f"gift_card:{tender.gift_card_id}"
    return tender.asset_code


async def _cards(session: AsyncSession, data: OrderIn) -> list[pricing.Card]:
    """The gift cards named, each checked and its row locked (in one order, so that orders
    naming the same cards queue rather than deadlock)."""
    asked = sorted(data.gift_cards or [], key=lambda g: giftcards.code_digest(g.code))
    if len({giftcards.code_digest(g.code) for g in asked}) < len(asked):
        raise errors.InvalidTender("A gift card is named twice.", field="gift_cards")
    return [(g, await giftcards.authorise(session, g.code, g.pin, data.merchant_id))
            for g in asked]


# -- placing ----------------------------------------------------------------------------------

_CLAIM = "SELECT serial, order_id, request_hash FROM orders_claim(%s, %s)"


async def _claim(session: AsyncSession, user_id: uuid.UUID, key: str,
                 digest: str) -> tuple[str, Order | None]:
    """The next order number, and the order this key already made (nearly always none), in
    one call (migration 0046): concurrent requests with one key queue on the key's lock, and
    the later ones find the first's order."""
    [(serial, order_id, request_hash)] = await driver_rows(session, _CLAIM, (user_id, key))
    number = service.number_of(serial)
    if order_id is None:
        return number, None
    if request_hash != digest:
        raise errors.IdempotencyKeyReused(field="Idempotency-Key")
    return number, await session.get(Order, order_id)


async def _where(session: AsyncSession, data: OrderIn) -> tuple[MerchantOut, str | None]:
    """The merchant and the order's city, after checking the merchant, the outlet and the
    address."""
    merchant = await merchants.merchant_view(session, data.merchant_id)
    if merchant.status != "live":
        raise errors.InvalidOrder("The merchant is not taking orders.",
                                  code="merchant_not_live", field="merchant_id")
    city = None
    if data.outlet_id is not None:
        try:
            outlet = await merchants.get_outlet(session, data.outlet_id)
        except NotFound:
            outlet = None
        if outlet is None or outlet.merchant_id != data.merchant_id or not outlet.active:
            raise errors.InvalidOrder("No such outlet of this merchant.", code="invalid_outlet",
                                      field="outlet_id")
        city = outlet.city
    if data.fulfilment == "delivery":
        if data.delivery_address is None:
            raise errors.InvalidOrder("A delivery needs an address.", code="address_required",
                                      field="delivery_address")
        city = data.delivery_address.city
    return merchant, city


async def place_order(session: AsyncSession, actor: Subject, data: OrderIn, policy: Policy, *,
                      idempotency_key: str | None = None,
                      user_id: uuid.UUID | None = None) -> tuple[OrderOut, bool]:
    """Price, reserve, hold and (for the gateway's part) record a payment, in the caller's
    unit. Returns the order and whether it is new (False: a replay of the same key).
    The order is the actor's own, or `user_id`'s when a service (a partner) places it."""
    if user_id is None:
        user_id = actor.id
    digest = _hash(data)
    number: str | None = None
    if idempotency_key is not None:
        number, existing = await _claim(session, user_id, idempotency_key, digest)
        if existing is not None:
            return await service.order_out(session, existing), False
    cards = await _cards(session, data)
    merchant, city = await _where(session, data)
    lines = await pricing.lines(session, data.merchant_id, data.items)
    currency = lines[0].asset_code
    kind = "purchase" if currency == INR else "reward"
    subtotal = sum(line.total for line in lines)
    count = sum(line.quantity for line in lines)
    order_id = uuid7()
    if number is None:
        number = await service.next_number(session)
    offer_id, redemption_id, off, fee, tax = None, None, 0, 0, 0
    if kind == "reward":
        if data.coupon_code is not None or data.tenders is not None or cards:
            raise errors.InvalidOrder("A reward-shop order is paid in its coins alone.",
                                      code="reward_order_terms", field="items")
        plan = await pricing.reward_tender(session, user_id, currency, subtotal)
    else:
        offer_id, off = await pricing.discount(session, data, user_id, subtotal, count, city)
        if offer_id is not None:  # first: the coins a coupon costs are held before tenders
            redemption, _ = await offers.redeem(session, offer_id, user_id, RedeemIn(
                amount=subtotal, item_count=count, outlet_id=data.outlet_id, city=city,
                order_ref=number), idempotency_key=f"order:{order_id}")
            redemption_id = redemption.id
        fee, tax = pricing.fees(policy, data, subtotal - off, merchant.category_id)
        plan = await pricing.tenders(session, policy, data, user_id, subtotal - off + fee + tax,
                                     cards)
    now = clock.now()
    order = Order(
        id=order_id, number=number, user_id=user_id,
        merchant_id=data.merchant_id, outlet_id=data.outlet_id, kind=kind, status="created",
        fulfilment=str(data.fulfilment),
        delivery_address=data.delivery_address.model_dump(mode="json")
        if data.fulfilment == "delivery" and data.delivery_address else None,
        currency=currency, subtotal=subtotal, discount=off, delivery_fee=fee, tax=tax,
        total=subtotal - off + fee + tax, refunded=0, coupon_code=data.coupon_code,
        offer_id=offer_id, redemption_id=redemption_id, notes=plan.notes,
        pay_by=now + policy.unpaid if plan.gateway else None,
        idempotency_key=idempotency_key, request_hash=digest, created_at=now, updated_at=now)
    items: list[OrderItem] = []
    tenders: list[OrderTender] = []
    # Balances before stock, as paying and cancelling lock them: a product's stock row is
    # then held only for the end of each unit, and a user's next order, placed while this
    # one is paid or cancelled, waits instead of deadlocking.
    expires = now + (policy.reward_hold if kind == "reward" else policy.unpaid + MARGIN)
    for position, part in enumerate(plan.tenders):
        # Known from the balances read to price it; a tender is only planned from a balance.
        account_id = part.account_id or \
            (await ledger.user_account(session, user_id, part.asset_code)).id
        hold = await ledger.place_hold(session, HoldIn(
            account_id=account_id, asset_code=part.asset_code, amount=part.amount,
            expires_at=expires, reference_type=REFERENCE, reference_id=str(order.id)),
            idempotency_key=f"order:{order.id}:hold:{slot(part)}")
        tenders.append(OrderTender(
            order_id=order.id, user_id=order.user_id, position=position, kind=part.kind,
            asset_code=part.asset_code, amount=part.amount, rate=part.rate, status="held",
            hold_id=hold.id, gift_card_id=part.gift_card_id, captured=0, released=0,
            refunded=0, commission=0, commission_refunded=0))
    ttl = min(policy.unpaid + MARGIN, MAX_RESERVATION)
    for line in lines:
        try:
            reservation = await catalog.reserve(session, ReserveIn(
                product_id=line.product_id, variant_id=line.variant_id, quantity=line.quantity,
                ttl_seconds=int(ttl.total_seconds()), reference=f"order:{order.id}"),
                checked=True)  # priced from catalog.sale_line above, in this unit
            reservation_id: uuid.UUID | None = reservation.id
        except StockNotFound:  # a product whose stock is not counted (a service, a voucher)
            reservation_id = None
        items.append(OrderItem(order_id=order.id, user_id=order.user_id,
                               product_id=line.product_id, variant_id=line.variant_id,
                               sku=line.sku, name=line.name,
                               unit_price=line.unit_price, quantity=line.quantity,
                               line_total=line.total, reservation_id=reservation_id))
    history = [service.event_row(order, None, "created", actor)]
    if not plan.gateway:
        await service.write_new(session, order, history, items, tenders)
        service.attach(session, order)
        await _paid(session, order, None, "paid with coins and wallet cash"
                    if kind == "purchase" else "coins held until delivery")
        return await service.order_out(session, order), True
    payment = await payments.create_payment(
        session, user_id=user_id, purpose="order", reference_id=str(order.id),
        amount=plan.gateway, currency=INR, key=f"order:{order.id}:payment",
        gateway=policy.gateway)
    tenders.append(OrderTender(
        order_id=order.id, user_id=order.user_id, position=len(plan.tenders), kind="gateway",
        asset_code=INR, amount=plan.gateway, rate=1, status="pending", payment_id=payment.id,
        captured=0, released=0, refunded=0, commission=0, commission_refunded=0))
    # Written already waiting for the gateway, with both moves in its history, then announced:
    # one statement for the order's rows, and the answer built from them, nothing read back.
    before = service.shift(order, "awaiting_payment")
    history.append(service.event_row(order, before, order.status, None,
                                     "waiting for the gateway"))
    await service.write_new(session, order, history, items, tenders)
    await service.announce(session, order, before, None, "waiting for the gateway")
    return service.out_of(order, items, tenders, history), True


# -- paying -----------------------------------------------------------------------------------

async def _capture(session: AsyncSession, order: Order, tender: OrderTender) -> None:
    if tender.status != "held" or tender.hold_id is None:
        return
    merchant = await common.merchant_account(session, order.merchant_id, tender.asset_code)
    out = await ledger.capture(session, tender.hold_id, CaptureIn(
        credit_account_id=merchant.id, kind="order_payment", reference_type=REFERENCE,
        reference_id=str(order.id)),
        idempotency_key=f"order:{order.id}:capture:{slot(tender)}")
    tender.captured, tender.status = out.transfer.amount, "captured"


async def _commit_stock(session: AsyncSession, order: Order, items: list[OrderItem]) -> None:
    closed = []
    for item in items:
        if item.reservation_id is None:
            continue
        try:
            await catalog.commit_reservation(session, item.reservation_id)
        except ReservationClosed:  # expired before a late payment: the sale stands
            closed.append(str(item.reservation_id))
    if closed:
        order.notes = [*order.notes, {"code": "stock_reservation_closed",
                                      "reservations": closed}]


async def _paid(session: AsyncSession, order: Order, actor: Subject | None,
                reason: str, tenders: list[OrderTender] | None = None) -> None:
    """Funds are secured: a purchase captures its holds now, a reward-shop order keeps them
    until delivery. The stock is sold and the coupon's redemption completed.
    Rows are locked in placement's order (the coupon's offer, balances, then stock): a user's
    next order, placed while this one is paid, waits instead of deadlocking, and the stock
    row, which every order of the product needs, is held only for the end of the unit."""
    await service.move(session, order, "paid", actor, reason)
    if order.redemption_id is not None:
        await offers.complete(session, order.redemption_id, ORDERS_ACTOR)
    items = await service.items_of(session, order.id)
    if order.kind == "purchase":
        for tender in tenders if tenders is not None else \
                await service.tenders_of(session, order.id):
            await _capture(session, order, tender)
        # Gift card products: their cards, funded from what the merchant was just paid.
        await giftcards.issue_for_order(session, order.id, order.user_id, order.merchant_id, [
            (i.product_id, i.quantity) for i in items])
    await _commit_stock(session, order, items)


def _gateway_tender(tenders: list[OrderTender], payment_id: uuid.UUID) -> OrderTender | None:
    return next((t for t in tenders if t.kind == "gateway" and t.payment_id == payment_id),
                None)


async def _order_event(session: AsyncSession, event: Event) -> Order | None:
    if event.data.get("purpose") != "order":
        return None
    try:
        order_id = uuid.UUID(str(event.data.get("reference_id")))
    except ValueError:
        return None
    order = await session.get(Order, order_id, with_for_update=True, populate_existing=True)
    return order


async def payment_succeeded(session: AsyncSession, event: Event) -> None:
    """The gateway's part is paid: its money goes to the merchant and the order is paid."""
    order = await _order_event(session, event)
    if order is None:
        return
    tenders = await service.tenders_of(session, order.id)
    tender = _gateway_tender(tenders, uuid.UUID(str(event.data["payment_id"])))
    if tender is None or tender.status == "captured":
        return  # not this order's payment, or told twice
    if order.status != "awaiting_payment" or int(event.data["amount"]) != tender.amount:
        # Too late (the order was cancelled) or not what was asked: the money goes back.
        service.add_event(session, order, order.status, order.status, None,
                          "gateway payment not taken", {"payment_id": str(tender.payment_id),
                                                        "amount": int(event.data["amount"])})
        await refunds.refund_later(session, tender.payment_id, int(event.data["amount"]),
                            f"order:{order.id}:late:{tender.payment_id}")
        return
    escrow = await ledger.platform_account(session, INR, ESCROW)
    merchant = await common.merchant_account(session, order.merchant_id, INR)
    await ledger.transfer(session, TransferIn(
        debit_account_id=escrow.id, credit_account_id=merchant.id, asset_code=INR,
        amount=tender.amount, kind="order_payment", reference_type=REFERENCE,
        reference_id=str(order.id)),
        idempotency_key=f"order:{order.id}:gateway:{tender.payment_id}")
    tender.captured, tender.status = tender.amount, "captured"
    await _paid(session, order, None, "gateway payment succeeded", tenders)


async def payment_failed(session: AsyncSession, event: Event) -> None:
    order = await _order_event(session, event)
    if order is None or order.status != "awaiting_payment":
        return
    await service.move(session, order, "cancelled", None, "payment failed")
    await _unwind(session, order, "payment failed")


# -- fulfilling and cancelling ----------------------------------------------------------------

async def _unwind(session: AsyncSession, order: Order, reason: str) -> None:
    """Give back what a cancelled order took: holds released, captured parts refunded, stock
    not yet sold back on sale, the coupon given back (called off, or refunded once used)."""
    tenders = await service.tenders_of(session, order.id)
    for tender in tenders:
        if tender.status == "held" and tender.hold_id is not None:
            if (await ledger.get_hold(session, tender.hold_id)).status == "pending":
                key = f"order:{order.id}:release:{slot(tender)}"
                await ledger.release(session, tender.hold_id, idempotency_key=key)
            tender.released, tender.status = tender.amount, "released"
        elif tender.status == "pending":
            tender.status = "failed"  # a gateway payment never made
    # Cards the order bought and nobody has used go back to the merchant before the refund.
    await giftcards.void_for_order(session, order.id, reason)
    captured = [t for t in tenders if t.captured > t.refunded]
    if captured:
        await refunds.give_back(session, order, captured,
                                [t.captured - t.refunded for t in captured],
                                f"order:{order.id}:cancel")
        order.refunded += sum((t.captured - t.refunded) * t.rate for t in captured)
    for item in await service.items_of(session, order.id):
        if item.reservation_id is None:
            continue
        if (await catalog.get_reservation(session, item.reservation_id)).status == "pending":
            await catalog.release_reservation(session, item.reservation_id)
    await refunds.undo_coupon(session, order, reason)


async def cancel(session: AsyncSession, order_id: uuid.UUID, actor: Subject,
                 reason: str | None = None) -> OrderOut:
    order = await service.locked(session, order_id)
    common.scope(actor, order)
    if actor.kind == "user" and order.status not in service.USER_CANCELLABLE:
        raise errors.InvalidTransition(f"The order is {order.status}: too late to cancel.",
                                       current_status=order.status, target="cancelled")
    before = order.status
    await service.move(session, order, "cancelled", actor, reason)
    await _unwind(session, order, reason or "cancelled")
    await common.audit_move(session, actor, "cancel", order, before)
    return await service.order_out(session, order)


async def _book_commission(session: AsyncSession, order: Order) -> None:
    """The platform's commission on what the merchant received, in each asset received."""
    merchant = await merchants.get_merchant(session, order.merchant_id)
    bps = await merchants.commission_rate(session, order.merchant_id, merchant.category_id)
    transfers = []
    for tender in await service.tenders_of(session, order.id):
        tender.commission = tender.captured * bps // 10_000
        if tender.commission:
            account = await common.merchant_account(session, order.merchant_id, tender.asset_code)
            revenue = await ledger.platform_account(session, tender.asset_code,
                                                    "commission_revenue")
            transfers.append(TransferIn(
                debit_account_id=account.id, credit_account_id=revenue.id,
                asset_code=tender.asset_code, amount=tender.commission,
                kind="order_commission", metadata={"rate_bps": bps}, reference_type=REFERENCE,
                reference_id=str(order.id)))
    if transfers:
        await ledger.post(session, transfers, idempotency_key=f"order:{order.id}:commission")


async def advance(session: AsyncSession, order_id: uuid.UUID, action: str, actor: Subject,
                  reason: str | None = None) -> OrderOut:
    """The merchant (or the platform) moves the order on: confirm, ready (pickup), ship
    (delivery), deliver, complete, or cancel."""
    order = await service.locked(session, order_id)
    common.scope(actor, order)
    target, before = ACTIONS[action], order.status
    if target == "cancelled":
        await service.move(session, order, "cancelled", actor, reason)
        await _unwind(session, order, reason or "cancelled by the merchant")
        await common.audit_move(session, actor, action, order, before)
        return await service.order_out(session, order)
    wrong_way = {"ready": "delivery", "shipped": "pickup"}.get(target)
    if wrong_way == order.fulfilment:
        raise errors.InvalidTransition(f"A {order.fulfilment} order is not {target}.",
                                       current_status=order.status, target=target)
    await service.move(session, order, target, actor, reason)
    if target in ("delivered", "completed") and order.kind == "reward":
        for tender in await service.tenders_of(session, order.id):
            await _capture(session, order, tender)
    if target == "completed":
        await _book_commission(session, order)
    await common.audit_move(session, actor, action, order, before)
    return await service.order_out(session, order)


async def expire_unpaid(session: AsyncSession, *, limit: int = 100) -> int:
    """Cancel orders not paid in time, releasing what they hold; returns how many."""
    ids = (await session.scalars(select(Order.id).where(
        Order.status.in_(("created", "awaiting_payment")), Order.pay_by <= clock.now())
        .order_by(Order.pay_by).limit(limit).with_for_update(skip_locked=True))).all()
    for order_id in ids:
        order = await service.locked(session, order_id)
        await service.move(session, order, "cancelled", None, "not paid in time")
        await _unwind(session, order, "not paid in time")
    return len(ids)


# The refund flows live in refunds.py; the API and the jobs find them here.
refund = refunds.refund
refund_gateway = refunds.refund_gateway
