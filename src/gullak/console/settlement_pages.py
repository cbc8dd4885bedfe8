"""Merchants' settlements: the table (merchant, status; CSV), a settlement with its statement
(and the statement as the API's CSV), and running one for a merchant's period (payouts.settle,
as the settlements API; audited as it audits). Its payout is approved in the withdrawals'
queue, by someone other than whoever ran it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.console.forms import decimal, given, text
from gullak.console.ledger_pages import short, when
from gullak.console.tables import Column, Filter, choice, table, uuid_param
from gullak.console.web import AdminPage, ConsoleRoute
from gullak.kit import audit
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import InvalidInput
from gullak.payouts import service as payouts
from gullak.payouts.schemas import SettlementRunIn

router = APIRouter(route_class=ConsoleRoute)
READ, SETTLE = "payouts.read", "payouts.settle"
SCALE = 2  # settlements are in INR


@router.get("/settlements")
async def settlement_list(page: AdminPage) -> Response:
    await page.require(READ)
    merchant_id = uuid_param(page, "merchant_id")
    status = choice(page, "status", payouts.SETTLEMENT_STATUSES)

    async def fetch(browse: Browse) -> Rows:
        return await payouts.browse_settlements(page.session, browse, merchant_id=merchant_id,
                                                status=status)

    columns = [
        Column("Settlement", lambda s: s.code, link=lambda s: f"/console/settlements/{s.id}"),
        Column("Merchant", lambda s: short(s.merchant_id),
               link=lambda s: f"/console/merchants/{s.merchant_id}"),
        Column("From", lambda s: s.period_start.isoformat()),
        Column("To", lambda s: s.period_end.isoformat(), sort="period"),
        Column("Status", lambda s: s.status),
        Column("Net", lambda s: decimal(s.net, SCALE), numeric=True),
        Column("Payable", lambda s: decimal(s.payable, SCALE), numeric=True),
        Column("Carried", lambda s: decimal(s.carried_forward, SCALE), numeric=True),
        Column("Payout", lambda s: s.payout_status or ""),
        Column("Made", lambda s: when(s.created_at)),
    ]
    filters = [Filter("merchant_id", "Merchant id", placeholder="uuid"),
               Filter("status", "Status", tuple((s, s.replace("_", " "))
                                                for s in payouts.SETTLEMENT_STATUSES))]
    return await table(page, title="Settlements", columns=columns, fetch=fetch,
                       filters=filters, template="books/settlements.html")


@router.post("/settlements")
async def settlement_run(page: AdminPage) -> Response:
    await page.require(SETTLE)
    form = await page.form()
    merchant_id = uuid_param_of(form.get("merchant_id", ""))
    body = SettlementRunIn.model_validate(given({"period_start": text(form, "period_start"),
                                                 "period_end": text(form, "period_end")}))
    out, new = await payouts.run_settlement(page.session, page.settings, merchant_id,
                                            body.period_start, body.period_end, page.subject)
    await audit.record(page.session, page.subject, "payouts.settlement.run", "settlement",
                       str(out.id), after={**out.model_dump(mode="json", exclude={"lines"}),
                                           "new": new})
    flash = (f"Settlement {out.code} was made." if new
             else f"That period was settled before: {out.code}.")
    return page.redirect(f"/console/settlements/{out.id}", flash=flash)


def uuid_param_of(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise InvalidInput("Name the merchant by its id.", field="merchant_id") from None


@router.get("/settlements/{settlement_id}")
async def settlement_detail(settlement_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require(READ)
    s = await payouts.get_settlement(page.session, settlement_id)
    return await page.render("books/settlement.html", title=f"Settlement {s.code}", s=s,
                             scale=SCALE)


@router.get("/settlements/{settlement_id}/statement.csv")
async def settlement_statement(settlement_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require(READ)
    s = await payouts.get_settlement(page.session, settlement_id)
    return Response(payouts.statement_csv(s), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{s.code}.csv"'})
