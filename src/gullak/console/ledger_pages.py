"""The ledger explorer: assets with what is outstanding, accounts, an account's entries with
its balance after each, a transfer with the rest of its transaction, holds, expiring lots,
and the ledger's checks (read: ledger.read; running the checks: ledger.admin, the ledger
API's permission for the ledger's own upkeep)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.console.figures import owner_link, reference_link
from gullak.console.forms import decimal
from gullak.console.tables import Column, Filter, choice, param, table, uuid_param
from gullak.console.web import AdminPage, ConsoleRoute, Page
from gullak.kit import audit
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import InvalidInput
from gullak.ledger import service as ledger
from gullak.ledger.schemas import OwnerType

router = APIRouter(route_class=ConsoleRoute)
READ, ADMIN = "ledger.read", "ledger.admin"
OWNER_TYPES = tuple(t.value for t in OwnerType)
ASSET = re.compile(r"^[A-Z][A-Z0-9_]{1,31}$")
PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
TABS = (("/console/ledger", "Assets and checks"), ("/console/ledger/accounts", "Accounts"),
        ("/console/ledger/holds", "Holds"), ("/console/ledger/lots", "Expiring lots"))


def _matching(page: Page, name: str, pattern: re.Pattern[str], *, upper: bool = False
              ) -> str | None:
    value = param(page, name, max_length=40)
    if value is not None and upper:
        value = value.upper()
    if value is not None and not pattern.match(value):
        raise InvalidInput(f"The filter {name} is not valid.", code="invalid_filter", field=name)
    return value


def short(value: uuid.UUID | None) -> str:
    """An id as people compare them: its last twelve characters."""
    return "" if value is None else str(value)[-12:]


def when(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(dt.UTC).isoformat(timespec="seconds")


def account_url(account_id: uuid.UUID) -> str:
    return f"/console/ledger/accounts/{account_id}"


async def _scales(page: Page) -> dict[str, int]:
    return {a.code: a.scale for a in await ledger.list_assets(page.session)}


@router.get("/ledger")
async def overview(page: AdminPage) -> Response:
    await page.require(READ)
    return await page.render(
        "books/ledger.html", title="Ledger", tabs=TABS,
        assets=await ledger.asset_totals(page.session),
        checks=await ledger.recent_checks(page.session, limit=5),
        queued=await ledger.check_queued(page.session))


@router.post("/ledger/checks")
async def verify_now(page: AdminPage) -> Response:
    """Queues `ledger verify` as a job (one at a time); the page shows its result."""
    await page.require(ADMIN)
    job_id = await ledger.request_check(page.session, page.subject)
    await audit.record(page.session, page.subject, "ledger.verify.request", "ledger_check",
                       None, after={"job_id": job_id, "queued": job_id is not None})
    flash = ("The ledger's checks are queued; their result shows here once they ran."
             if job_id is not None else "A run of the checks is queued already.")
    return page.redirect("/console/ledger", flash=flash)


@router.get("/ledger/accounts")
async def account_list(page: AdminPage) -> Response:
    await page.require(READ)
    owner_type = choice(page, "owner_type", OWNER_TYPES)
    owner_id = uuid_param(page, "owner_id")
    asset_code = _matching(page, "asset_code", ASSET, upper=True)
    purpose = _matching(page, "purpose", PURPOSE)
    scales = await _scales(page)

    async def fetch(browse: Browse) -> Rows:
        return await ledger.browse_accounts(page.session, browse, owner_type=owner_type,
                                            owner_id=owner_id, asset_code=asset_code,
                                            purpose=purpose)

    columns = [
        Column("Account", lambda a: a.id, link=lambda a: account_url(a.id)),
        Column("Owner", lambda a: a.owner_type),
        Column("Owner id", lambda a: a.owner_id, link=lambda a: owner_link(a.owner_type,
                                                                           a.owner_id)),
        Column("Asset", lambda a: a.asset_code),
        Column("Purpose", lambda a: a.purpose),
        Column("Balance", lambda a: decimal(a.balance, scales.get(a.asset_code, 0)),
               numeric=True),
        Column("Held", lambda a: decimal(a.held, scales.get(a.asset_code, 0)), numeric=True),
        Column("Frozen", lambda a: a.frozen_reason or ""),
        Column("Opened", lambda a: when(a.created_at)),
    ]
    filters = [
        Filter("owner_type", "Owner", tuple((t, t.replace("_", " ")) for t in OWNER_TYPES)),
        Filter("owner_id", "Owner id", placeholder="uuid"),
        Filter("asset_code", "Asset", placeholder="INR"),
        Filter("purpose", "Purpose", placeholder="main"),
    ]
    return await table(page, title="Ledger accounts", columns=columns, fetch=fetch,
                       filters=filters, template="books/tabbed_table.html", tabs=TABS)


@router.get("/ledger/accounts/{account_id}")
async def account_page(account_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require(READ)
    row = await ledger.account_row(page.session, account_id)
    account = await ledger.get_account(page.session, account_id)
    asset = await ledger.get_asset(page.session, account.asset_code)
    scale = asset.scale

    async def fetch(browse: Browse) -> Rows:
        return await ledger.entries(page.session, account_id, browse)

    columns = [
        Column("Entry", lambda e: e.seq, link=lambda e: f"/console/ledger/transfers/{e.transfer_id}"),
        Column("When", lambda e: when(e.created_at)),
        Column("Kind", lambda e: e.kind),
        Column("Amount", lambda e: decimal(e.amount, scale), numeric=True),
        Column("Balance after", lambda e: decimal(e.balance_after, scale), numeric=True),
        Column("Counterparty", lambda e: short(e.counterparty_account_id),
               link=lambda e: account_url(e.counterparty_account_id)),
        Column("Reference", lambda e: f"{e.reference_type}:{e.reference_id}"
               if e.reference_type else (e.reference_id or ""),
               link=lambda e: reference_link(e.reference_type, e.reference_id)),
        Column("Transfer", lambda e: e.transfer_id),
    ]
    return await table(
        page, title=f"Account {short(account_id)}", columns=columns, fetch=fetch,
        template="books/account.html", tabs=TABS, account=account, row=row, asset=asset,
        balance=await ledger.balance(page.session, account_id),
        owner_url=owner_link(account.owner_type, account.owner_id))


@router.get("/ledger/transfers/{transfer_id}")
async def transfer_page(transfer_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require(READ)
    detail = await ledger.transfer_detail(page.session, transfer_id)
    return await page.render(
        "books/transfer.html", title=f"Transfer {short(transfer_id)}", tabs=TABS, d=detail,
        scale=(await ledger.get_asset(page.session, detail.transfer.asset_code)).scale,
        owner_link=owner_link, reference_link=reference_link, short=short)


@router.get("/ledger/holds")
async def hold_list(page: AdminPage) -> Response:
    await page.require(READ)
    status = choice(page, "status", ledger.HOLD_STATUSES)
    account_id = uuid_param(page, "account_id")
    asset_code = _matching(page, "asset_code", ASSET, upper=True)
    reference_id = param(page, "reference_id")
    scales = await _scales(page)

    async def fetch(browse: Browse) -> Rows:
        return await ledger.browse_holds(page.session, browse, status=status,
                                         account_id=account_id, asset_code=asset_code,
                                         reference_id=reference_id)

    def units(hold: Any, amount: int) -> str:
        return decimal(amount, scales.get(hold.asset_code, 0))

    columns = [
        Column("Hold", lambda h: short(h.id)),
        Column("Account", lambda h: short(h.account_id), link=lambda h: account_url(h.account_id)),
        Column("Asset", lambda h: h.asset_code),
        Column("Amount", lambda h: units(h, h.amount), numeric=True),
        Column("Captured", lambda h: units(h, h.captured), numeric=True),
        Column("Status", lambda h: h.status),
        Column("Reference", lambda h: f"{h.reference_type}:{h.reference_id}"
               if h.reference_type else "",
               link=lambda h: reference_link(h.reference_type, h.reference_id)),
        Column("Placed", lambda h: when(h.created_at), sort="created"),
        Column("Expires", lambda h: when(h.expires_at), sort="expires"),
        Column("Resolved", lambda h: when(h.resolved_at)),
    ]
    filters = [Filter("status", "Status", tuple((s, s) for s in ledger.HOLD_STATUSES)),
               Filter("account_id", "Account", placeholder="uuid"),
               Filter("asset_code", "Asset", placeholder="COIN"),
               Filter("reference_id", "Reference id")]
    return await table(page, title="Holds", columns=columns, fetch=fetch, filters=filters,
                       template="books/tabbed_table.html", tabs=TABS)


@router.get("/ledger/lots")
async def lot_list(page: AdminPage) -> Response:
    await page.require(READ)
    state = choice(page, "state", ledger.LOT_STATES)
    account_id = uuid_param(page, "account_id")
    asset_code = _matching(page, "asset_code", ASSET, upper=True)
    scales = await _scales(page)

    async def fetch(browse: Browse) -> Rows:
        return await ledger.browse_lots(page.session, browse, state=state,
                                        account_id=account_id, asset_code=asset_code)

    def units(lot: Any, amount: int) -> str:
        return decimal(amount, scales.get(lot.asset_code, 0))

    columns = [
        Column("Lot", lambda x: short(x.id)),
        Column("Owner", lambda x: f"{x.owner_type} {short(x.owner_id)}",
               link=lambda x: owner_link(x.owner_type, x.owner_id)),
        Column("Account", lambda x: short(x.account_id),
               link=lambda x: account_url(x.account_id)),
        Column("Asset", lambda x: x.asset_code),
        Column("Granted", lambda x: units(x, x.amount), numeric=True),
        Column("Left", lambda x: units(x, x.remaining), numeric=True),
        Column("Reserved", lambda x: units(x, x.reserved), numeric=True),
        Column("Expires", lambda x: when(x.expires_at), sort="expires"),
        Column("Granted at", lambda x: when(x.created_at), sort="created",
               link=lambda x: f"/console/ledger/transfers/{x.transfer_id}"),
    ]
    filters = [Filter("state", "State", (("open", "open"), ("expired", "expired, not swept"),
                                         ("used", "used up"))),
               Filter("account_id", "Account", placeholder="uuid"),
               Filter("asset_code", "Asset", placeholder="PROMO")]
    return await table(page, title="Expiring lots", columns=columns, fetch=fetch,
                       filters=filters, default_sort="expires",
                       template="books/tabbed_table.html", tabs=TABS)
