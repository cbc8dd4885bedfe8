"""Authenticated subjects and the permission guard that routers put in front of endpoints.

What the domains contribute (authenticators per scheme, `Bearer` access tokens and `Basic`
API keys; permission sources per subject kind; denial hooks) is installed by
`gullak.domains.install()` in every process. The first authenticator that recognises the
credentials gives the subject. A permission refused is reported to the denial hooks (the
audit log) and kept even though the request fails.
"""

from __future__ import annotations

import base64
import binascii
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
PermissionSource = Callable[[AsyncSession, uuid.UUID], Awaitable[set[str] | None]]
DenialHook = Callable[[Request, AsyncSession, Subject, str], Awaitable[None]]


@dataclass(frozen=True)
class Wiring:
    authenticators: dict[str, list[Authenticator]]
    permissions: dict[str, PermissionSource]
    denial_hooks: list[DenialHook]


_wiring: Wiring | None = None


def install(*, authenticators: dict[str, list[Authenticator]],
            permissions: dict[str, PermissionSource], denial_hooks: list[DenialHook]) -> None:
    global _wiring
    _wiring = Wiring({k.lower(): list(v) for k, v in authenticators.items()}, dict(permissions),
                     list(denial_hooks))


def wiring() -> Wiring:
    # Failing loudly beats a process that silently authenticates nobody or loses audit rows.
    if _wiring is None:
        raise RuntimeError("the domains are not installed: call gullak.domains.install()")
    return _wiring


async def permissions_of(session: AsyncSession, kind: str, subject_id: uuid.UUID) -> set[str] | None:
    """The current permissions of a subject whose kind has a permission source; None when that
    subject no longer exists or may no longer act."""
    source = wiring().permissions.get(kind)
    return set() if source is None else await source(session, subject_id)


async def current_subject(request: Request, session: SessionDep) -> Subject:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("Authentication required.")
    scheme, _, credentials = header.partition(" ")
    for authenticate in wiring().authenticators.get(scheme.lower(), []):
        subject = await authenticate(request, session, credentials.strip())
        if subject is not None:
            structlog.contextvars.bind_contextvars(subject=f"{subject.kind}:{subject.id}")
            return subject
    raise Unauthorized("Invalid or expired credentials.", code="invalid_credentials")


CurrentSubject = Annotated[Subject, Depends(current_subject)]


def basic_credentials(credentials: str) -> tuple[str, str] | None:
    """The holder and key of HTTP Basic credentials (`holder:key` in base64), or None when
    they are not that: not base64, not UTF-8, a part missing, or a NUL, which no holder or key
    holds and which PostgreSQL refuses in a text it is asked to compare."""
    try:
        holder, _, key = base64.b64decode(credentials, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not holder or not key or "\x00" in holder or "\x00" in key:
        return None
    return holder, key


def require(permission: str) -> object:
    """A dependency: the current subject, if it holds `permission`; 403 otherwise."""

    async def guard(subject: CurrentSubject, request: Request, session: SessionDep) -> Subject:
        if not subject.can(permission):
            hooks = wiring().denial_hooks
            for hook in hooks:
                await hook(request, session, subject, permission)
            raise Forbidden(f"Needs the permission {permission}.", permission=permission,
                            keep_changes=bool(hooks))
        return subject

    guard.permission = permission  # type: ignore[attr-defined]  # read by the express lane
    return Depends(guard)


def require_kind(*kinds: SubjectKind) -> object:
    """A dependency: the current subject, if it is one of `kinds`."""

    async def guard(subject: CurrentSubject) -> Subject:
        if subject.kind not in kinds:
            raise Forbidden("This endpoint is for another kind of account.")
        return subject

    guard.kinds = kinds  # type: ignore[attr-defined]  # read by the express lane
    return Depends(guard)
