"""Identity commands and queries, the domain's public face: users (sign-up and sign-in,
profile, status) here; OTP, the password sign-in flow, credentials, sessions, devices,
addresses, linked accounts, KYC and the wallet in their own modules, re-exported here. Services
never commit; the caller's unit of work does."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, NUMERIC, Select, cast, delete, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import errors
from gullak.identity.addresses import (
    add_address,
    delete_address,
    list_addresses,
    names_and_cities,
    update_address,
)
from gullak.identity.client import Client
from gullak.identity.common import (
    ensure_active,
    get_user,
    keyring,
    normalize_email,
    normalize_phone,
)
from gullak.identity.credentials import (
    confirm_totp,
    disable_totp,
    set_password,
    start_totp,
    totp_ok,
    totp_step,
)
from gullak.identity.devices import delete_device, list_devices, push_targets, put_device
from gullak.identity.kyc import (
    KycState,
    kyc_out,
    kyc_state,
    list_kyc,
    my_kyc,
    review_kyc,
    submit_kyc,
)
from gullak.identity.models import Address, AuthSession, Device, SocialAccount, User
from gullak.identity.otp import (
    OTP_COOLDOWN,
    OTP_MAX_ATTEMPTS,
    OTP_PER_IP,
    OTP_PER_PHONE,
    OTP_TTL,
    STEP_UP_TTL,
    check_step_up,
    request_otp,
    send_sms,
    step_up,
    use_step_up,
    verify_otp,
)
from gullak.identity.schemas import (
    DeviceIn,
    KycOut,
    OtpPurpose,
    ProfileIn,
    SessionOut,
    SignedInOut,
    UserOut,
)
from gullak.identity.sessions import (
    authenticate_bearer,
    list_sessions,
    refresh,
    revoke_all,
    revoke_session,
    session_open,
    start_session,
)
from gullak.identity.signin import PER_ADDRESS, PER_LOGIN, sign_in, throttle_keys
from gullak.identity.social_accounts import link_social, list_social, unlink_social
from gullak.identity.wallet import adjust_wallet, assets, wallet, wallet_account
from gullak.kit import clock, events
from gullak.kit.browse import Browse, Page, page
from gullak.kit.errors import InvalidInput
from gullak.kit.security import Subject
from gullak.settings import Settings
from gullak.identity.sms import sender_from
from gullak.identity.models import KycRecord

_REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud safely


async def _new_referral_code(session: AsyncSession) -> str:
    while True:
        code = "".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(8))
        if await session.scalar(select(User.id).where(User.referral_code == code)) is None:
            return code


async def sign_in_with_otp(session: AsyncSession, settings: Settings, phone: str, code: str,
                           referral_code: str | None, device: DeviceIn,
                           client: Client) -> SignedInOut:
    """Verify the code, open the account on first sign-in, and start a session."""
    referrer = None
    if referral_code:  # checked first: bad input changes nothing, not even the attempt count
        referrer = await session.scalar(select(User.id).where(
            User.referral_code == referral_code.upper(), User.deleted_at.is_(None)))
        if referrer is None:
            raise errors.UnknownReferralCode(field="referral_code")
    phone = normalize_phone(phone)
    phone = await verify_otp(session, settings, phone, OtpPurpose.login, code)
    user = await session.scalar(select(User).where(User.phone == phone,
                                                   User.deleted_at.is_(None)))
    created = user is None
    if user is None:
        user = User(phone=phone, referral_code=await _new_referral_code(session),
                    referred_by_id=referrer)
        session.add(user)
        await session.flush()
        # Rewards and referrals act on a new account in this unit (sign-up bonus, referral).
        await events.publish(session, "user.signed_up", {
            "user_id": str(user.id), "referred_by_id": str(referrer) if referrer else None,
            "device_id": device.device_id, "channel": "otp"})
    ensure_active(user)
    user.last_login_at, user.last_login_ip = clock.now(), client.ip
    await signed_in(session, user.id, device, client, created=created)
    pair = await start_session(session, settings, "user", user.id, device, client)
    await session.flush()
    await session.refresh(user)
    return SignedInOut(**pair.model_dump(), user=UserOut.model_validate(user), created=created)


async def sign_in_with_password(session: AsyncSession, settings: Settings, login: str,
                                password: str, totp_code: str | None, device: DeviceIn,
                                client: Client) -> SignedInOut:
    """Username or email and password, and the authenticator code if the user turned it on."""

    async def find(key: str) -> User | None:
        field = User.email if "@" in key else User.username
        # Locked: two sign-ins with one authenticator code must not both see it unused.
        return await session.scalar(select(User).where(func.lower(field) == key,
                                                       User.deleted_at.is_(None))
                                    .with_for_update())

    def confirm(user: User) -> None:
        if user.totp_enabled:
            if totp_code is None:
                raise errors.TotpRequired(field="totp_code")
            if not totp_ok(settings, user, totp_code):
                raise errors.InvalidCredentials("Wrong authenticator code.", field="totp_code")
        ensure_active(user)

    user = await sign_in(session, "user", login, password, client, find,
                         errors.InvalidCredentials, confirm)
    user.last_login_at, user.last_login_ip = clock.now(), client.ip
    await signed_in(session, user.id, device, client, created=False)
    pair = await start_session(session, settings, "user", user.id, device, client)
    await session.flush()
    await session.refresh(user)
    return SignedInOut(**pair.model_dump(), user=UserOut.model_validate(user), created=False)


def _complete(user: User) -> bool:
    return all((user.name, user.email, user.date_of_birth))


async def update_profile(session: AsyncSession, user_id: uuid.UUID, data: ProfileIn) -> UserOut:
    user = await get_user(session, user_id)
    was_complete = _complete(user)
    changes = data.model_dump(exclude_unset=True)
    if "email" in changes and changes["email"] is not None:
        changes["email"] = normalize_email(changes["email"])
        await _ensure_free(session, user.id, func.lower(User.email), changes["email"].lower(),
                           "email")
    if changes.get("username") is not None:
        await _ensure_free(session, user.id, func.lower(User.username),
                           changes["username"].lower(), "username")
    if changes.get("date_of_birth") is not None:
        born: dt.date = changes["date_of_birth"]
        today = clock.now().date()
        oldest = today.replace(year=today.year - 130, day=min(today.day, 28)
                               if (today.month, today.day) == (2, 29) else today.day)
        if born > today or born < oldest:
            raise InvalidInput("Not a plausible date of birth.", code="invalid_date",
                               field="date_of_birth")
    for name, value in changes.items():
        if name == "gender" and value is not None:
            value = value.value
        if name == "preferences" and value is not None:
            value = {**user.preferences, **value}
        setattr(user, name, value)
    if not was_complete and _complete(user):
        # Announced when the profile becomes whole; a rule paying for it caps itself per user.
        await events.publish(session, "user.profile_completed", {"user_id": str(user.id)})
    await session.flush()
    await session.refresh(user)
    return UserOut.model_validate(user)


async def _ensure_free(session: AsyncSession, user_id: uuid.UUID, column: Any, value: str,
                       field: str) -> None:
    other = await session.scalar(select(User.id).where(column == value, User.id != user_id,
                                                       User.deleted_at.is_(None)))
    if other is not None:
        raise errors.Taken(f"This {field} belongs to another account.", field=field)


async def change_password(session: AsyncSession, subject: Subject, new: str,
                          current: str | None) -> None:
    """The user's own change: every other session ends, so that whoever holds a stolen one
    does not outlive it; the one it is made in stays."""
    await set_password(session, subject.id, new, current)
    await revoke_all(session, subject.kind, subject.id, reason="password changed",
                     keep=subject.session_id)


async def set_status(session: AsyncSession, user_id: uuid.UUID, status: str,
                     reason: str | None) -> UserOut:
    """Suspend, block, deactivate or re-activate; leaving 'active' ends every session."""
    user = await get_user(session, user_id)
    if status != "active" and not reason:
        raise InvalidInput("A reason is required.", field="reason")
    user.status, user.status_reason = status, reason if status != "active" else None
    if status != "active":
        await revoke_all(session, "user", user.id, reason=f"account {status}")
    await session.flush()
    await session.refresh(user)
    return UserOut.model_validate(user)


async def delete_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Soft delete: contact details go, the id stays for the money records that name it."""
    user = await get_user(session, user_id)
    user.deleted_at = clock.now()
    user.status, user.status_reason = "deactivated", "deleted"
    user.phone = user.email = user.username = user.name = None
    user.password_hash = user.totp_secret = None
    # What only serves reaching or recognising the person goes too.
    for model in (Address, Device, SocialAccount):
        await session.execute(delete(model).where(model.user_id == user.id))
    await revoke_all(session, "user", user.id, reason="account deleted")


