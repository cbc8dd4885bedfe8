"""Sessions and tokens: short-lived access tokens, rotating refresh tokens in families that
are revoked whole on reuse, and the bearer authenticator."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import errors
from gullak.identity.client import Client
from gullak.identity.common import ensure_active, get_user
from gullak.identity.models import AuthSession, User
from gullak.identity.schemas import DeviceIn, SessionOut, TokensOut
from gullak.kit import clock, security, tokens
from gullak.kit.security import Subject
from gullak.settings import Settings


async def start_session(session: AsyncSession, settings: Settings, subject_type: str,
                        subject_id: uuid.UUID, device: DeviceIn, client: Client) -> TokensOut:
    """A new session family with its first refresh token."""
    now, refresh = clock.now(), tokens.new_secret_token()
    row = AuthSession(
        family_id=uuid.uuid4(), subject_type=subject_type, subject_id=subject_id,
        refresh_hash=tokens.digest(refresh), device_id=device.device_id,
        device_type=device.device_type, device_name=device.device_name,
        app_version=device.app_version, ip=client.ip, user_agent=client.user_agent,
        created_at=now, last_used_at=now, expires_at=now + _refresh_ttl(settings))
    session.add(row)
    await session.flush()
    return _tokens(settings, row, refresh)


def _refresh_ttl(settings: Settings) -> dt.timedelta:
    return dt.timedelta(days=settings.refresh_token_days)


def _tokens(settings: Settings, row: AuthSession, refresh: str) -> TokensOut:
    ttl = dt.timedelta(minutes=settings.access_token_minutes)
    access = tokens.issue_access(settings.secret("secret_key"), subject=row.subject_id,
                                 kind=row.subject_type, session_id=row.family_id, ttl=ttl)
    return TokensOut(access_token=access, refresh_token=refresh,
                     expires_in=int(ttl.total_seconds()), session_id=row.family_id)


async def refresh(session: AsyncSession, settings: Settings, refresh_token: str,
                  client: Client) -> TokensOut:
    """Rotate: the presented token is spent, a new one is issued in the same family. A spent
    token presented again means it leaked: the whole family is revoked."""
    row = await session.scalar(select(AuthSession).where(
        AuthSession.refresh_hash == tokens.digest(refresh_token)).with_for_update())
    if row is None:
        raise errors.InvalidToken(field="refresh_token")
    if row.status == "rotated":
        await _revoke_family(session, row.family_id, "refresh token reused")
        raise errors.RefreshReused(field="refresh_token")
    if row.status != "active" or row.expires_at <= clock.now():
        raise errors.InvalidToken(field="refresh_token")
    if row.subject_type == "user":
        ensure_active(await get_user(session, row.subject_id))
    now, new_refresh = clock.now(), tokens.new_secret_token()
    row.status, row.last_used_at = "rotated", now
    successor = AuthSession(
        family_id=row.family_id, subject_type=row.subject_type, subject_id=row.subject_id,
        refresh_hash=tokens.digest(new_refresh), device_id=row.device_id,
        device_type=row.device_type, device_name=row.device_name, app_version=row.app_version,
        ip=client.ip or row.ip, user_agent=client.user_agent or row.user_agent,
        created_at=row.created_at, last_used_at=now, expires_at=now + _refresh_ttl(settings))
    session.add(successor)
    await session.flush()
    return _tokens(settings, successor, new_refresh)


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID, reason: str) -> None:
    await session.execute(
        update(AuthSession).where(AuthSession.family_id == family_id,
                                  AuthSession.status != "revoked")
        .values(status="revoked", revoked_at=clock.now(), revoked_reason=reason))


async def revoke_session(session: AsyncSession, subject: Subject, family_id: uuid.UUID) -> None:
    """End one of the subject's own sessions; another's id is not found, as if absent."""
    found = await session.scalar(select(AuthSession.id).where(
        AuthSession.family_id == family_id, AuthSession.subject_type == subject.kind,
        AuthSession.subject_id == subject.id, AuthSession.status == "active"))
    if found is None:
        raise errors.ItemNotFound("No such session.")
    await _revoke_family(session, family_id, "signed out")


async def revoke_all(session: AsyncSession, subject_type: str, subject_id: uuid.UUID, *,
                     reason: str) -> None:
    await session.execute(
        update(AuthSession).where(AuthSession.subject_type == subject_type,
                                  AuthSession.subject_id == subject_id,
                                  AuthSession.status != "revoked")
        .values(status="revoked", revoked_at=clock.now(), revoked_reason=reason))


async def list_sessions(session: AsyncSession, subject: Subject) -> list[SessionOut]:
    rows = await session.scalars(select(AuthSession).where(
        AuthSession.subject_type == subject.kind, AuthSession.subject_id == subject.id,
        AuthSession.status == "active", AuthSession.expires_at > clock.now(),
    ).order_by(AuthSession.last_used_at.desc()))
    return [SessionOut.model_validate(r).model_copy(
        update={"current": r.family_id == subject.session_id}) for r in rows]


async def authenticate_bearer(settings: Settings, session: AsyncSession,
                              token: str) -> Subject | None:
    """The subject of a valid access token whose session is still open."""
    claims = tokens.read_access(settings.secret("secret_key"), token)
    family, subject_id = uuid.UUID(claims["sid"]), uuid.UUID(claims["sub"])
    open_ = await session.scalar(text(
        "SELECT 1 FROM auth_sessions WHERE family_id = :f AND status = 'active'"
        " AND subject_id = :s AND expires_at > :now LIMIT 1"),
        {"f": family, "s": subject_id, "now": clock.now()})
    if open_ is None:
        return None
    kind = claims["kind"]
    if kind == "user":
        user = await session.get(User, subject_id)
        if user is None or user.status != "active" or user.deleted_at is not None:
            return None
        return Subject("user", subject_id, frozenset(), session_id=family)
    # Other subjects' permissions come from their domain (admin roles, merchant staff).
    resolve = security.wiring().permissions.get(kind)
    if resolve is None:
        return None
    permissions = await resolve(session, subject_id)
    if permissions is None:
        return None
    return Subject(kind, subject_id, frozenset(permissions), session_id=family)
