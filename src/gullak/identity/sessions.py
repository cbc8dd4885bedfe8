"""Sessions and tokens: short-lived access tokens, rotating refresh tokens in families that
are revoked whole on reuse, and the bearer authenticator."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import errors
from gullak.identity.client import Client
from gullak.identity.common import ensure_active, get_user
from gullak.identity.models import AuthSession
from gullak.identity.schemas import DeviceIn, SessionOut, TokensOut
from gullak.kit import clock, notify, security, tokens
from gullak.kit.cache import auth as auth_cache
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
    await notify.publish(session, f"session:{family_id}")


async def revoke_session(session: AsyncSession, subject: Subject, family_id: uuid.UUID, *,
                         reason: str = "signed out") -> None:
    """End one of the subject's own sessions; another's id is not found, as if absent."""
    found = await session.scalar(select(AuthSession.id).where(
        AuthSession.family_id == family_id, AuthSession.subject_type == subject.kind,
        AuthSession.subject_id == subject.id, AuthSession.status == "active"))
    if found is None:
        raise errors.ItemNotFound("No such session.")
    await _revoke_family(session, family_id, reason)


async def revoke_all(session: AsyncSession, subject_type: str, subject_id: uuid.UUID, *,
                     reason: str, keep: uuid.UUID | None = None) -> None:
    """End every session of the account, but the family `keep` when given (the one a
    subject acts in)."""
    others = [AuthSession.family_id != keep] if keep is not None else []
    await session.execute(
        update(AuthSession).where(AuthSession.subject_type == subject_type,
                                  AuthSession.subject_id == subject_id,
                                  AuthSession.status != "revoked", *others)
        .values(status="revoked", revoked_at=clock.now(), revoked_reason=reason))
    # Also how a user's or an admin's status change reaches the cache: leaving `active`
    # revokes every session of the account.
    await notify.publish(session, f"subject:{subject_type}:{subject_id}")


async def list_sessions(session: AsyncSession, subject: Subject) -> list[SessionOut]:
    rows = await session.scalars(select(AuthSession).where(
        AuthSession.subject_type == subject.kind, AuthSession.subject_id == subject.id,
        AuthSession.status == "active", AuthSession.expires_at > clock.now(),
    ).order_by(AuthSession.last_used_at.desc()))
    return [SessionOut.model_validate(r).model_copy(
        update={"current": r.family_id == subject.session_id}) for r in rows]


@dataclass(frozen=True)
class _Verified:
    subject_id: uuid.UUID
    family: uuid.UUID
    kind: str
    until: dt.datetime  # the token's expiry or the session's, whichever comes first


async def authenticate_bearer(settings: Settings, session: AsyncSession,
                              token: str) -> Subject | None:
    """The subject of a valid access token whose session is still open (and, for a user, whose
    account is active). A yes is cached under the token itself until either expires, the
    session is revoked, or its subject's sessions are (status changes do that): the signature
    check and the secret's lookup cost more than the rest of authentication."""
    now = clock.now()
    verified = auth_cache.get(("bearer", token))
    if verified is None or verified.until <= now:
        since = auth_cache.generation
        claims = tokens.read_access(settings.secret("secret_key"), token)
        family, subject_id = uuid.UUID(claims["sid"]), uuid.UUID(claims["sub"])
        kind = claims["kind"]
        expires = await _open_until(session, family, subject_id, kind, now)
        if expires is None:
            return None
        until = min(expires, dt.datetime.fromtimestamp(claims["exp"], dt.UTC))
        verified = _Verified(subject_id, family, kind, until)
        auth_cache.put(("bearer", token), verified,
                       (f"session:{family}", f"subject:{kind}:{subject_id}"), since)
    if verified.kind == "user":
        return Subject("user", verified.subject_id, frozenset(), session_id=verified.family)
    # Other subjects' permissions come from their domain (admin roles, merchant staff).
    resolve = security.wiring().permissions.get(verified.kind)
    if resolve is None:
        return None
    permissions = await resolve(session, verified.subject_id)
    if permissions is None:
        return None
    return Subject(verified.kind, verified.subject_id, frozenset(permissions),  # type: ignore[arg-type]
                   session_id=verified.family)


async def session_open(session: AsyncSession, family: uuid.UUID, subject_id: uuid.UUID,
                       kind: str) -> bool:
    """Whether a session family is still open for its subject (the console's browser
    sessions ride on one)."""
    return await _open_until(session, family, subject_id, kind, clock.now()) is not None


async def _open_until(session: AsyncSession, family: uuid.UUID, subject_id: uuid.UUID,
                      kind: str, now: dt.datetime) -> dt.datetime | None:
    """When the open session expires; None if it is closed, or the user's account is not
    active. One round trip."""
    expires: dt.datetime | None = await session.scalar(text(
        "SELECT max(expires_at) FROM auth_sessions WHERE family_id = :f AND status = 'active'"
        " AND subject_id = :s AND subject_type = :k AND expires_at > :now"
        " AND (:k <> 'user' OR EXISTS (SELECT 1 FROM users WHERE id = :s"
        " AND status = 'active' AND deleted_at IS NULL))"),
        {"f": family, "s": subject_id, "k": kind, "now": now})
    return expires