async def find_users(session: AsyncSession, query: str | None, limit: int = 50) -> list[UserOut]:
    stmt = (select(User).where(User.deleted_at.is_(None)).order_by(User.created_at.desc())
            .limit(limit))
    if query:
        q = query.strip()
        try:
            phone = normalize_phone(q)
        except errors.InvalidPhone:
            phone = None
        # Only a query that is a phone number compares phones: `phone == None` would be
        # `phone IS NULL` and find every user without one.
        matches = [func.lower(User.email) == q.lower(), func.lower(User.username) == q.lower(),
                   User.referral_code == q.upper()]
        if phone is not None:
            matches.append(User.phone == phone)
        stmt = stmt.where(or_(*matches))
    return [UserOut.model_validate(u) for u in await session.scalars(stmt)]


__all__ = [
    "add_address", "adjust_wallet", "assets", "authenticate_bearer", "check_step_up", "Client",
    "confirm_totp", "delete_address", "delete_device", "delete_user", "disable_totp",
    "ensure_active", "find_users", "KycState", "kyc_state", "get_user", "keyring", "kyc_out", "link_social",
    "list_addresses", "list_devices", "names_and_cities", "list_kyc", "list_sessions", "list_social", "my_kyc",
    "normalize_email", "normalize_phone", "OTP_COOLDOWN", "OTP_MAX_ATTEMPTS", "OTP_PER_IP",
    "OTP_PER_PHONE", "OTP_TTL", "PER_ADDRESS", "PER_LOGIN", "push_targets", "put_device",
    "refresh", "request_otp", "review_kyc", "revoke_all", "revoke_session", "send_sms",
    "session_open", "set_password", "change_password", "set_status", "sign_in", "sign_in_with_otp", "sign_in_with_password",
    "start_session", "start_totp", "step_up", "STEP_UP_TTL", "submit_kyc", "throttle_keys",
    "totp_ok", "totp_step", "unlink_social", "update_address", "update_profile", "use_step_up", "verify_otp",
    "wallet",
    "wallet_account",
]


