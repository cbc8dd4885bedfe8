"""Authenticated subjects and the permission guard that routers put in front of endpoints.

Domains register authenticators per scheme (`Bearer` access tokens, `Basic` API keys); the
first that recognises the credentials gives the subject. A permission refused is reported to
the registered denial hooks (the audit log) and kept even though the request fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Literal

import structlog
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.uow import SessionDep
from gullak.kit.errors import Forbidden, Unauthorized

SubjectKind = Literal["user", "merchant_user", "admin", "service"]


@dataclass(frozen=True)
class Subject:
    kind: SubjectKind
    id: uuid.UUID
    permissions: frozenset[str] = field(default_factory=frozenset)
    session_id: uuid.UUID | None = None

    def can(self, permission: str) -> bool:
        return permission in self.permissions or "*" in self.permissions


Authenticator = Callable[[Request, AsyncSession, str], Awaitable[Subject | None]]
DenialHook = Callable[[Request, AsyncSession, Subject, str], Awaitable[None]]
AUTHENTICATORS: dict[str, list[Authenticator]] = {}
DENIAL_HOOKS: list[DenialHook] = []


def register(scheme: str, authenticate: Authenticator) -> None:
    handlers = AUTHENTICATORS.setdefault(scheme.lower(), [])
    if authenticate not in handlers:
        handlers.append(authenticate)


def on_denial(hook: DenialHook) -> None:
    if hook not in DENIAL_HOOKS:
        DENIAL_HOOKS.append(hook)


async def current_subject(request: Request, session: SessionDep) -> Subject:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("Authentication required.")
    scheme, _, credentials = header.partition(" ")
    for authenticate in AUTHENTICATORS.get(scheme.lower(), []):
        subject = await authenticate(request, session, credentials.strip())
        if subject is not None:
            structlog.contextvars.bind_contextvars(subject=f"{subject.kind}:{subject.id}")
            return subject
    raise Unauthorized("Invalid or expired credentials.", code="invalid_credentials")


CurrentSubject = Annotated[Subject, Depends(current_subject)]


def require(permission: str) -> object:
    """A dependency: the current subject, if it holds `permission`; 403 otherwise."""

    async def guard(subject: CurrentSubject, request: Request, session: SessionDep) -> Subject:
        if not subject.can(permission):
            for hook in DENIAL_HOOKS:
                await hook(request, session, subject, permission)
            raise Forbidden(f"Needs the permission {permission}.", permission=permission,
                            keep_changes=bool(DENIAL_HOOKS))
        return subject

    return Depends(guard)


def require_kind(*kinds: SubjectKind) -> object:
    """A dependency: the current subject, if it is one of `kinds`."""

    async def guard(subject: CurrentSubject) -> Subject:
        if subject.kind not in kinds:
            raise Forbidden("This endpoint is for another kind of account.")
        return subject

    return Depends(guard)
