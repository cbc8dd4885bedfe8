"""Notifications request and response shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StringConstraints, model_validator

from gullak.kit.schemas import In, JsonObject, MultilineText, Out, Text


class Category(StrEnum):
    transactional = "transactional"
    account = "account"
    rewards = "rewards"
    orders = "orders"
    marketing = "marketing"


class Channel(StrEnum):
    inbox = "inbox"
    push = "push"
    sms = "sms"
    email = "email"


class OutsideChannel(StrEnum):
    """The channels a user may turn off per category (the inbox always keeps a copy)."""

    push = "push"
    sms = "sms"
    email = "email"


Locale = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
TemplateCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$",
                                                max_length=64)]
Variable = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$", max_length=40)]
PartText = Annotated[MultilineText, StringConstraints(min_length=1, max_length=4_000)]
Part = Literal["title", "body", "text", "subject", "html"]
Content = dict[Locale, dict[Channel, dict[Part, PartText]]]


class PreferencesIn(In):
    time_zone: Annotated[Text, StringConstraints(min_length=1, max_length=64)] | None = Field(
        None, description="IANA time zone, e.g. Asia/Kolkata; unset: the platform's default")
    quiet_start: dt.time | None = Field(None, description="Local time quiet hours begin")
    quiet_end: dt.time | None = Field(None, description="Local time quiet hours end")
    channels: dict[Category, dict[OutsideChannel, StrictBool]] = Field(
        default_factory=dict, description="Per category, the channels turned on or off (merged "
        "into the choices kept); transactional messages go out whatever is chosen here")

    @model_validator(mode="after")
    def _both_ends(self) -> PreferencesIn:
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("quiet_start and quiet_end go together")
        if any(t is not None and t.tzinfo is not None for t in (self.quiet_start, self.quiet_end)):
            raise ValueError("quiet hours are local times in time_zone, without an offset")
        return self


class PreferencesOut(Out):
    time_zone: str
    quiet_start: dt.time | None
    quiet_end: dt.time | None
    channels: dict[str, dict[str, bool]]


class NotificationOut(Out):
    id: uuid.UUID
    template: str
    category: str
    title: str
    body: str
    data: dict[str, Any]
    read_at: dt.datetime | None
    created_at: dt.datetime


class NotificationPage(Out):
    items: list[NotificationOut]
    next_cursor: str | None


class UnreadOut(Out):
    unread: int


class MarkedOut(Out):
    marked: int


class TemplateIn(In):
    category: Category
    description: Annotated[Text, StringConstraints(max_length=500)] | None = None
    channels: Annotated[list[Channel], Field(min_length=1, max_length=4)]
    variables: Annotated[list[Variable], Field(max_length=40)] = Field(default_factory=list)
    content: Content = Field(description="Per locale ('en' required), per channel: title and "
                             "body (inbox, push), text (sms), subject, text and html (email); "
                             "{name} is a declared variable")
    enabled: bool = True


class TemplateCreate(TemplateIn):
    code: TemplateCode


class TemplateOut(Out):
    code: str
    category: str
    description: str | None
    channels: list[str]
    variables: list[str]
    content: dict[str, Any]
    enabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class PreviewIn(In):
    data: JsonObject = Field(default_factory=dict)
    locale: Locale = "en"


class PreviewOut(Out):
    locale: str
    channels: dict[str, dict[str, str]]
