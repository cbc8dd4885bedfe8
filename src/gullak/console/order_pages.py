"""Every merchant's orders: the table (status, merchant, user, number; by creation; CSV) and
an order with its items, tenders, payments, refunds and status history, with the back
office's moves as the orders API has them (advance and cancel: orders.manage; refund:
orders.refund). The orders flows audit each move."""

from __future__ import annotations

import re
import uuid

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.console import forms
from gullak.console.ledger_pages import short, when
from gullak.console.tables import Column, Filter, choice, param, table, uuid_param
from gullak.console.web import AdminPage, ConsoleRoute, Page
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import InvalidInput
from gullak.ledger import service as ledger
from gullak.orders import flows
from gullak.orders import service as orders
from gullak.orders.schemas import AdvanceIn, OrderOut, RefundIn, Status
from gullak.payments import service as payments

router = APIRouter(route_class=ConsoleRoute)
STATUSES = tuple(s.value for s in Status)
NUMBER = re.compile(r"^[A-Z0-9-]{3,40}$")
# An action that does not fit the order's way of fulfilment (flows.advance refuses it too).
WRONG_WAY = {"ready": "delivery", "ship": "pickup"}


async def scales(page: Page) -> dict[str, int]:
    """Each currency's minor units: INR has 2, a reward shop's coin none."""
    return {a.code: a.scale for a in await ledger.list_assets(page.session)}


def actions_for(order: OrderOut) -> list[str]:
    """The moves the order's status allows, in the order the API lists them."""
    allowed = orders.TRANSITIONS[order.status]
    return [action for action, target in flows.ACTIONS.items()
            if target in allowed and WRONG_WAY.get(action) != order.fulfilment]


@router.get("/orders")
async def order_list(page: AdminPage) -> Response:
    await page.require("orders.read")
    status = choice(page, "status", STATUSES)
    merchant_id, user_id = uuid_param(page, "merchant_id"), uuid_param(page, "user_id")
    number = param(page, "number", max_length=40)
    if number is not None:
        number = number.upper()
        if not NUMBER.match(number):
            raise InvalidInput("An order number looks like ORD-202601-000123.",
                               code="invalid_filter", field="number")
    units = await scales(page)

    async def fetch(browse: Browse) -> Rows:
        return await orders.browse_orders(page.session, browse, status=status,
                                          merchant_id=merchant_id, user_id=user_id,
                                          number=number)

    columns = [
        Column("Number", lambda o: o.number, link=lambda o: f"/console/orders/{o.id}"),
        Column("Status", lambda o: o.status.value),
        Column("Kind", lambda o: o.kind),
        Column("Merchant", lambda o: short(o.merchant_id),
               link=lambda o: f"/console/merchants/{o.merchant_id}"),
        Column("User", lambda o: short(o.user_id), link=lambda o: f"/console/users/{o.user_id}"),
        Column("Total", lambda o: forms.decimal(o.total, units.get(o.currency, 2)), numeric=True),
        Column("Refunded", lambda o: forms.decimal(o.refunded, units.get(o.currency, 2)),
               numeric=True),
        Column("Currency", lambda o: o.currency),
        Column("Created", lambda o: when(o.created_at), sort="created"),
    ]
    filters = [Filter("status", "Status", tuple((s, s.replace("_", " ")) for s in STATUSES)),
               Filter("merchant_id", "Merchant id", placeholder="uuid"),
               Filter("user_id", "User id", placeholder="uuid"),
               Filter("number", "Number", placeholder="ORD-202601-000123")]
    return await table(page, title="Orders", columns=columns, fetch=fetch, filters=filters)


@router.get("/orders/{order_id}")
async def order_detail(order_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("orders.read")
    order = await orders.get_order(page.session, order_id, page.subject)
    paid_by = [await payments.get_payment(page.session, t.payment_id)
               for t in order.tenders if t.payment_id is not None]
    units = await scales(page)
    return await page.render(
        "books/order.html", title=f"Order {order.number}", order=order, payments=paid_by,
        refunds=[e for e in order.events
                 if e.to_status in ("refunded", "partially_refunded")],
        actions=actions_for(order) if page.can("orders.manage") else [],
        refundable=order.status in orders.REFUNDABLE and page.can("orders.refund"),
        scale=units.get(order.currency, 2), units=units)


@router.post("/orders/{order_id}/advance")
async def order_advance(order_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("orders.manage")
    form = await page.form()
    body = AdvanceIn.model_validate(forms.given({"action": forms.text(form, "action"),
                                                 "reason": forms.text(form, "reason")}))
    out = await flows.advance(page.session, order_id, body.action, page.subject, body.reason)
    return page.redirect(f"/console/orders/{order_id}",
                         flash=f"Order {out.number} is {out.status.value.replace('_', ' ')}.")


@router.post("/orders/{order_id}/refunds")
async def order_refund(order_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("orders.refund")
    form = await page.form()
    body = RefundIn.model_validate(forms.given({
        "amount": forms.number(form, "amount"), "reason": forms.text(form, "reason"),
        "gateway_to_wallet": forms.checked(form, "gateway_to_wallet")}))
    out = await flows.refund(page.session, order_id, body.amount, body.reason, page.subject,
                             gateway_to_wallet=body.gateway_to_wallet)
    return page.redirect(f"/console/orders/{order_id}",
                         flash=f"Refunded {out.amount} (minor units) of {out.order.number}.")
