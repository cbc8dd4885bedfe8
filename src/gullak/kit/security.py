"""Authenticated subjects and the permission guard that routers put in front of endpoints.

Identity (users, admins, API keys) plugs its authentication into `current_subject`; until a
scheme is configured every guarded endpoint refuses with 401.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends

from gullak.kit.errors import Forbidden, Unauthorized

SubjectKind = Literal["user", "merchant_user", "admin", "service"]


@dataclass(frozen=True)
class Subject:
    kind: SubjectKind
    id: uuid.UUID
    permissions: frozenset[str] = field(default_factory=frozenset)

    def can(self, permission: str) -> bool:
        return permission in self.permissions or "*" in self.permissions


async def current_subject() -> Subject:
    raise Unauthorized("This endpoint needs an authenticated service client or admin.")


def require(permission: str) -> object:
    """A dependency: the current subject, if it holds `permission`; 403 otherwise."""

    async def guard(subject: Annotated[Subject, Depends(current_subject)]) -> Subject:
        if not subject.can(permission):
            raise Forbidden(f"Needs the permission {permission}.", permission=permission)
        return subject

    return Depends(guard)
