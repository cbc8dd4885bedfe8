"""The merchant portal's sales: the merchant's orders and their fulfilment (as
/v1/merchant/orders), its reviews and responses (/v1/merchant/reviews), and its settlements
with their statements (/v1/merchant/settlements)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.console.forms import amount, posted, when
from gullak.console.portal_forms import merchant_id
from gullak.console.tables import Column, Filter, choice, table
from gullak.console.web import ConsoleRoute, MerchantPage
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.merchants import service as merchants
from gullak.merchants.schemas import ResponseIn
from gullak.orders import flows
from gullak.orders import service as orders
from gullak.orders.schemas import AdvanceIn, OrderOut, Status
from gullak.payouts import service as payouts

router = APIRouter(route_class=ConsoleRoute)
ORDER_STATUSES = tuple(s.value for s in Status)
SETTLEMENT_STATUSES = ("nothing_to_pay", "unpaid", "paying", "paid", "returned")
# The merchant's moves, in the order a button row shows them.
LABELS = {"confirm": "Accept", "ready": "Ready for pickup", "ship": "Shipped",
          "deliver": "Delivered", "complete": "Complete", "cancel": "Cancel"}


def next_moves(order: OrderOut) -> list[str]:
    """The moves the order may take now (the service refuses any other: this only chooses
    which buttons to show)."""
    allowed = orders.TRANSITIONS.get(order.status.value, frozenset())
    wrong_way = {"delivery": "ready", "pickup": "ship"}.get(order.fulfilment)
    return [action for action in LABELS
            if flows.ACTIONS[action] in allowed and action != wrong_way]


# -- orders -----------------------------------------------------------------------------------

@router.get("/orders")
async def order_list(page: MerchantPage) -> Response:
    await page.require("merchant.orders.read")
    mine = merchant_id(page)
    status = choice(page, "status", ORDER_STATUSES)

    async def fetch(browse: Browse) -> Rows:
        return await orders.browse_orders(page.session, browse, merchant_id=mine, status=status)

    return await table(page, title="Orders", fetch=fetch, columns=[
        Column("Number", lambda o: o.number, link=lambda o: f"/merchant/orders/{o.id}"),
        Column("Status", lambda o: o.status.value), Column("Fulfilment", lambda o: o.fulfilment),
        Column("Total", lambda o: amount(o.total, o.currency), numeric=True),
        Column("Refunded", lambda o: amount(o.refunded, o.currency), numeric=True),
        Column("Placed", lambda o: when(o.created_at)),
    ], filters=[Filter("status", "Status", tuple((s, s.replace("_", " "))
                                                for s in ORDER_STATUSES))])


@router.get("/orders/{order_id}")
async def order(order_id: uuid.UUID, page: MerchantPage) -> Response:
    await page.require("merchant.orders.read")
    merchant_id(page)
    found = await orders.get_order(page.session, order_id, page.subject)  # another's: 404
    return await page.render("portal/order.html", title=f"Order {found.number}", order=found,
                             moves=next_moves(found), labels=LABELS, amount=amount)


@router.post("/orders/{order_id}/advance")
async def advance(order_id: uuid.UUID, page: MerchantPage) -> Response:
    await page.require("merchant.orders.fulfil")
    merchant_id(page)
    data = AdvanceIn.model_validate(posted(await page.form(), ("action", "reason")))
    out = await flows.advance(page.session, order_id, data.action.value, page.subject,
                              data.reason)
    return page.redirect(f"/merchant/orders/{order_id}",
                         flash=f"Order {out.number} is {out.status.value.replace('_', ' ')}.")


# -- reviews ----------------------------------------------------------------------------------

@router.get("/reviews")
async def reviews(page: MerchantPage) -> Response:
    await page.require("merchant.read")
    mine = merchant_id(page)
    answered = {"yes": True, "no": False}.get(choice(page, "answered", ("yes", "no")) or "")

    async def fetch(browse: Browse) -> Rows:
        return await merchants.browse_reviews(page.session, mine, browse, answered=answered)

    return await table(page, title="Reviews", fetch=fetch, default_sort="-created_at", columns=[
        Column("Written", lambda r: when(r.created_at), sort="created_at"),
        Column("Rating", lambda r: r.rating, sort="rating", numeric=True),
        Column("Comment", lambda r: r.comment), Column("Order", lambda r: r.order_id),
        Column("Status", lambda r: r.status), Column("Response", lambda r: r.response),
    ], filters=[Filter("answered", "Answered", (("yes", "answered"), ("no", "not yet")))],
        template="portal/reviews.html")


@router.post("/reviews/{review_id}/response")
async def respond(review_id: uuid.UUID, page: MerchantPage) -> Response:
    await page.require("merchant.reviews.respond")
    data = ResponseIn.model_validate(posted(await page.form(), ("response",)))
    await merchants.respond_to_review(page.session, merchant_id(page), review_id,
                                      data.response, page.subject)
    return page.redirect("/merchant/reviews", flash="Response published.")


# -- settlements ------------------------------------------------------------------------------

@router.get("/settlements")
async def settlements(page: MerchantPage) -> Response:
    await page.require("merchant.read")
    mine = merchant_id(page)
    status = choice(page, "status", SETTLEMENT_STATUSES)

    async def fetch(browse: Browse) -> Rows:
        return await payouts.browse_settlements(page.session, browse, merchant_id=mine,
                                                status=status)

    return await table(page, title="Settlements", fetch=fetch, columns=[
        Column("Code", lambda s: s.code, link=lambda s: f"/merchant/settlements/{s.id}"),
        Column("From", lambda s: s.period_start), Column("To", lambda s: s.period_end),
        Column("Status", lambda s: s.status.replace("_", " ")),
        Column("Net", lambda s: amount(s.net, s.currency), numeric=True),
        Column("Payable", lambda s: amount(s.payable, s.currency), numeric=True),
        Column("Payout", lambda s: s.payout_status),
    ], filters=[Filter("status", "Status", tuple((s, s.replace("_", " "))
                                                for s in SETTLEMENT_STATUSES))])


@router.get("/settlements/{settlement_id}")
async def settlement(settlement_id: uuid.UUID, page: MerchantPage) -> Response:
    await page.require("merchant.read")
    found = await payouts.get_settlement(page.session, settlement_id,
                                         merchant_id=merchant_id(page))
    return await page.render("portal/settlement.html", title=f"Settlement {found.code}",
                             settlement=found, amount=amount)


@router.get("/settlements/{settlement_id}/statement.csv")
async def statement(settlement_id: uuid.UUID, page: MerchantPage) -> Response:
    """The statement as the API gives it (GET /v1/merchant/settlements/{id}/statement.csv)."""
    await page.require("merchant.read")
    found = await payouts.get_settlement(page.session, settlement_id,
                                         merchant_id=merchant_id(page))
    return Response(payouts.statement_csv(found).encode(), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{found.code}.csv"'})
