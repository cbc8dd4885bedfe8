"""Access request and response shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from gullak.identity.schemas import DeviceIn
from gullak.kit import schemas as kit
from gullak.kit.schemas import In, JsonObject, JsonValue, Out

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                 kit.NAME_CHARS]
Email = Annotated[str, StringConstraints(max_length=254), kit.ONE_LINE]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{1,99}$")]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=200), kit.ONE_LINE]
Description = Annotated[str, StringConstraints(max_length=500), kit.MULTI_LINE]
Permission = Annotated[str, StringConstraints(max_length=100), kit.ONE_LINE]


class AdminLoginIn(In):
    email: Email
    password: Secret
    # Any shape is accepted here: a missing or malformed code is a failed attempt like a wrong
    # one (401, counted), so the answer does not tell which part was wrong.
    totp_code: Annotated[str, StringConstraints(max_length=20), kit.ONE_LINE] | None = None
    device: DeviceIn = Field(default_factory=DeviceIn)


class AdminIn(In):
    email: Email
    name: Name
    city: Name | None = None
    roles: list[Name] = Field(default_factory=list)
    departments: list[Name] = Field(default_factory=list)


class AdminOut(Out):
    id: uuid.UUID
    email: str
    name: str
    status: str
    city: str | None
    roles: list[str] = Field(default_factory=list)
    departments: list[str] = Field(default_factory=list)
    permissions: list[str] = Field(default_factory=list)
    last_login_at: dt.datetime | None
    created_at: dt.datetime


class AdminCreatedOut(AdminOut):
    """Shown once: the admin signs in with this password and enrolls the TOTP secret."""

    password: str
    totp_secret: str
    totp_uri: str


class AdminUpdateIn(In):
    name: Name | None = None
    city: Name | None = None
    status: Literal["active", "disabled"] | None = None
    roles: list[Name] | None = None
    departments: list[Name] | None = None


class RoleIn(In):
    name: Name
    description: Description | None = None
    permissions: list[Permission]


class RoleOut(Out):
    id: uuid.UUID
    name: str
    description: str | None
    permissions: list[str]


class PermissionOut(Out):
    code: str
    description: str


class ApiKeyIn(In):
    name: Name
    permissions: list[Permission]


class ApiKeyOut(Out):
    id: uuid.UUID
    name: str
    holder: str
    permissions: list[str]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreatedOut(ApiKeyOut):
    """Shown once: send it as HTTP Basic `holder:key`."""

    key: str


class AuditOut(Out):
    id: uuid.UUID
    at: dt.datetime
    actor_type: str
    actor_id: uuid.UUID | None
    action: str
    entity_type: str
    entity_id: str | None
    outcome: str
    before: Any
    after: Any
    ip: str | None
    user_agent: str | None
    request_id: str | None


class AuditPage(Out):
    entries: list[AuditOut]
    next_cursor: str | None


class SettingIn(In):
    value: JsonValue
    value_type: Literal["string", "int", "float", "bool", "json"] | None = None
    description: Description | None = None


class SettingOut(Out):
    key: str
    value: Any
    value_type: str
    description: str | None
    version: int
    updated_by: uuid.UUID | None
    updated_at: dt.datetime


class FlagIn(In):
    enabled: bool
    rollout_percent: int = Field(default=100, ge=0, le=100, strict=True)
    rules: JsonObject = Field(default_factory=dict)
    description: Description | None = None


class FlagOut(Out):
    key: str
    enabled: bool
    rollout_percent: int
    rules: dict[str, Any]
    description: str | None
    version: int
    updated_by: uuid.UUID | None
    updated_at: dt.datetime
