"""The audit log: who changed what, filtered by actor, action, entity, outcome and dates,
newest first, as a page or a CSV (the CSV carries each entry's before and after too); and
one entry in full."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.access import service as access
from gullak.access.schemas import AuditOut
from gullak.console.tables import Column, Filter, choice, param, table, uuid_param
from gullak.console.web import AdminPage, ConsoleRoute, Page
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import InvalidInput, NotFound

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

ACTORS = ("admin", "service", "merchant_user", "user", "system")
OUTCOMES = ("ok", "denied", "invalid")


def _day(page: Page, name: str) -> dt.datetime | None:
    """A `YYYY-MM-DD` filter as the start of that day in UTC."""
    value = param(page, name, max_length=10)
    if value is None:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC)
    except ValueError:
        raise InvalidInput(f"The filter {name} is a date (YYYY-MM-DD).", code="invalid_filter",
                           field=name) from None


def _entity_link(e: AuditOut) -> str | None:
    links = {"user": "/console/users/", "admin": "/console/admins/",
             "merchant": "/console/merchants/", "order": "/console/orders/"}
    prefix = links.get(e.entity_type)
    return f"{prefix}{e.entity_id}" if prefix and e.entity_id else None


def _json(value: object) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


@router.get("/audit")
async def audit_log(page: AdminPage) -> Response:
    await page.require("audit.read")
    since, until = _day(page, "since"), _day(page, "until")
    actor_type, actor_id = choice(page, "actor_type", ACTORS), uuid_param(page, "actor_id")
    action, outcome = param(page, "action", max_length=100), choice(page, "outcome", OUTCOMES)
    entity_type = param(page, "entity_type", max_length=100)
    entity_id = param(page, "entity_id", max_length=200)

    async def fetch(browse: Browse) -> Rows:
        return await access.browse_audit(
            page.session, browse, actor_type=actor_type, actor_id=actor_id, action=action,
            entity_type=entity_type, entity_id=entity_id, outcome=outcome, since=since,
            # Through the end of the day; after the last day a date holds, nothing is.
            until=until + dt.timedelta(days=1) if until and until.date() < dt.date.max
            else None)

    columns = [
        Column("When", lambda e: e.at, link=lambda e: f"/console/audit/{e.id}", sort="at"),
        Column("Actor", lambda e: e.actor_type),
        Column("Actor id", lambda e: e.actor_id,
               link=lambda e: f"/console/admins/{e.actor_id}"
               if e.actor_type == "admin" and e.actor_id and page.can("admins.manage") else None),
        Column("Action", lambda e: e.action),
        Column("Entity", lambda e: e.entity_type),
        Column("Entity id", lambda e: e.entity_id, link=_entity_link),
        Column("Outcome", lambda e: e.outcome),
        Column("IP", lambda e: e.ip),
    ]
    if page.request.query_params.get("format") == "csv":
        columns += [Column("Before", lambda e: _json(e.before)),
                    Column("After", lambda e: _json(e.after)),
                    Column("Request id", lambda e: e.request_id),
                    Column("Entry id", lambda e: e.id)]
    return await table(
        page, title="Audit log", default_sort="-at", fetch=fetch, columns=columns,
        filters=[Filter("actor_type", "Actor", tuple((a, a) for a in ACTORS)),
                 Filter("actor_id", "Actor id", placeholder="uuid"),
                 Filter("action", "Action", placeholder="user.status"),
                 Filter("entity_type", "Entity", placeholder="user"),
                 Filter("entity_id", "Entity id"),
                 Filter("outcome", "Outcome", tuple((o, o) for o in OUTCOMES)),
                 Filter("since", "From", placeholder="YYYY-MM-DD"),
                 Filter("until", "To (inclusive)", placeholder="YYYY-MM-DD")])


@router.get("/audit/{entry_id}")
async def audit_entry(entry_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("audit.read")
    entry = await access.get_audit_entry(page.session, entry_id)
    if entry is None:
        raise NotFound("No such audit entry.")
    return await page.render(
        "people/audit_entry.html", title=f"Audit entry {entry.action}", entry=entry,
        link=_entity_link(entry), before=json.dumps(entry.before, indent=2, sort_keys=True),
        after=json.dumps(entry.after, indent=2, sort_keys=True))
