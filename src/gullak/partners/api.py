"""Partners HTTP API: partners place, read and cancel their orders and read and replay their
webhook events with their API key (/v1/partner); users link and unlink partners
(/v1/me/partners); the back office manages partners and reads their orders and deliveries
(/v1/admin/partners)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.uow import SessionDep
from gullak.kit import audit
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import (
    CurrentSubject,
    Subject,
    basic_credentials,
    require,
    require_kind,
)
from gullak.orders.flows import Policy
from gullak.partners import errors as partner_errors
from gullak.partners import flows, outbox, service
from gullak.partners.schemas import (
    EventOut,
    EventPage,
    LinkOut,
    PartnerCancelIn,
    PartnerCreatedOut,
    PartnerIn,
    PartnerKeyOut,
    PartnerOrderIn,
    PartnerOrderOut,
    PartnerOrderPage,
    PartnerOut,
    PartnerUpdateIn,
    SigningSecretOut,
)
from gullak.settings import Settings

router = APIRouter(prefix="/v1/partner", tags=["partners"])
me = APIRouter(prefix="/v1/me/partners", tags=["me"])
admin = APIRouter(prefix="/v1/admin", tags=["admin"])
User = Annotated[Subject, require_kind("user")]
Limit = Annotated[int, Query(ge=1, le=100)]
EventStatus = Annotated[Text | None, Query(pattern="^(pending|delivered|failed)$")]


async def basic(request: Request, session: AsyncSession, credentials: str) -> Subject | None:
    """HTTP Basic `holder:key` of a partner's API key (holders start with gp_)."""
    found = basic_credentials(credentials)
    if found is None:
        return None
    return await service.authenticate(session, *found)


async def current_partner(subject: CurrentSubject) -> Subject:
    if service.partner_id_of(subject) is None:
        raise partner_errors.NotAPartner()
    if not subject.can(service.ACTIVE):
        raise partner_errors.PartnerSuspended()
    return subject


PartnerSubject = Annotated[Subject, Depends(current_partner)]


def _id(partner: Subject) -> uuid.UUID:
    found = service.partner_id_of(partner)
    assert found is not None
    return found


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# -- partners ---------------------------------------------------------------------------------

@router.post("/orders", responses=errors(403), status_code=201,
             summary="Place an order for a linked user, under the partner's reference")
async def place(body: PartnerOrderIn, partner: PartnerSubject, session: SessionDep,
                request: Request, response: Response) -> PartnerOrderOut:
    out, created = await flows.place(session, partner, _id(partner), body,
                                     Policy.of(settings_of(request)))
    if not created:
        response.status_code = 200
    return out


@router.get("/orders", responses=errors(403), summary="The partner's orders, newest first")
async def list_orders(partner: PartnerSubject, session: SessionDep,
                      cursor: Text | None = None, limit: Limit = 20) -> PartnerOrderPage:
    return await flows.list_orders(session, _id(partner), cursor=cursor, limit=limit)


@router.get("/orders/{external_ref}", responses=errors(403),
             summary="One of the partner's orders, by its reference")
async def get_order(external_ref: Text, partner: PartnerSubject,
                    session: SessionDep) -> PartnerOrderOut:
    return await flows.get_order(session, _id(partner), external_ref)


@router.post("/orders/{external_ref}/cancel", responses=errors(403),
             summary="Call off an order before it leaves")
async def cancel(external_ref: Text, partner: PartnerSubject, session: SessionDep,
                 body: PartnerCancelIn | None = None) -> PartnerOrderOut:
    return await flows.cancel(session, partner, _id(partner), external_ref,
                              body.reason if body else None)


@router.get("/webhooks", responses=errors(403),
             summary="The partner's webhook events and their delivery status")
async def list_events(partner: PartnerSubject, session: SessionDep, status: EventStatus = None,
                      cursor: Text | None = None, limit: Limit = 20) -> EventPage:
    return await outbox.list_events(session, _id(partner), status=status, cursor=cursor,
                                    limit=limit)


@router.get("/webhooks/{event_id}", responses=errors(403),
             summary="An event with every attempt to deliver it")
async def get_event(event_id: uuid.UUID, partner: PartnerSubject,
                    session: SessionDep) -> EventOut:
    return await outbox.get_event(session, event_id, _id(partner))


@router.post("/webhooks/{event_id}/replay", responses=errors(403), status_code=202,
             summary="Deliver an event again, as a new series of attempts")
async def replay(event_id: uuid.UUID, partner: PartnerSubject, session: SessionDep) -> EventOut:
    return await outbox.replay(session, event_id, _id(partner))


# -- users ------------------------------------------------------------------------------------

@me.get("", summary="The partners I allowed to place orders for me")
async def my_links(subject: User, session: SessionDep) -> list[LinkOut]:
    return await service.my_links(session, subject.id)


