"""Back-office HTTP API: admin sign-in, admins, roles, API keys, audit log, settings, flags."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.access import service
from gullak.access.schemas import (
    AdminCreatedOut,
    AdminIn,
    AdminLoginIn,
    AdminOut,
    AdminUpdateIn,
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    AuditPage,
    FlagIn,
    FlagOut,
    Key,
    PermissionOut,
    RoleIn,
    RoleOut,
    SettingIn,
    SettingOut,
)
from gullak.db.uow import SessionDep
from gullak.identity.schemas import TokensOut
from gullak.identity.service import Client
from gullak.kit import audit
from gullak.kit.errors import InvalidInput
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, basic_credentials, require, require_kind
from gullak.settings import Settings

router = APIRouter(prefix="/v1/admin", tags=["admin"])
AdminSelf = Annotated[Subject, require_kind("admin")]


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def basic(request: Request, session: AsyncSession, credentials: str) -> Subject | None:
    """HTTP Basic `holder:key` of a service client's API key."""
    found = basic_credentials(credentials)
    if found is None:
        return None
    return await service.authenticate_api_key(session, *found)


async def audit_denial(request: Request, session: AsyncSession, subject: Subject,
                       permission: str) -> None:
    await audit.record(session, subject, f"denied:{permission}", "route",
                       f"{request.method} {request.url.path}", outcome="denied")


@router.post("/auth/login",
             responses=errors(401, 429), summary="Admin sign-in: password and authenticator code")
async def login(body: AdminLoginIn, request: Request, session: SessionDep) -> TokensOut:
    return await service.admin_login(session, settings_of(request), body.email, body.password,
                                     body.totp_code, body.device, Client.of(request))


@router.get("/me")
async def me(subject: AdminSelf, session: SessionDep) -> AdminOut:
    return await service.get_admin(session, subject.id)


@router.get("/admins")
async def list_admins(session: SessionDep,
                      _: Annotated[Subject, require("admins.manage")]) -> list[AdminOut]:
    return await service.list_admins(session)


@router.post("/admins", status_code=201, summary="Create an admin (password and TOTP shown once)")
async def create_admin(body: AdminIn, request: Request, session: SessionDep,
                       actor: Annotated[Subject, require("admins.manage")]) -> AdminCreatedOut:
    out = await service.create_admin(session, settings_of(request), body, actor)
    await audit.record(session, actor, "admin.create", "admin", str(out.id),
                       after=AdminOut(**out.model_dump()).model_dump(mode="json"))
    return out


@router.get("/admins/{admin_id}")
async def get_admin(admin_id: uuid.UUID, session: SessionDep,
                    _: Annotated[Subject, require("admins.manage")]) -> AdminOut:
    return await service.get_admin(session, admin_id)


@router.patch("/admins/{admin_id}")
async def update_admin(admin_id: uuid.UUID, body: AdminUpdateIn, session: SessionDep,
                       actor: Annotated[Subject, require("admins.manage")]) -> AdminOut:
    before = await service.get_admin(session, admin_id)
    after = await service.update_admin(session, admin_id, body, actor)
    await audit.record(session, actor, "admin.update", "admin", str(admin_id),
                       before=before.model_dump(mode="json"), after=after.model_dump(mode="json"))
    return after


@router.get("/permissions")
async def list_permissions(session: SessionDep,
                           _: Annotated[Subject, require("roles.manage")]) -> list[PermissionOut]:
    return await service.list_permissions(session)


@router.get("/roles")
async def list_roles(session: SessionDep,
                     _: Annotated[Subject, require("roles.manage")]) -> list[RoleOut]:
    return await service.list_roles(session)


@router.put("/roles/{name}", summary="Create a role or replace its permissions")
async def put_role(name: Text, body: RoleIn, session: SessionDep,
                   actor: Annotated[Subject, require("roles.manage")]) -> RoleOut:
    if body.name != name:
        raise InvalidInput(f"The body names the role {body.name!r}, the path {name!r}.",
                           code="name_mismatch", field="name")
    before = (await service.list_roles(session))
    old = next((r for r in before if r.name == name), None)
    after = await service.put_role(session, body, actor)
    await audit.record(session, actor, "role.put", "role", name,
                       before=old.model_dump(mode="json") if old else None,
                       after=after.model_dump(mode="json"))
    return after


@router.get("/api-keys")
async def list_api_keys(session: SessionDep,
                        _: Annotated[Subject, require("api_keys.manage")]) -> list[ApiKeyOut]:
    return await service.list_api_keys(session)


@router.post("/api-keys", status_code=201, summary="Create an API key (the key is shown once)")
async def create_api_key(body: ApiKeyIn, session: SessionDep,
                         actor: Annotated[Subject, require("api_keys.manage")]) -> ApiKeyCreatedOut:
    out = await service.create_api_key(session, body, actor.id, actor)
    await audit.record(session, actor, "api_key.create", "api_key", str(out.id),
                       after=ApiKeyOut(**out.model_dump()).model_dump(mode="json"))
    return out


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(key_id: uuid.UUID, session: SessionDep,
                         actor: Annotated[Subject, require("api_keys.manage")]) -> ApiKeyOut:
    before, after = await service.revoke_api_key(session, key_id)
    await audit.record(session, actor, "api_key.revoke", "api_key", str(key_id),
                       before=before.model_dump(mode="json"), after=after.model_dump(mode="json"))
    return after


@router.get("/audit", summary="Search the audit log, newest first")
async def search_audit(
    session: SessionDep,
    _: Annotated[Subject, require("audit.read")],
    entity_type: Text | None = None,
    entity_id: Text | None = None,
    actor_type: Text | None = None,
    actor_id: uuid.UUID | None = None,
    action: Text | None = None,
    outcome: Text | None = None,
    cursor: Text | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPage:
    return await service.search_audit(session, entity_type=entity_type, entity_id=entity_id,
                                      actor_type=actor_type, actor_id=actor_id, action=action,
                                      outcome=outcome, cursor=cursor, limit=limit)


@router.get("/settings")
async def list_settings(session: SessionDep,
                        _: Annotated[Subject, require("settings.manage")]) -> list[SettingOut]:
    return await service.list_settings(session)


@router.put("/settings/{key}")
async def put_setting(key: Key, body: SettingIn, session: SessionDep,
                      actor: Annotated[Subject, require("settings.manage")]) -> SettingOut:
    before, after = await service.put_setting(session, key, body, actor.id)
    await audit.record(session, actor, "setting.put", "app_setting", key,
                       before=before.model_dump(mode="json") if before else None,
                       after=after.model_dump(mode="json"))
    return after


@router.get("/flags")
async def list_flags(session: SessionDep,
                     _: Annotated[Subject, require("settings.manage")]) -> list[FlagOut]:
    return await service.list_flags(session)


@router.put("/flags/{key}")
async def put_flag(key: Key, body: FlagIn, session: SessionDep,
                   actor: Annotated[Subject, require("settings.manage")]) -> FlagOut:
    before, after = await service.put_flag(session, key, body, actor.id)
    await audit.record(session, actor, "flag.put", "feature_flag", key,
                       before=before.model_dump(mode="json") if before else None,
                       after=after.model_dump(mode="json"))
    return after
