"""People: the users list, the global search, and (in their own modules, mounted here) the
user 360 page (`user360`), the staff pages (`staff`: admins, roles, departments) and the
audit log (`auditlog`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.console import auditlog, staff, user360
from gullak.console.tables import Column, Filter, choice, param, table
from gullak.console.web import AdminPage, ConsoleRoute
from gullak.identity import service as identity
from gullak.identity.schemas import UserOut, UserStatus
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import NotFound
from gullak.ledger import service as ledger
from gullak.merchants import service as merchants
from gullak.orders import service as orders

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

STATUSES = tuple(s.value for s in UserStatus)


@router.get("/users")
async def users(page: AdminPage) -> Response:
    await page.require("users.read")
    status = choice(page, "status", STATUSES)
    q = param(page, "q", max_length=100)

    async def fetch(browse: Browse) -> Rows:
        return await identity.browse_users(page.session, browse, status=status, q=q)

    return await table(
        page, title="Users", default_sort="-created", fetch=fetch,
        filters=[Filter("q", "Search", placeholder="Name, email, username or phone digits"),
                 Filter("status", "Status", tuple((s, s) for s in STATUSES))],
        columns=[
            Column("Name", lambda u: u.name or "(no name)",
                   link=lambda u: f"/console/users/{u.id}"),
            Column("Phone", lambda u: u.phone),
            Column("Email", lambda u: u.email),
            Column("Status", lambda u: u.status.value),
            Column("Last sign-in", lambda u: u.last_login_at),
            Column("Created", lambda u: u.created_at, sort="created"),
            Column("Id", lambda u: u.id),
        ])


@dataclass
class Found:
    """One kind of thing the search looks for, shown only to an admin who may read it."""

    label: str
    permission: str
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (label, detail, link)


@router.get("/search")
async def search(page: AdminPage) -> Response:
    """Users by phone, email or id; orders by number; merchants by name; transfers by id.
    A kind the admin may not read is neither searched nor mentioned."""
    q = param(page, "q", max_length=200)
    kinds = [Found("Users", "users.read"), Found("Orders", "orders.read"),
             Found("Merchants", "merchants.read"), Found("Transfers", "ledger.read")]
    shown = [k for k in kinds if page.can(k.permission)]
    if q is not None:
        for kind in shown:
            kind.rows = await _FINDERS[kind.label](page.session, q)
    return await page.render("people/search.html", title="Search", search_query=q or "",
                             q=q, kinds=shown)


def _id(q: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(q)
    except ValueError:
        return None


async def _users(session: AsyncSession, q: str) -> list[tuple[str, str, str]]:
    found = await identity.lookup_users(session, q)
    wanted = _id(q)
    if wanted is not None and not found:
        try:
            found = [UserOut.model_validate(await identity.get_user(session, wanted))]
        except NotFound:
            pass
    return [(u.name or u.phone or u.email or str(u.id),
             " · ".join(x for x in (u.phone, u.email, u.status.value) if x),
             f"/console/users/{u.id}") for u in found]


async def _orders(session: AsyncSession, q: str) -> list[tuple[str, str, str]]:
    order = await orders.find_by_number(session, q)
    if order is None:
        return []
    return [(order.number, f"{order.status} · {order.currency} total {order.total} (minor units)",
             f"/console/orders/{order.id}")]


async def _merchants(session: AsyncSession, q: str) -> list[tuple[str, str, str]]:
    found = await merchants.list_merchants(session, q=q, limit=20)
    return [(m.name, " · ".join(x for x in (m.city, m.status) if x),
             f"/console/merchants/{m.id}") for m in found.items]


async def _transfers(session: AsyncSession, q: str) -> list[tuple[str, str, str]]:
    wanted = _id(q)
    if wanted is None:
        return []
    try:
        t = await ledger.get_transfer(session, wanted)
    except NotFound:
        return []
    return [(str(t.id), f"{t.kind} · {t.amount} {t.asset_code} (minor units)",
             f"/console/ledger/transfers/{t.id}")]


_FINDERS = {"Users": _users, "Orders": _orders, "Merchants": _merchants,
            "Transfers": _transfers}

router.include_router(user360.router)
router.include_router(staff.router)
router.include_router(auditlog.router)