# -- for notifications ------------------------------------------------------------------------

async def notification_contacts(session: AsyncSession, user_id: uuid.UUID
                                ) -> tuple[str | None, str | None, str] | None:
    """Where a user can be reached outside the app: (phone, email, language), or None for a
    user that does not exist, was deleted or is not active."""
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None or user.status != "active":
        return None
    return user.phone, user.email, user.language


async def push_destinations(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[str, str]]:
    """(platform, push token) of each of the user's devices that takes push."""
    rows = await session.execute(select(Device.platform, Device.push_token).where(
        Device.user_id == user_id, Device.push_enabled, Device.push_token.is_not(None)))
    return [(platform, token) for platform, token in rows if token]


async def retire_push_token(session: AsyncSession, token: str) -> int:
    """Forget a push token its provider said is no longer valid; how many devices had it."""
    devices = list(await session.scalars(select(Device).where(Device.push_token == token)))
    for device in devices:
        device.push_token = None
    await session.flush()
    return len(devices)


async def users_on_device(session: AsyncSession, device_id: str, *,
                          limit: int = 100) -> set[uuid.UUID]:
    """Live accounts that registered this device (for the risk domain's count of accounts
    per device); at most `limit` of them, enough to score."""
    found = await session.scalars(
        select(Device.user_id).join(User, User.id == Device.user_id)
        .where(Device.device_id == device_id, User.deleted_at.is_(None))
        .distinct().limit(limit))
    return set(found)


# -- segments: who matches a filter, as a statement another domain combines (campaigns) -------

def reachable_users() -> Select[uuid.UUID]:
    """Users a message may go to: active and not deleted."""
    return select(User.id).where(User.status == "active", User.deleted_at.is_(None))


def users_in_city(city: str) -> Select[uuid.UUID]:
    """Users with an address in `city`, whatever the case."""
    return select(Address.user_id).where(func.lower(Address.city) == city.lower())


def users_active_since(since: dt.datetime) -> Select[uuid.UUID]:
    """Users who signed in, or refreshed a session (used the app), at or after `since`."""
    used = exists().where(AuthSession.subject_type == "user", AuthSession.subject_id == User.id,
                          AuthSession.last_used_at >= since)
    return select(User.id).where(or_(User.last_login_at >= since, used))


def users_on_platforms(platforms: Sequence[str]) -> Select[uuid.UUID]:
    return select(Device.user_id).where(Device.platform.in_(list(platforms)))


def users_on_app_version(low: Sequence[int] | None,
                         high: Sequence[int] | None) -> Select[uuid.UUID]:
    """Users with a device whose app version lies in [low, high], compared as numbers part by
    part ("3.10" above "3.9"); a version that does not start with a number matches nothing."""
    numbers = ARRAY(NUMERIC)
    version = cast(func.string_to_array(
        func.substring(Device.app_version, r"^[0-9]+(?:\.[0-9]+)*"), "."), numbers)
    query = select(Device.user_id).where(Device.app_version.is_not(None))
    if low is not None:
        query = query.where(version >= cast(literal(list(low), numbers), numbers))
    if high is not None:
        query = query.where(version <= cast(literal(list(high), numbers), numbers))
    return query


