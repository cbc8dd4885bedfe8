"""Gift cards and vouchers: issued cards (never a code in clear) and voiding one, the designs
sold as products, and vouchers (giftcards.read to look, giftcards.manage to change, as in
the gift cards API; the service audits each change). Bulk issue from a CSV file stays with
the API: its answer carries codes and PINs in clear, once."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.console.forms import decimal, given, moment, number, text
from gullak.console.ledger_pages import short, when
from gullak.console.tables import Column, Filter, choice, table, uuid_param
from gullak.console.web import AdminPage, ConsoleRoute
from gullak.giftcards import service as giftcards
from gullak.giftcards.schemas import CardStatus, DesignIn, VoidIn, VoucherIn
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows

router = APIRouter(route_class=ConsoleRoute)
READ, MANAGE = "giftcards.read", "giftcards.manage"
STATUSES = tuple(s.value for s in CardStatus)
TABS = (("/console/giftcards", "Cards"), ("/console/giftcards/designs", "Designs"),
        ("/console/giftcards/vouchers", "Vouchers"))


@router.get("/giftcards")
async def card_list(page: AdminPage) -> Response:
    await page.require(READ)
    status = choice(page, "status", STATUSES)
    batch_id, owner_id = uuid_param(page, "batch_id"), uuid_param(page, "owner_id")
    order_id = uuid_param(page, "order_id")

    async def fetch(browse: Browse) -> Rows:
        return await giftcards.browse_cards(page.session, browse, status=status,
                                            batch_id=batch_id, owner_id=owner_id,
                                            order_id=order_id)

    columns = [
        Column("Card", lambda c: c.code, link=lambda c: f"/console/giftcards/cards/{c.id}"),
        Column("Status", lambda c: c.status.value),
        Column("Source", lambda c: c.source),
        Column("Face value", lambda c: decimal(c.face_value), numeric=True),
        Column("Balance", lambda c: decimal(c.balance), numeric=True),
        Column("Held", lambda c: decimal(c.held), numeric=True),
        Column("Owner", lambda c: short(c.owner_id),
               link=lambda c: f"/console/users/{c.owner_id}" if c.owner_id else None),
        Column("Expires", lambda c: when(c.expires_at), sort="expires"),
        Column("Issued", lambda c: when(c.created_at)),
    ]
    filters = [Filter("status", "Status", tuple((s, s) for s in STATUSES)),
               Filter("owner_id", "Owner (user id)", placeholder="uuid"),
               Filter("order_id", "Order id", placeholder="uuid"),
               Filter("batch_id", "Batch id", placeholder="uuid")]
    return await table(page, title="Gift cards", columns=columns, fetch=fetch,
                       filters=filters, template="books/tabbed_table.html", tabs=TABS)


@router.get("/giftcards/cards/{card_id}")
async def card_detail(card_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require(READ)
    card = await giftcards.get_card(page.session, card_id)
    return await page.render("books/giftcard.html", title=f"Gift card {card.code}", card=card,
                             tabs=TABS)


@router.post("/giftcards/cards/{card_id}/void")
async def card_void(card_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require(MANAGE)
    form = await page.form()
    body = VoidIn.model_validate(given({"reason": text(form, "reason"), "to": text(form, "to")}))
    out = await giftcards.void(page.session, card_id, page.subject, body.reason, body.to)
    return page.redirect(f"/console/giftcards/cards/{card_id}",
                         flash=f"The card {out.code} is {out.status.value}.")


@router.get("/giftcards/designs")
async def design_list(page: AdminPage) -> Response:
    await page.require(READ)
    return await page.render("books/giftcard_designs.html", title="Gift card designs",
                             designs=await giftcards.list_designs(page.session), tabs=TABS)


@router.post("/giftcards/designs")
async def design_create(page: AdminPage) -> Response:
    await page.require(MANAGE)
    form = await page.form()
    body = DesignIn.model_validate(given({
        "product_id": text(form, "product_id"), "face_value": number(form, "face_value"),
        "validity_days": number(form, "validity_days")}))
    out = await giftcards.create_design(page.session, body, page.subject)
    return page.redirect("/console/giftcards/designs", flash=f"{out.name} is sold as a card.")


@router.get("/giftcards/vouchers")
async def voucher_list(page: AdminPage) -> Response:
    await page.require(READ)
    return await page.render("books/vouchers.html", title="Vouchers",
                             vouchers=await giftcards.list_vouchers(page.session), tabs=TABS)


@router.post("/giftcards/vouchers")
async def voucher_create(page: AdminPage) -> Response:
    await page.require(MANAGE)
    form = await page.form()
    asset = text(form, "asset_code")
    body = VoucherIn.model_validate(given({
        "code": text(form, "code"), "name": text(form, "name"),
        "asset_code": asset.upper() if asset else None,
        "amount": number(form, "amount"), "max_uses": number(form, "max_uses"),
        "valid_from": moment(form, "valid_from"), "valid_until": moment(form, "valid_until")}))
    out = await giftcards.create_voucher(page.session, body, page.subject)
    return page.redirect("/console/giftcards/vouchers", flash=f"The voucher {out.code} is made.")
