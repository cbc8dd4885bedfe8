"""Partners request and response shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from gullak.kit import schemas as kit
from gullak.kit.schemas import In, Out
from gullak.orders.schemas import OrderIn, OrderOut, Reason

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                 kit.NAME_CHARS]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=500),
                kit.ONE_LINE]
# The partner's own order id: printable, no spaces, so that it sits in a URL path as is.
ExternalRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")]


class PartnerStatus(StrEnum):
    active = "active"
    suspended = "suspended"


class EventType(StrEnum):
    order_status_changed = "order.status_changed"


class PartnerIn(In):
    name: Name
    webhook_url: Url | None = None
    events: list[EventType] = Field(default_factory=lambda: [EventType.order_status_changed],
                                    max_length=10)
    merchant_ids: list[uuid.UUID] | None = Field(default=None, max_length=500)


class PartnerUpdateIn(In):
    """Only the fields sent change; `webhook_url` and `merchant_ids` may be set to null."""

    name: Name | None = None
    status: PartnerStatus | None = None
    webhook_url: Url | None = None
    events: list[EventType] | None = Field(default=None, max_length=10)
    merchant_ids: list[uuid.UUID] | None = Field(default=None, max_length=500)


class PartnerOut(Out):
    id: uuid.UUID
    name: str
    status: PartnerStatus
    webhook_url: str | None
    events: list[str]
    merchant_ids: list[uuid.UUID] | None
    key_holder: str
    previous_secret_until: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class PartnerKeyOut(Out):
    """Shown once: the key is kept only as a digest."""

    partner_id: uuid.UUID
    key_holder: str
    api_key: str


class SigningSecretOut(Out):
    """Shown once. The previous secret, if any, still signs until `previous_secret_until`."""

    partner_id: uuid.UUID
    signing_secret: str
    previous_secret_until: dt.datetime | None


class PartnerCreatedOut(PartnerOut):
    api_key: str
    signing_secret: str


class LinkOut(Out):
    id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str
    status: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class PartnerOrderIn(OrderIn):
    """An order for the user of `link_id` (a link that user made to this partner), under the
    partner's own reference: the same reference and body again give the same order."""

    external_ref: ExternalRef
    link_id: uuid.UUID

    def order(self) -> OrderIn:
        return OrderIn.model_validate(self.model_dump(exclude={"external_ref", "link_id"}))


class PartnerCancelIn(In):
    reason: Reason | None = None


class PartnerOrderOut(Out):
    external_ref: str
    link_id: uuid.UUID
    order: OrderOut


class PartnerOrderSummary(Out):
    id: uuid.UUID
    external_ref: str
    order_id: uuid.UUID
    order_number: str
    link_id: uuid.UUID
    created_at: dt.datetime


class PartnerOrderPage(Out):
    items: list[PartnerOrderSummary]
    next_cursor: str | None = None


class DeliveryOut(Out):
    id: uuid.UUID
    series: int
    attempt: int
    url: str
    status_code: int | None
    duration_ms: int
    error: str | None
    response_body: str | None
    at: dt.datetime


class EventOut(Out):
    id: uuid.UUID
    partner_id: uuid.UUID
    type: str
    sequence: int
    payload: dict[str, Any]
    status: str
    attempts: int
    series: int
    next_attempt_at: dt.datetime
    delivered_at: dt.datetime | None
    created_at: dt.datetime
    deliveries: list[DeliveryOut] = Field(default_factory=list)


class EventPage(Out):
    items: list[EventOut]
    next_cursor: str | None = None
