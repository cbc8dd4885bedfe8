"""One user seen whole: profile and status, sessions and devices, wallet and its history,
orders, rewards and why, referrals, tickets, notifications sent, and the audit trail, one tab
each, each shown only to an admin holding its read permission. The changes made here (status,
sessions, devices, wallet adjustments) go through identity's commands and are audited as the
API audits them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.access import service as access
from gullak.console.tables import choice, param
from gullak.console.web import AdminPage, ConsoleRoute, Page
from gullak.identity import service as identity
from gullak.identity.schemas import AdjustmentIn, StatusIn, UserOut, UserStatus
from gullak.kit import audit
from gullak.kit.errors import InvalidInput, NotFound
from gullak.ledger import service as ledger
from gullak.notifications import service as notifications
from gullak.orders import service as orders
from gullak.referrals import service as referrals
from gullak.rewards import service as rewards
from gullak.support import service as support

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PAGE = 50
KEY = re.compile(r"^[A-Za-z0-9-]{8,64}$")  # the adjustment form's own idempotency key
AMOUNT = re.compile(r"^[0-9]{1,18}$")


@dataclass(frozen=True)
class Tab:
    name: str
    label: str
    permission: str


TABS = (
    Tab("profile", "Profile", "users.read"),
    Tab("sessions", "Sessions and devices", "users.read"),
    Tab("wallet", "Wallet", "ledger.read"),
    Tab("orders", "Orders", "orders.read"),
    Tab("rewards", "Rewards", "rewards.read"),
    Tab("referrals", "Referrals", "referrals.read"),
    Tab("tickets", "Tickets", "support.read"),
    Tab("notifications", "Notifications", "notifications.manage"),
    Tab("audit", "Audit trail", "audit.read"),
)
BY_NAME = {t.name: t for t in TABS}
Loader = Callable[[Page, UserOut, str | None], Awaitable[dict[str, Any]]]


@router.get("/users/{user_id}")
async def user_page(user_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("users.read")
    tab = BY_NAME[choice(page, "tab", list(BY_NAME)) or "profile"]
    await page.require(tab.permission)
    user = UserOut.model_validate(await identity.get_user(page.session, user_id))
    cursor = param(page, "cursor", max_length=100)
    context = await LOADERS[tab.name](page, user, cursor)
    return await page.render(
        "people/user.html", title=user.name or user.phone or user.email or "User", user=user,
        tab=tab.name, tabs=[t for t in TABS if page.can(t.permission)], **context)


async def _profile(page: Page, user: UserOut, cursor: str | None) -> dict[str, Any]:
    referrer = None
    if user.referred_by_id is not None:
        try:
            referrer = UserOut.model_validate(
                await identity.get_user(page.session, user.referred_by_id))
        except NotFound:  # deleted since: the id is still shown
            referrer = None
    return {"referrer": referrer, "statuses": [s.value for s in UserStatus],
            "addresses": await identity.list_addresses(page.session, user.id)}


async def _sessions(page: Page, user: UserOut, cursor: str | None) -> dict[str, Any]:
    return {"sessions": await identity.user_sessions(page.session, user.id),
            "devices": await identity.list_devices(page.session, user.id)}


async def _wallet(page: Page, user: UserOut, cursor: str | None) -> dict[str, Any]:
    holdings = await identity.wallet(page.session, user.id)
    asset = choice(page, "asset", [h.asset_code for h in holdings])
    if asset is None:
        asset = next((h.asset_code for h in holdings if h.account_id is not None), None)
    shown = next((h for h in holdings if h.asset_code == asset), None)
    history = None
    if shown is not None and shown.account_id is not None:
        history = await ledger.history(page.session, shown.account_id, limit=PAGE,
                                       cursor=cursor)
    return {"holdings": holdings, "asset": shown, "history": history,
            "adjust_key": uuid.uuid4().hex,
            "next_url": _next(page, "wallet", history.next_cursor if history else None,
                              asset=asset or "")}


async def _orders(page: Page, user: UserOut, cursor: str | None) -> dict[str, Any]:
    found = await orders.list_orders(page.session, user_id=user.id, cursor=cursor, limit=PAGE)
    return {"orders": found.items, "next_url": _next(page, "orders", found.next_cursor)}


async def _rewards(page: Page, user: UserOut, cursor: str | None) -> dict[str, Any]:
    found = await rewards.list_rewards(page.session, user_id=user.id, cursor=cursor, limit=PAGE)
    names = await rewards.rule_names(page.session, list({r.rule_id for r in found.items}))
    references = list({(r.reference_type, r.reference_id) for r in found.items})
    return {"rewards": found.items, "rule_names": names,
            "decisions": await rewards.user_decisions(page.session, user.id, references),
            "next_url": _next(page, "rewards", found.next_cursor)}


async def _referrals(page: Page, user: UserOut, cursor: str | None) -> dict[str, Any]:
    made = await referrals.list_referrals(page.session, referrer_id=user.id, cursor=cursor,
                                          limit=PAGE)
    by = await referrals.list_referrals(page.session, referee_id=user.id, limit=5)
    return {"referred": made.items, "referred_by": by.items,
            "next_url": _next(page, "referrals", made.next_cursor)}


async def _tickets(page: Page, user: UserOut, cursor: str | None) -> dict[str, Any]:
    found = await support.list_tickets(page.session, user_id=user.id, cursor=cursor, limit=PAGE)
    return {"tickets": found.items, "next_url": _next(page, "tickets", found.next_cursor)}


async def _notifications(page: Page, user: UserOut, cursor: str | None) -> dict[str, Any]:
    sent, after = await notifications.sent_to(page.session, user.id, cursor=cursor, limit=PAGE)
    return {"sent": sent, "next_url": _next(page, "notifications", after)}


async def _audit(page: Page, user: UserOut, cursor: str | None) -> dict[str, Any]:
    found = await access.search_audit(page.session, entity_type="user",
                                      entity_id=str(user.id), cursor=cursor, limit=PAGE)
    return {"entries": found.entries, "next_url": _next(page, "audit", found.next_cursor)}


LOADERS: dict[str, Loader] = {
    "profile": _profile, "sessions": _sessions, "wallet": _wallet, "orders": _orders,
    "rewards": _rewards, "referrals": _referrals, "tickets": _tickets,
    "notifications": _notifications, "audit": _audit}


def _next(page: Page, tab: str, cursor: str | None, **more: str) -> str | None:
    if cursor is None:
        return None
    return f"{page.request.url.path}?{urlencode({'tab': tab, **more, 'cursor': cursor})}"


# -- changes --------------------------------------------------------------------------------

@router.post("/users/{user_id}/status")
async def set_status(user_id: uuid.UUID, page: AdminPage) -> Response:
    """Suspend, block, deactivate or re-activate, always with a reason (leaving `active` ends
    every session of the user)."""
    await page.require("users.manage")
    form = await page.form()
    data = StatusIn.model_validate({"status": form.get("status", ""),
                                    "reason": form.get("reason") or None})
    if data.reason is None:
        raise InvalidInput("A reason is required.", code="reason_required", field="reason")
    before = UserOut.model_validate(await identity.get_user(page.session, user_id))
    after = await identity.set_status(page.session, user_id, data.status.value, data.reason)
    await audit.record(page.session, page.subject, "user.status", "user", str(user_id),
                       before=before.model_dump(mode="json"), after=after.model_dump(mode="json"))
    return page.redirect(f"/console/users/{user_id}", flash=f"The account is {after.status}.")


@router.post("/users/{user_id}/sessions/{session_id}/end")
async def end_session(user_id: uuid.UUID, session_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("users.manage")
    await identity.end_user_session(page.session, user_id, session_id)
    await audit.record(page.session, page.subject, "user.session.end", "user", str(user_id),
                       after={"session_id": str(session_id)})
    return page.redirect(f"/console/users/{user_id}?tab=sessions", flash="The session ended.")


@router.post("/users/{user_id}/sessions/end-all")
async def end_all_sessions(user_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("users.manage")
    await identity.get_user(page.session, user_id)
    await identity.revoke_all(page.session, "user", user_id, reason="ended by an admin")
    await audit.record(page.session, page.subject, "user.session.end_all", "user", str(user_id))
    return page.redirect(f"/console/users/{user_id}?tab=sessions",
                         flash="Every session of this user ended.")


@router.post("/users/{user_id}/devices/remove")
async def remove_device(user_id: uuid.UUID, page: AdminPage) -> Response:
    """Forget a device and its push token (the user registers it again on next use)."""
    await page.require("users.manage")
    device_id = (await page.form()).get("device_id", "")
    if not device_id or len(device_id) > 200:
        raise InvalidInput("Which device?", code="invalid_device", field="device_id")
    await identity.delete_device(page.session, user_id, device_id)
    await audit.record(page.session, page.subject, "user.device.remove", "user", str(user_id),
                       before={"device_id": device_id})
    return page.redirect(f"/console/users/{user_id}?tab=sessions", flash="The device is gone.")


@router.post("/users/{user_id}/wallet/adjust")
async def adjust_wallet(user_id: uuid.UUID, page: AdminPage) -> Response:
    """Credit or debit the wallet: a ledger transfer with the platform's issuance account,
    carrying the reason, once per form (its key), as the API's adjustment."""
    await page.require("wallet.adjust")
    form = await page.form()
    raw, direction, key = form.get("amount", "").strip(), form.get("direction"), form.get("key")
    if not AMOUNT.match(raw) or int(raw) == 0:
        raise InvalidInput("The amount is a whole number of minor units above zero.",
                           code="invalid_amount", field="amount")
    if direction not in ("credit", "debit"):
        raise InvalidInput("Credit or debit?", code="invalid_direction", field="direction")
    if key is None or not KEY.match(key):
        raise InvalidInput("The form has no key; reload the page.", code="invalid_key",
                           field="key")
    data = AdjustmentIn.model_validate({
        "asset_code": form.get("asset_code", ""), "reason": form.get("reason", ""),
        "amount": int(raw) if direction == "credit" else -int(raw)})
    before = await identity.wallet(page.session, user_id)
    out = await identity.adjust_wallet(page.session, user_id, data.asset_code, data.amount,
                                       data.reason, f"admin:{page.subject.id}:{key}")
    after = await identity.wallet(page.session, user_id)
    await audit.record(page.session, page.subject, "wallet.adjust", "user", str(user_id),
                       before=[b.model_dump(mode="json") for b in before],
                       after={"transfer": out.model_dump(mode="json"),
                              "wallet": [b.model_dump(mode="json") for b in after]})
    return page.redirect(f"/console/users/{user_id}?tab=wallet&asset={data.asset_code}",
                         flash=f"Adjusted: {direction} of {raw} {data.asset_code} (minor units).")