# -- analytics: a day's sign-ups -------------------------------------------------------------

async def sign_ups_on(session: AsyncSession, day: dt.date) -> int:
    """Users who signed up on a UTC day."""
    since = dt.datetime.combine(day, dt.time(), dt.UTC)
    return int(await session.scalar(select(func.count()).select_from(User).where(
        User.created_at >= since, User.created_at < since + dt.timedelta(days=1))) or 0)


def sms_sender(settings: Settings) -> Any:
    """The configured text message sender (`identity.sms.SmsSender`: sandbox or Twilio)."""

    return sender_from(settings)


async def signed_in(session: AsyncSession, user_id: uuid.UUID, device: DeviceIn, client: Client,
                    *, created: bool) -> None:
    """Announce a successful sign-in (before its session is written): `new_device` when an
    existing account signs in from a device it never had a session on (or an unnamed one)."""
    seen = device.device_id is not None and await session.scalar(select(AuthSession.id).where(
        AuthSession.subject_type == "user", AuthSession.subject_id == user_id,
        AuthSession.device_id == device.device_id).limit(1)) is not None
    await events.publish(session, "user.signed_in", {
        "user_id": str(user_id), "device_id": device.device_id,
        "new_device": not created and not seen, "ip": client.ip, "city": None})


# -- the console: users browsed, looked up, and their sessions ended by an admin --------------

async def browse_users(session: AsyncSession, browse: Browse, *, status: str | None = None,
                       q: str | None = None) -> Page:
    """A page of live users (rows: `UserOut`), sortable by `created`; `q` is part of a name,
    email or username, or digits of a phone."""
    query = select(User).where(User.deleted_at.is_(None))
    if status is not None:
        query = query.where(User.status == status)
    if q:
        needle = q.strip().lower()
        found = [func.lower(column).contains(needle, autoescape=True)
                 for column in (User.name, User.email, User.username)]
        digits = re.sub(r"\D", "", needle)
        if len(digits) >= 4:
            found.append(User.phone.contains(digits, autoescape=True))
        query = query.where(or_(*found))
    rows = await page(session, query, browse, User.id, {"created": User.created_at})
    return Page([UserOut.model_validate(u) for u in rows.rows], rows.next_cursor)


async def lookup_users(session: AsyncSession, query: str, limit: int = 20) -> list[UserOut]:
    """Live users whose phone (any way it is written), email, username or referral code is
    exactly `query`: the console's search box, on indexed columns only."""
    q = query.strip()
    try:
        phone: str | None = normalize_phone(q)
    except errors.InvalidPhone:
        phone = None
    matches = [func.lower(User.email) == q.lower(), func.lower(User.username) == q.lower(),
               User.referral_code == q.upper()]
    if phone is not None:  # never `phone IS NULL`: that would match every phoneless user
        matches.append(User.phone == phone)
    rows = await session.scalars(select(User).where(User.deleted_at.is_(None), or_(*matches))
                                 .order_by(User.created_at.desc()).limit(limit))
    return [UserOut.model_validate(u) for u in rows]


async def user_sessions(session: AsyncSession, user_id: uuid.UUID) -> list[SessionOut]:
    """A user's open sessions, as the console shows them to an admin."""
    return await list_sessions(session, Subject("user", user_id))


async def end_user_session(session: AsyncSession, user_id: uuid.UUID,
                           family_id: uuid.UUID) -> None:
    """An admin ends one of a user's open sessions (another user's id is not found)."""
    await revoke_session(session, Subject("user", user_id), family_id,
                         reason="ended by an admin")


# -- the console: the KYC review queue --------------------------------------------------------

async def browse_kyc(session: AsyncSession, browse: Browse, *,
                     status: str | None = "pending") -> Page:
    """KYC records (pending by default), a keyset page sortable by created_at; rows are
    KycOut (numbers masked)."""

    query = select(KycRecord)
    if status is not None:
        query = query.where(KycRecord.status == status)
    found = await page(session, query, browse, KycRecord.id,
                       {"created_at": KycRecord.created_at})
    return Page([kyc_out(r) for r in found.rows], found.next_cursor)


async def count_kyc(session: AsyncSession, status: str = "pending") -> int:

    found = await session.scalar(select(func.count()).select_from(KycRecord).where(
        KycRecord.status == status))
    return int(found or 0)


async def get_kyc(session: AsyncSession, record_id: uuid.UUID) -> KycOut:

    record = await session.get(KycRecord, record_id)
    if record is None:
        raise errors.ItemNotFound("No such KYC record.")
    return kyc_out(record)
