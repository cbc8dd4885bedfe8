"""Console sessions: sign-in through the accounts' own sign-in (admins with password and
authenticator code, merchant users with password), a server-side row per browser, the idle
timeout, CSRF tokens and one-shot flash messages. Never commits."""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.access import service as access
from gullak.access.errors import AdminLoginFailed
from gullak.console.models import ConsoleSession
from gullak.identity import service as identity
from gullak.identity.schemas import DeviceIn, TokensOut
from gullak.kit import audit, clock, tokens
from gullak.kit.security import Subject, permissions_of
from gullak.merchants import service as merchants
from gullak.settings import Settings

KINDS = {"console": "admin", "merchant": "merchant_user"}
DEVICE = DeviceIn(device_id="console", device_type="browser", device_name="Gullak console")
# last_seen_at is written at most this often: a page of htmx fragments is one write, not ten.
TOUCH_EVERY = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class Signed:
    """A browser's console session and who acts through it."""

    row: ConsoleSession
    subject: Subject

    @property
    def csrf(self) -> str:
        return self.row.csrf_token


async def sign_in(session: AsyncSession, settings: Settings, portal: str, email: str,
                  password: str, totp_code: str | None,
                  client: identity.Client) -> tuple[str, ConsoleSession]:
    """The cookie's token and the new session row; the accounts' own errors on a refusal."""
    pair: TokensOut
    if portal == "console":
        pair = await access.admin_login(session, settings, email, password, totp_code, DEVICE,
                                        client)
    else:
        pair = await merchants.merchant_login(session, settings, email, password, DEVICE,
                                              client)
    subject = await identity.authenticate_bearer(settings, session, pair.access_token)
    if subject is None:  # signed in and at once unable to act: the account's refusal
        raise AdminLoginFailed()
    now, token = clock.now(), tokens.new_secret_token()
    row = ConsoleSession(
        token_hash=tokens.digest(token), portal=portal, subject_kind=KINDS[portal],
        subject_id=subject.id, family_id=pair.session_id, csrf_token=tokens.new_secret_token(),
        ip=client.ip, user_agent=(client.user_agent or "")[:400] or None, created_at=now,
        last_seen_at=now, expires_at=now + dt.timedelta(hours=settings.console_session_hours))
    session.add(row)
    await session.flush()
    await audit.record(session, subject, "console.signed_in", portal, str(row.id))
    return token, row


async def resume(session: AsyncSession, settings: Settings, portal: str,
                 token: str | None) -> Signed | None:
    """The live session of this cookie, touched; None when there is none, it has been idle
    too long, it has expired, its identity session was revoked or its account cannot act."""
    if not token or len(token) > 200:
        return None
    row = await session.scalar(select(ConsoleSession).where(
        ConsoleSession.token_hash == tokens.digest(token), ConsoleSession.portal == portal,
        ConsoleSession.ended_at.is_(None)))
    now = clock.now()
    if row is None or row.expires_at <= now:
        return None
    if now - row.last_seen_at > dt.timedelta(minutes=settings.console_idle_minutes):
        row.ended_at = now
        return None
    if not await identity.session_open(session, row.family_id, row.subject_id, row.subject_kind):
        row.ended_at = now
        return None
    permissions = await permissions_of(session, row.subject_kind, row.subject_id)
    if permissions is None:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    subject = Subject(row.subject_kind, row.subject_id, frozenset(permissions),  # type: ignore[arg-type]
                      session_id=row.family_id)
    return Signed(row, subject)


async def sign_out(session: AsyncSession, signed: Signed) -> None:
    signed.row.ended_at = clock.now()
    await identity.revoke_session(session, signed.subject, signed.row.family_id)
    await audit.record(session, signed.subject, "console.signed_out", signed.row.portal,
                       str(signed.row.id))


async def end_sessions_of(session: AsyncSession, kind: str, subject_id: uuid.UUID) -> int:
    """Ends every console session of one account (its identity sessions are revoked apart)."""
    result = await session.execute(
        update(ConsoleSession).where(ConsoleSession.subject_kind == kind,
                                     ConsoleSession.subject_id == subject_id,
                                     ConsoleSession.ended_at.is_(None))
        .values(ended_at=clock.now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def prune(session: AsyncSession, *, older_than: dt.timedelta) -> int:
    """Deletes sessions that ended or expired more than `older_than` ago."""
    before = clock.now() - older_than
    result = await session.execute(delete(ConsoleSession).where(or_(
        ConsoleSession.ended_at < before, ConsoleSession.expires_at < before)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def csrf_ok(signed: Signed, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(signed.row.csrf_token, sent or "")


def flash(signed: Signed, message: str) -> None:
    """A message shown once on the next page (the result of a form post)."""
    signed.row.flash = message[:500]


def take_flash(signed: Signed) -> str | None:
    message, signed.row.flash = signed.row.flash, None
    return message
