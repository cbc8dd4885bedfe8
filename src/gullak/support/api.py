"""Support HTTP API: users' tickets (/v1/me/tickets) and the back office's queue, replies,
assignment and canned replies (/v1/admin/tickets, /v1/admin/support/canned-replies)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response

from gullak.db.uow import SessionDep
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require, require_kind
from gullak.settings import Settings
from gullak.support import service
from gullak.support.schemas import (
    AgentAttachmentIn,
    AgentAttachmentOut,
    AgentMessageIn,
    AgentTicketOut,
    AgentTicketPage,
    AssignIn,
    AttachmentIn,
    AttachmentOut,
    CannedReplyIn,
    CannedReplyOut,
    CannedReplyPatch,
    Category,
    CustomerOut,
    Department,
    MessageIn,
    MyTicketOut,
    MyTicketPage,
    Priority,
    RatingIn,
    ReopenIn,
    Status,
    StatusIn,
    TicketIn,
    TicketPatch,
)

router = APIRouter(tags=["support"])
User = Annotated[Subject, require_kind("user")]
CanRead = Annotated[Subject, require("support.read")]
CanReply = Annotated[Subject, require("support.reply")]
CanManage = Annotated[Subject, require("support.manage")]
CanViewCustomer = Annotated[Subject, require("support.view_customer")]
Limit = Annotated[int, Query(ge=1, le=100)]
FILE: dict[int | str, dict[str, Any]] = {200: {"description": "The attachment's bytes, in its content type",
              "content": {"*/*": {"schema": {"type": "string",
                                                                  "format": "binary"}}}}}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _file(found: service.File) -> Response:
    # Always a download, never rendered in our origin: a text/html upload cannot run here.
    name = quote(found.filename, safe="")
    return Response(found.data, media_type=found.content_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{name}"})


# -- users ------------------------------------------------------------------------------------

@router.post("/v1/me/tickets", status_code=201, responses=errors(404, 422),
             summary="Open a ticket, in general or about one of my orders, payments, "
                     "withdrawals or redemptions")
async def open_ticket(body: TicketIn, subject: User, request: Request,
                      session: SessionDep) -> MyTicketOut:
    return await service.open_ticket(session, _settings(request), subject.id, body)


@router.get("/v1/me/tickets", responses=errors(422), summary="My tickets, newest first")
async def my_tickets(subject: User, session: SessionDep, status: Status | None = None,
                     cursor: Text | None = None, limit: Limit = 20) -> MyTicketPage:
    return await service.my_tickets(session, subject.id, status=status, cursor=cursor,
                                    limit=limit)


@router.get("/v1/me/tickets/{ticket_id}", responses=errors(404),
            summary="My ticket with its thread (agents' internal notes are not shown)")
async def my_ticket(ticket_id: uuid.UUID, subject: User, request: Request,
                    session: SessionDep) -> MyTicketOut:
    return await service.my_ticket(session, _settings(request), subject.id, ticket_id)


@router.post("/v1/me/tickets/{ticket_id}/messages", responses=errors(404, 409, 422),
             summary="Write in my ticket's thread")
async def my_message(ticket_id: uuid.UUID, body: MessageIn, subject: User, request: Request,
                     session: SessionDep) -> MyTicketOut:
    return await service.user_message(session, _settings(request), subject.id, ticket_id,
                                      body.body)


@router.post("/v1/me/tickets/{ticket_id}/attachments", status_code=201,
             responses=errors(404, 409, 413, 415, 422),
             summary="Attach a file (base64 in JSON) to my ticket")
async def my_attachment(ticket_id: uuid.UUID, body: AttachmentIn, subject: User,
                        request: Request, session: SessionDep) -> AttachmentOut:
    row = await service.add_user_attachment(session, _settings(request), subject.id,
                                            ticket_id, body)
    return AttachmentOut.model_validate(row)


@router.get("/v1/me/tickets/{ticket_id}/attachments/{attachment_id}", responses={
    **FILE, **errors(404)}, response_class=Response, summary="Download an attachment")
async def my_attachment_file(ticket_id: uuid.UUID, attachment_id: uuid.UUID, subject: User,
                             request: Request, session: SessionDep) -> Response:
    return _file(await service.read(session, _settings(request), ticket_id, attachment_id,
                                    user_id=subject.id))


@router.post("/v1/me/tickets/{ticket_id}/rate", responses=errors(404, 409, 422),
             summary="Rate a resolved or closed ticket, once: 1 to 5 and a comment")
async def rate(ticket_id: uuid.UUID, body: RatingIn, subject: User, request: Request,
               session: SessionDep) -> MyTicketOut:
    return await service.rate(session, _settings(request), subject.id, ticket_id, body)


@router.post("/v1/me/tickets/{ticket_id}/reopen", responses=errors(404, 409, 422),
             summary="Reopen a resolved or closed ticket within the reopening window")
async def reopen(ticket_id: uuid.UUID, body: ReopenIn, subject: User, request: Request,
                 session: SessionDep) -> MyTicketOut:
    return await service.reopen(session, _settings(request), subject.id, ticket_id,
                                body.reason)


# -- agents -----------------------------------------------------------------------------------

@router.get("/v1/admin/tickets", responses=errors(422),
            summary="Tickets, newest first, by status, priority, assignee, department, breach")
async def list_tickets(session: SessionDep, _: CanRead, status: Status | None = None,
                       priority: Priority | None = None, assignee_id: uuid.UUID | None = None,
                       unassigned: bool = False, department: Department | None = None,
                       breached: bool | None = None, user_id: uuid.UUID | None = None,
                       cursor: Text | None = None, limit: Limit = 20) -> AgentTicketPage:
    return await service.list_tickets(session, status=status, priority=priority,
                                      assignee_id=assignee_id, unassigned=unassigned,
                                      department=department, breached=breached,
                                      user_id=user_id, cursor=cursor, limit=limit)


@router.get("/v1/admin/tickets/{ticket_id}", responses=errors(404),
            summary="A ticket with its whole thread, internal notes included")
async def get_ticket(ticket_id: uuid.UUID, session: SessionDep, _: CanRead) -> AgentTicketOut:
    return await service.get_ticket(session, ticket_id)


@router.patch("/v1/admin/tickets/{ticket_id}", responses=errors(404, 422),
              summary="Change a ticket's priority (its SLA follows) or category")
async def update_ticket(ticket_id: uuid.UUID, body: TicketPatch, actor: CanManage,
                        request: Request, session: SessionDep) -> AgentTicketOut:
    return await service.update_ticket(session, _settings(request), ticket_id, body, actor)


@router.post("/v1/admin/tickets/{ticket_id}/assign", responses=errors(404, 422),
             summary="Assign to an agent and/or a department (null clears)")
async def assign(ticket_id: uuid.UUID, body: AssignIn, actor: CanManage,
                 session: SessionDep) -> AgentTicketOut:
    return await service.assign(session, ticket_id, body, actor)


@router.post("/v1/admin/tickets/{ticket_id}/messages", responses=errors(404, 409, 422),
             summary="Reply to the user, or add an internal note")
async def reply(ticket_id: uuid.UUID, body: AgentMessageIn, actor: CanReply,
                session: SessionDep) -> AgentTicketOut:
    return await service.reply(session, ticket_id, body, actor)


@router.post("/v1/admin/tickets/{ticket_id}/status", responses=errors(404, 409, 422),
             summary="Move a ticket: pending_agent, pending_user, resolved, closed")
async def change_status(ticket_id: uuid.UUID, body: StatusIn, actor: CanReply,
                        request: Request, session: SessionDep) -> AgentTicketOut:
    return await service.change_status(session, _settings(request), ticket_id, body, actor)


@router.post("/v1/admin/tickets/{ticket_id}/attachments", status_code=201,
             responses=errors(404, 409, 413, 415, 422),
             summary="Attach a file (base64 in JSON), for the user or internal")
async def agent_attachment(ticket_id: uuid.UUID, body: AgentAttachmentIn, actor: CanReply,
                           request: Request, session: SessionDep) -> AgentAttachmentOut:
    data = AttachmentIn.model_validate(body.model_dump(exclude={"internal"}))
    row = await service.add_agent_attachment(session, _settings(request), ticket_id, data,
                                             actor, internal=body.internal)
    return AgentAttachmentOut.model_validate(row)


@router.get("/v1/admin/tickets/{ticket_id}/attachments/{attachment_id}", responses={
    **FILE, **errors(404)}, response_class=Response, summary="Download an attachment")
async def agent_attachment_file(ticket_id: uuid.UUID, attachment_id: uuid.UUID,
                                actor: CanRead, request: Request,
                                session: SessionDep) -> Response:
    return _file(await service.read(session, _settings(request), ticket_id, attachment_id,
                                    actor=actor))


@router.get("/v1/admin/tickets/{ticket_id}/customer", responses=errors(404),
            summary="The ticket's customer: profile, balances, recent orders, transfers, "
                    "withdrawals and tickets")
async def customer(ticket_id: uuid.UUID, actor: CanViewCustomer,
                   session: SessionDep) -> CustomerOut:
    return await service.customer(session, ticket_id, actor)


# -- canned replies ---------------------------------------------------------------------------

@router.post("/v1/admin/support/canned-replies", status_code=201, responses=errors(409, 422),
             summary="Add a canned reply; {{user_name}}, {{ticket_number}}, {{ticket_title}},"
                     " {{category}}, {{status}} and {{agent_name}} are filled when sent")
async def create_canned(body: CannedReplyIn, actor: CanManage,
                        session: SessionDep) -> CannedReplyOut:
    return await service.create_canned(session, body, actor)


@router.get("/v1/admin/support/canned-replies", responses=errors(422))
async def list_canned(session: SessionDep, _: CanRead, active: bool | None = None,
                      category: Category | None = None) -> list[CannedReplyOut]:
    return await service.list_canned(session, active=active, category=category)


@router.patch("/v1/admin/support/canned-replies/{reply_id}", responses=errors(404, 422))
async def update_canned(reply_id: uuid.UUID, body: CannedReplyPatch, actor: CanManage,
                        session: SessionDep) -> CannedReplyOut:
    return await service.update_canned(session, reply_id, body, actor)


@router.delete("/v1/admin/support/canned-replies/{reply_id}", status_code=204,
               responses=errors(404), summary="Retire a canned reply")
async def delete_canned(reply_id: uuid.UUID, actor: CanManage, session: SessionDep) -> Response:
    await service.delete_canned(session, reply_id, actor)
    return Response(status_code=204)
