"""Notifications HTTP API: a user's inbox and preferences, and the back office's templates."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from gullak.db.uow import SessionDep
from gullak.kit import audit, express
from gullak.kit.openapi import errors
from gullak.kit.security import Subject, require, require_kind
from gullak.notifications import service
from gullak.notifications.schemas import (
    MarkedOut,
    NotificationOut,
    NotificationPage,
    PreferencesIn,
    PreferencesOut,
    PreviewIn,
    PreviewOut,
    TemplateCreate,
    TemplateIn,
    TemplateOut,
    UnreadOut,
)
from gullak.settings import Settings

router = APIRouter(tags=["notifications"])
User = Annotated[Subject, require_kind("user")]
Manager = Annotated[Subject, require("notifications.manage")]
Limit = Annotated[int, Query(ge=1, le=200)]
Code = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$", max_length=64)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get("/v1/me/notifications", summary="My notifications, newest first")
@express.lane
async def my_notifications(user: User, session: SessionDep, unread: bool = False,
                           cursor: uuid.UUID | None = None,
                           limit: Limit = 50) -> NotificationPage:
    return await service.list_notifications(session, user.id, unread=unread, cursor=cursor,
                                            limit=limit)


@router.get("/v1/me/notifications/unread-count", summary="How many of my notifications are unread")
@express.lane
async def unread_count(user: User, session: SessionDep) -> UnreadOut:
    return UnreadOut(unread=await service.unread_count(session, user.id))


@router.post("/v1/me/notifications/read-all", summary="Mark all my notifications read")
async def read_all(user: User, session: SessionDep) -> MarkedOut:
    return MarkedOut(marked=await service.mark_all_read(session, user.id))


@router.get("/v1/me/notifications/{notification_id}", responses=errors(404))
async def my_notification(notification_id: uuid.UUID, user: User,
                          session: SessionDep) -> NotificationOut:
    return await service.get_notification(session, user.id, notification_id)


@router.post("/v1/me/notifications/{notification_id}/read", responses=errors(404),
             summary="Mark one notification read")
async def read_one(notification_id: uuid.UUID, user: User,
                   session: SessionDep) -> NotificationOut:
    return await service.mark_read(session, user.id, notification_id)


@router.delete("/v1/me/notifications/{notification_id}", status_code=204,
               responses=errors(404), summary="Remove a notification from my inbox")
async def delete_one(notification_id: uuid.UUID, user: User, session: SessionDep) -> Response:
    await service.delete_notification(session, user.id, notification_id)
    return Response(status_code=204)


@router.get("/v1/me/notification-preferences", summary="My notification preferences")
async def my_preferences(user: User, session: SessionDep, request: Request) -> PreferencesOut:
    return await service.get_preferences(session, _settings(request), user.id)


@router.put("/v1/me/notification-preferences", responses=errors(422),
            summary="Set my time zone, quiet hours and channels per category")
async def put_preferences(body: PreferencesIn, user: User, session: SessionDep,
                          request: Request) -> PreferencesOut:
    return await service.put_preferences(session, _settings(request), user.id, body)


# -- back office ------------------------------------------------------------------------------

@router.get("/v1/admin/notification-templates", summary="Notification templates")
async def list_templates(session: SessionDep, _: Manager) -> list[TemplateOut]:
    return await service.list_templates(session)


@router.get("/v1/admin/notification-templates/{code}", responses=errors(404))
async def get_template(code: Code, session: SessionDep, _: Manager) -> TemplateOut:
    return await service.get_template(session, code)


@router.post("/v1/admin/notification-templates", status_code=201, responses=errors(409, 422),
             summary="Create a template (every placeholder must be a declared variable)")
async def create_template(body: TemplateCreate, session: SessionDep,
                          actor: Manager) -> TemplateOut:
    out = await service.create_template(session, body.code, body)
    await audit.record(session, actor, "notifications.template.create", "notification_template",
                       out.code, after=out.model_dump(mode="json"))
    return out


@router.put("/v1/admin/notification-templates/{code}", responses=errors(404, 422),
            summary="Change a template")
async def update_template(code: Code, body: TemplateIn, session: SessionDep,
                          actor: Manager) -> TemplateOut:
    before = await service.get_template(session, code)
    out = await service.update_template(session, code, body)
    await audit.record(session, actor, "notifications.template.update", "notification_template",
                       code, before=before.model_dump(mode="json"),
                       after=out.model_dump(mode="json"))
    return out


@router.delete("/v1/admin/notification-templates/{code}", status_code=204,
               responses=errors(404), summary="Delete a template")
async def delete_template(code: Code, session: SessionDep, actor: Manager) -> Response:
    before = await service.delete_template(session, code)
    await audit.record(session, actor, "notifications.template.delete", "notification_template",
                       code, before=before.model_dump(mode="json"))
    return Response(status_code=204)


@router.post("/v1/admin/notification-templates/{code}/preview", responses=errors(404, 422),
             summary="Render a template with data in a locale, sending nothing")
async def preview(code: Code, body: PreviewIn, session: SessionDep, _: Manager) -> PreviewOut:
    return await service.preview(session, code, body)
