"""The merchant portal's team: the merchant's users, their roles and whether they may sign in
(as /v1/merchant/users; owners only, with merchant.users.manage)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.console.forms import posted
from gullak.console.portal_forms import merchant_id
from gullak.console.web import ConsoleRoute, MerchantPage
from gullak.merchants import service as merchants
from gullak.merchants.schemas import MerchantUserIn, MerchantUserPatch, Role

router = APIRouter(route_class=ConsoleRoute)
MANAGE = "merchant.users.manage"


@router.get("/users")
async def users(page: MerchantPage) -> Response:
    await page.require(MANAGE)
    found = await merchants.list_merchant_users(page.session, merchant_id(page))
    return await page.render("portal/users.html", title="Users", users=found,
                             roles=[r.value for r in Role],
                             role_choices=[(r.value, r.value) for r in Role], permissions={
                                 role: sorted(perms) for role, perms
                                 in merchants.ROLE_PERMISSIONS.items()})


@router.post("/users")
async def create_user(page: MerchantPage) -> Response:
    await page.require(MANAGE)
    data = MerchantUserIn.model_validate(
        posted(await page.form(), ("email", "name", "role", "password"), keep=("role",)))
    out = await merchants.create_merchant_user(page.session, merchant_id(page), data,
                                               page.subject)
    return page.redirect("/merchant/users", flash=f"{out.email} may now sign in.")


@router.post("/users/{user_id}")
async def update_user(user_id: uuid.UUID, page: MerchantPage) -> Response:
    """A new role, or the account disabled (its sessions end) or enabled again."""
    await page.require(MANAGE)
    data = MerchantUserPatch.model_validate(posted(await page.form(), ("role", "status")))
    out = await merchants.update_merchant_user(page.session, merchant_id(page), user_id,
                                               role=data.role, status=data.status,
                                               actor=page.subject)
    return page.redirect("/merchant/users", flash=f"{out.email}: {out.role}, {out.status}.")
