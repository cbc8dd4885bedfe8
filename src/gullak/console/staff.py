"""The back office's own people: admins (created with a one-time password and authenticator
secret shown once; their roles, departments and status edited), roles and their permission
sets, and departments with their members. Every change goes through the access service, with
the signed-in admin as the actor (who can grant only what they hold), and is audited as the
API audits it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from itertools import groupby
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import TypeAdapter

from gullak.access import errors as access_errors
from gullak.access import service as access
from gullak.access.schemas import (
    AdminIn,
    AdminOut,
    AdminUpdateIn,
    Name,
    PermissionOut,
    RoleIn,
    RoleOut,
)
from gullak.console.web import AdminPage, ConsoleRoute
from gullak.kit import audit

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

NAME = TypeAdapter(Name)


def _picked(form: Mapping[str, str], prefix: str) -> list[str]:
    """The boxes ticked in a group of checkboxes named `<prefix>:<value>`."""
    return sorted(k.removeprefix(prefix + ":") for k in form if k.startswith(prefix + ":"))


def _departments(form: Mapping[str, str]) -> list[str]:
    """Ticked departments and any new ones typed in, comma-separated (created on the fly)."""
    typed = [d.strip() for d in form.get("new_departments", "").split(",") if d.strip()]
    return sorted(set(_picked(form, "dept")) | set(typed))


# -- admins ---------------------------------------------------------------------------------

@router.get("/admins")
async def admins(page: AdminPage) -> Response:
    await page.require("admins.manage")
    return await page.render(
        "people/admins.html", title="Admins", admins=await access.list_admins(page.session),
        roles=await access.list_roles(page.session),
        departments=await access.list_departments(page.session))


@router.post("/admins")
async def create_admin(page: AdminPage) -> Response:
    """The new admin's password and TOTP secret are in this answer only (no-store): they are
    not kept in the clear anywhere."""
    await page.require("admins.manage")
    form = await page.form()
    data = AdminIn.model_validate({
        "email": form.get("email", ""), "name": form.get("name", ""),
        "city": form.get("city") or None, "roles": _picked(form, "role"),
        "departments": _departments(form)})
    out = await access.create_admin(page.session, page.settings, data, page.subject)
    await audit.record(page.session, page.subject, "admin.create", "admin", str(out.id),
                       after=AdminOut(**out.model_dump()).model_dump(mode="json"))
    return await page.render("people/admin_created.html", title="Admin created", created=out)


@router.get("/admins/{admin_id}")
async def admin(admin_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("admins.manage")
    found = await access.get_admin(page.session, admin_id)
    return await page.render(
        "people/admin.html", title=found.name, admin=found,
        roles=await access.list_roles(page.session),
        departments=await access.list_departments(page.session))


@router.post("/admins/{admin_id}")
async def update_admin(admin_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("admins.manage")
    form = await page.form()
    data = AdminUpdateIn.model_validate({
        "name": form.get("name") or None, "city": form.get("city") or None,
        "status": form.get("status") or None, "roles": _picked(form, "role"),
        "departments": _departments(form)})
    before = await access.get_admin(page.session, admin_id)
    # Checked before anything changes: this page answers a refusal itself, so a refusal
    # raised halfway through the update would leave its first half written.
    known = {r.name for r in await access.list_roles(page.session)}
    unknown = sorted(set(data.roles or ()) - known)
    if unknown:
        raise access_errors.RoleNotFound(f"No role named {unknown[0]}.", field="roles")
    after = await access.update_admin(page.session, admin_id, data, page.subject)
    await audit.record(page.session, page.subject, "admin.update", "admin", str(admin_id),
                       before=before.model_dump(mode="json"), after=after.model_dump(mode="json"))
    return page.redirect(f"/console/admins/{admin_id}", flash="The admin is saved.")


# -- roles ----------------------------------------------------------------------------------

def _grouped(permissions: list[PermissionOut]) -> list[tuple[str, list[PermissionOut]]]:
    """Permissions by their area (`orders.read` is in `orders`), for a grid of checkboxes."""
    def area(p: PermissionOut) -> str:
        return p.code.split(".")[0]

    return [(k, list(v)) for k, v in groupby(sorted(permissions, key=lambda p: p.code), area)]


@router.get("/roles")
async def roles(page: AdminPage) -> Response:
    await page.require("roles.manage")
    return await page.render(
        "people/roles.html", title="Roles", roles=await access.list_roles(page.session),
        groups=_grouped(await access.list_permissions(page.session)),
        builtin=access.BUILTIN_ROLES)


@router.get("/roles/{name}")
async def role(name: str, page: AdminPage) -> Response:
    await page.require("roles.manage")
    found = await access.get_role(page.session, NAME.validate_python(name))
    return await page.render(
        "people/role.html", title=f"Role {found.name}", role=found,
        groups=_grouped(await access.list_permissions(page.session)),
        builtin=found.name in access.BUILTIN_ROLES)


@router.post("/roles")
async def create_role(page: AdminPage) -> Response:
    await page.require("roles.manage")
    form = await page.form()
    data = _role_in(form, form.get("name", ""))
    try:
        await access.get_role(page.session, data.name)
    except access_errors.RoleNotFound:
        return await _put_role(page, data, None)
    raise access_errors.AlreadyExists("A role with this name exists; edit it instead.",
                                      field="name")


@router.post("/roles/{name}")
async def edit_role(name: str, page: AdminPage) -> Response:
    await page.require("roles.manage")
    old = await access.get_role(page.session, NAME.validate_python(name))
    return await _put_role(page, _role_in(await page.form(), old.name), old)


def _role_in(form: Mapping[str, str], name: str) -> RoleIn:
    return RoleIn.model_validate({"name": name, "description": form.get("description") or None,
                                  "permissions": _picked(form, "perm")})


async def _put_role(page: AdminPage, data: RoleIn, old: RoleOut | None) -> Response:
    after = await access.put_role(page.session, data, page.subject)
    await audit.record(page.session, page.subject, "role.put", "role", data.name,
                       before=old.model_dump(mode="json") if old else None,
                       after=after.model_dump(mode="json"))
    return page.redirect(f"/console/roles/{quote(after.name, safe='')}", flash="The role is saved.")


# -- departments ------------------------------------------------------------------------------

@router.get("/departments")
async def departments(page: AdminPage) -> Response:
    await page.require("admins.manage")
    return await page.render("people/departments.html", title="Departments",
                             departments=await access.list_departments(page.session))


@router.post("/departments")
async def create_department(page: AdminPage) -> Response:
    await page.require("admins.manage")
    name = NAME.validate_python((await page.form()).get("name", ""))
    out = await access.create_department(page.session, name)
    await audit.record(page.session, page.subject, "department.create", "department",
                       str(out.id), after={"name": out.name})
    return page.redirect("/console/departments", flash=f"Department {out.name} created.")