@me.post("/{partner_id}/link", status_code=201,
         summary="Allow a partner to place orders paid from my coins and wallet")
async def link(partner_id: uuid.UUID, subject: User, session: SessionDep,
               response: Response) -> LinkOut:
    out, changed = await service.link(session, subject.id, partner_id)
    if not changed:
        response.status_code = 200
    return out


@me.delete("/{partner_id}/link", status_code=204, summary="Withdraw a partner's link")
async def unlink(partner_id: uuid.UUID, subject: User, session: SessionDep) -> None:
    await service.unlink(session, subject.id, partner_id)


# -- back office ------------------------------------------------------------------------------

@admin.get("/partners")
async def list_partners(session: SessionDep,
                        _: Annotated[Subject, require("partners.read")]) -> list[PartnerOut]:
    return await service.list_partners(session)


@admin.post("/partners", status_code=201,
            summary="Create a partner (its API key and signing secret are shown once)")
async def create_partner(body: PartnerIn, request: Request, session: SessionDep,
                         actor: Annotated[Subject, require("partners.manage")]
                         ) -> PartnerCreatedOut:
    out = await service.create(session, settings_of(request), body, actor)
    await audit.record(session, actor, "partner.create", "partner", str(out.id),
                       after=PartnerOut(**out.model_dump()).model_dump(mode="json"))
    return out


@admin.get("/partners/{partner_id}")
async def get_partner(partner_id: uuid.UUID, session: SessionDep,
                      _: Annotated[Subject, require("partners.read")]) -> PartnerOut:
    return await service.get_partner(session, partner_id)


@admin.patch("/partners/{partner_id}", summary="Change, suspend or re-activate a partner")
async def update_partner(partner_id: uuid.UUID, body: PartnerUpdateIn, request: Request,
                         session: SessionDep,
                         actor: Annotated[Subject, require("partners.manage")]) -> PartnerOut:
    before, after = await service.update(session, settings_of(request), partner_id, body)
    await audit.record(session, actor, "partner.update", "partner", str(partner_id),
                       before=before.model_dump(mode="json"), after=after.model_dump(mode="json"))
    return after


@admin.post("/partners/{partner_id}/key",
            summary="Replace the partner's API key (the old one stops working at once)")
async def rotate_key(partner_id: uuid.UUID, session: SessionDep,
                     actor: Annotated[Subject, require("partners.manage")]) -> PartnerKeyOut:
    out = await service.rotate_key(session, partner_id)
    await audit.record(session, actor, "partner.rotate_key", "partner", str(partner_id),
                       after={"key_holder": out.key_holder})
    return out


@admin.post("/partners/{partner_id}/signing-secret",
            summary="Replace the signing secret (the old one signs too for a grace period)")
async def rotate_secret(partner_id: uuid.UUID, request: Request, session: SessionDep,
                        actor: Annotated[Subject, require("partners.manage")]
                        ) -> SigningSecretOut:
    out = await service.rotate_secret(session, settings_of(request), partner_id)
    await audit.record(session, actor, "partner.rotate_secret", "partner", str(partner_id),
                       after={"previous_secret_until": out.model_dump(mode="json")[
                           "previous_secret_until"]})
    return out


@admin.get("/partners/{partner_id}/orders")
async def partner_orders(partner_id: uuid.UUID, session: SessionDep,
                         _: Annotated[Subject, require("partners.read")],
                         cursor: Text | None = None, limit: Limit = 20) -> PartnerOrderPage:
    await service.get(session, partner_id)
    return await flows.list_orders(session, partner_id, cursor=cursor, limit=limit)


@admin.get("/partners/{partner_id}/events")
async def partner_events(partner_id: uuid.UUID, session: SessionDep,
                         _: Annotated[Subject, require("partners.read")],
                         status: EventStatus = None, cursor: Text | None = None,
                         limit: Limit = 20) -> EventPage:
    await service.get(session, partner_id)
    return await outbox.list_events(session, partner_id, status=status, cursor=cursor,
                                    limit=limit)


@admin.get("/partner-events/{event_id}", summary="An event with its delivery log")
async def admin_event(event_id: uuid.UUID, session: SessionDep,
                      _: Annotated[Subject, require("partners.read")]) -> EventOut:
    return await outbox.get_event(session, event_id)


@admin.post("/partner-events/{event_id}/replay", status_code=202)
async def admin_replay(event_id: uuid.UUID, session: SessionDep,
                       actor: Annotated[Subject, require("partners.manage")]) -> EventOut:
    out = await outbox.replay(session, event_id)
    await audit.record(session, actor, "partner_event.replay", "partner_event", str(event_id),
                       after={"series": out.series})
    return out
