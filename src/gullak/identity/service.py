"""Identity commands and queries: sign-in, tokens and sessions, profile, devices, addresses,
social accounts, KYC. Services never commit; the caller's unit of work does."""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import phonenumbers
import pyotp
from email_validator import EmailNotValidError, validate_email
from fastapi import Request
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import errors
from gullak.identity.models import (
    Address,
    AuthSession,
    Device,
    KycRecord,
    OtpCode,
    SmsMessage,
    SocialAccount,
    User,
)
from gullak.identity.schemas import (
    AddressIn,
    AddressOut,
    DeviceIn,
    KycIn,
    KycOut,
    OtpPurpose,
    OtpRequestOut,
    ProfileIn,
    PushDeviceIn,
    PushDeviceOut,
    SessionOut,
    SignedInOut,
    SocialAccountOut,
    StepUpOut,
    TokensOut,
    TotpSetupOut,
    UserOut,
    WalletBalanceOut,
)
from gullak.identity.social import Verifier
from gullak.kit import clock, tokens
from gullak.kit.crypto import Keyring, mask
from gullak.kit.errors import InvalidInput
from gullak.kit.passwords import hash_password, verify_password
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.settings import Settings
from gullak.system import service as system

OTP_TTL = dt.timedelta(minutes=5)
OTP_MAX_ATTEMPTS = 5
OTP_COOLDOWN = dt.timedelta(seconds=30)
OTP_PER_PHONE = (5, dt.timedelta(minutes=15))
OTP_PER_IP = (20, dt.timedelta(hours=1))
LOGIN_PER_ACCOUNT = (10, dt.timedelta(minutes=15))
MIN_PASSWORD = 10
_REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud safely
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Client:
    """Where a request comes from, as far as sessions and rate limits care."""

    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(cls, request: Request) -> Client:
        return cls(request.client.host if request.client else None,
                   request.headers.get("user-agent"))


# -- validation -------------------------------------------------------------------------------

def normalize_phone(raw: str, region: str = "IN") -> str:
    """E.164 (`+919812345678`) for a valid mobile number; `invalid_phone` otherwise."""
    if re.search(r"[A-Za-z]", raw):  # the parser would read letters as keypad digits
        raise errors.InvalidPhone(field="phone")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise errors.InvalidPhone(field="phone") from exc
    kind = phonenumbers.number_type(number)
    if not phonenumbers.is_valid_number(number) or kind not in (
        phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise errors.InvalidPhone(field="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise errors.InvalidEmail(field="email") from exc


def keyring(settings: Settings) -> Keyring:
    # Older keys may follow the current one, comma-separated, while values are re-sealed.
    return Keyring([k for k in settings.secret("encryption_key").split(",") if k])


# -- OTP --------------------------------------------------------------------------------------

def _otp_digest(settings: Settings, phone: str, purpose: str, code: str) -> str:
    # Keyed, so a leaked table does not give the codes away to a million guesses.
    message = f"{phone}:{purpose}:{code}".encode()
    return hmac.new(settings.secret("secret_key").encode(), message, "sha256").hexdigest()


async def request_otp(session: AsyncSession, settings: Settings, phone: str,
                      purpose: OtpPurpose, client: Client) -> tuple[OtpRequestOut, uuid.UUID]:
    """Send a 6-digit code; returns the outcome and the outbox message to send."""
    phone = normalize_phone(phone)
    await system.hit(session, f"otp:phone:{phone}", limit=OTP_PER_PHONE[0],
                     window=OTP_PER_PHONE[1])
    if client.ip:
        await system.hit(session, f"otp:ip:{client.ip}", limit=OTP_PER_IP[0],
                         window=OTP_PER_IP[1])
    now = clock.now()
    last = await session.scalar(
        select(OtpCode.created_at).where(OtpCode.phone == phone, OtpCode.purpose == purpose.value)
        .order_by(OtpCode.created_at.desc()).limit(1))
    if last is not None and now - last < OTP_COOLDOWN:
        wait = int((OTP_COOLDOWN - (now - last)).total_seconds()) + 1
        raise errors.OtpCooldown(retry_after=wait, keep_changes=True)
    code = f"{secrets.randbelow(1_000_000):06d}"
    session.add(OtpCode(phone=phone, purpose=purpose.value, created_at=now, ip=client.ip,
                        code_hash=_otp_digest(settings, phone, purpose.value, code),
                        expires_at=now + OTP_TTL))
    message = SmsMessage(phone=phone, body=f"{code} is your Gullak code. It expires in 5 "
                                          f"minutes. Never share it.")
    session.add(message)
    await session.flush()
    return OtpRequestOut(expires_in=int(OTP_TTL.total_seconds()),
                         resend_after=int(OTP_COOLDOWN.total_seconds())), message.id


async def verify_otp(session: AsyncSession, settings: Settings, phone: str, purpose: OtpPurpose,
                     code: str) -> str:
    """Check the latest code sent to `phone`; returns the phone in E.164 form."""
    phone = normalize_phone(phone)
    otp = await session.scalar(
        select(OtpCode).where(OtpCode.phone == phone, OtpCode.purpose == purpose.value)
        .order_by(OtpCode.created_at.desc()).limit(1).with_for_update())
    if otp is None or otp.consumed_at is not None or otp.expires_at <= clock.now():
        raise errors.OtpInvalid(field="code")
    if otp.attempts >= OTP_MAX_ATTEMPTS:
        raise errors.OtpLocked(field="code")
    otp.attempts += 1
    if not hmac.compare_digest(otp.code_hash, _otp_digest(settings, phone, purpose.value, code)):
        await session.flush()
        raise errors.OtpInvalid(field="code")
    otp.consumed_at = clock.now()
    return phone


STEP_UP_TTL = dt.timedelta(minutes=5)


async def step_up(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                  purpose: OtpPurpose, code: str) -> StepUpOut:
    """A signed-in user confirms a code sent to their own phone for a transaction or KYC; the
    token proves it to the endpoint that asks for it (see `check_step_up`)."""
    user = await get_user(session, user_id)
    if user.phone is None:
        raise InvalidInput("This account has no phone number.", code="no_phone")
    await verify_otp(session, settings, user.phone, purpose, code)
    token = tokens.issue_access(settings.secret("secret_key"), subject=user.id, kind="step_up",
                                session_id=user.id, ttl=STEP_UP_TTL,
                                extra={"purpose": purpose.value})
    return StepUpOut(verification_token=token, purpose=purpose,
                     expires_in=int(STEP_UP_TTL.total_seconds()))


def check_step_up(settings: Settings, user_id: uuid.UUID, purpose: OtpPurpose,
                  token: str) -> None:
    claims = tokens.read_access(settings.secret("secret_key"), token)
    if (claims.get("kind") != "step_up" or claims.get("purpose") != purpose.value
            or claims.get("sub") != str(user_id)):
        raise errors.InvalidToken("This verification is for something else.",
                                  field="verification_token")


async def send_sms(session: AsyncSession, message_id: uuid.UUID, sender: Any) -> str:
    """Hand one outbox message to the sender; a real provider's copy of the body is cleared."""
    message = await session.get(SmsMessage, message_id, with_for_update=True)
    if message is None or message.status != "queued" or message.body is None:
        return "skipped"
    sent = await sender.send(message.phone, message.body)
    message.provider, message.provider_id = sent.provider, sent.provider_id
    message.status = "sandbox" if sent.sandbox else "sent"
    message.sent_at = clock.now()
    if not sent.sandbox:
        message.body = None
    return message.status


# -- users ------------------------------------------------------------------------------------

async def _new_referral_code(session: AsyncSession) -> str:
    while True:
        code = "".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(8))
        if await session.scalar(select(User.id).where(User.referral_code == code)) is None:
            return code


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise errors.UserNotFound()
    return user


def _ensure_active(user: User) -> None:
    if user.status != "active" or user.deleted_at is not None:
        raise errors.AccountUnavailable(f"This account is {user.status}.")


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
    _ensure_active(user)
    user.last_login_at, user.last_login_ip = clock.now(), client.ip
    pair = await start_session(session, settings, "user", user.id, device, client)
    await session.flush()
    await session.refresh(user)
    return SignedInOut(**pair.model_dump(), user=UserOut.model_validate(user), created=created)


async def sign_in_with_password(session: AsyncSession, settings: Settings, login: str,
                                password: str, totp_code: str | None, device: DeviceIn,
                                client: Client) -> SignedInOut:
    key = login.strip().lower()
    await system.hit(session, f"login:{key}", limit=LOGIN_PER_ACCOUNT[0],
                     window=LOGIN_PER_ACCOUNT[1])
    field = User.email if "@" in key else User.username
    user = await session.scalar(select(User).where(func.lower(field) == key,
                                                   User.deleted_at.is_(None)))
    # An unknown login costs a hash check too, so timing does not tell which logins exist.
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    ok, rehashed = verify_password(stored, password)
    ok = ok and user is not None and user.password_hash is not None
    if user is None or not ok:
        raise errors.InvalidCredentials()
    if user.totp_enabled:
        if totp_code is None:
            raise errors.TotpRequired(field="totp_code")
        if not _totp_ok(settings, user, totp_code):
            raise errors.InvalidCredentials("Wrong authenticator code.", field="totp_code")
    _ensure_active(user)
    if rehashed:  # an older hash (bcrypt, weaker argon2 parameters) is replaced now
        user.password_hash = rehashed
    user.last_login_at, user.last_login_ip = clock.now(), client.ip
    pair = await start_session(session, settings, "user", user.id, device, client)
    await session.flush()
    await session.refresh(user)
    return SignedInOut(**pair.model_dump(), user=UserOut.model_validate(user), created=False)


async def update_profile(session: AsyncSession, user_id: uuid.UUID, data: ProfileIn) -> UserOut:
    user = await get_user(session, user_id)
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
    await session.flush()
    await session.refresh(user)
    return UserOut.model_validate(user)


async def _ensure_free(session: AsyncSession, user_id: uuid.UUID, column: Any, value: str,
                       field: str) -> None:
    other = await session.scalar(select(User.id).where(column == value, User.id != user_id,
                                                       User.deleted_at.is_(None)))
    if other is not None:
        raise errors.Taken(f"This {field} belongs to another account.", field=field)


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


# -- passwords and TOTP -----------------------------------------------------------------------

async def set_password(session: AsyncSession, user_id: uuid.UUID, new: str,
                       current: str | None) -> None:
    user = await get_user(session, user_id)
    if user.password_hash:
        ok, _ = verify_password(user.password_hash, current or "")
        if not ok:
            raise errors.InvalidCredentials("The current password is wrong.",
                                            field="current_password", keep_changes=False)
    if len(new) < MIN_PASSWORD:
        raise errors.WeakPassword(field="new_password")
    user.password_hash = hash_password(new)


async def start_totp(session: AsyncSession, settings: Settings, user_id: uuid.UUID) -> TotpSetupOut:
    user = await get_user(session, user_id)
    if user.totp_enabled:  # switching factors needs the current code: disable first
        raise errors.Taken("An authenticator is already on; disable it first.",
                           code="totp_already_enabled")
    secret = pyotp.random_base32()
    user.totp_secret = keyring(settings).seal(secret, context="users.totp_secret")
    user.totp_enabled = False
    label = user.email or user.phone or str(user.id)
    uri = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name="Gullak")
    return TotpSetupOut(secret=secret, provisioning_uri=uri)


def _totp_ok(settings: Settings, user: User, code: str) -> bool:
    if not user.totp_secret:
        return False
    secret = keyring(settings).open(user.totp_secret, context="users.totp_secret")
    return pyotp.TOTP(secret).verify(code, for_time=clock.now(), valid_window=1)


async def confirm_totp(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                       code: str) -> None:
    user = await get_user(session, user_id)
    if not _totp_ok(settings, user, code):
        raise InvalidInput("Wrong authenticator code.", code="invalid_totp", field="code")
    user.totp_enabled = True


async def disable_totp(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                       code: str) -> None:
    user = await get_user(session, user_id)
    if user.totp_enabled and not _totp_ok(settings, user, code):
        raise InvalidInput("Wrong authenticator code.", code="invalid_totp", field="code")
    user.totp_enabled, user.totp_secret = False, None


# -- sessions and tokens ----------------------------------------------------------------------

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
        _ensure_active(await get_user(session, row.subject_id))
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


# Permissions of subjects other than users come from their domain (admin roles, merchant staff).
PERMISSIONS: dict[str, Any] = {}


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
    resolve = PERMISSIONS.get(kind)
    if resolve is None:
        return None
    permissions = await resolve(session, subject_id)
    if permissions is None:
        return None
    return Subject(kind, subject_id, frozenset(permissions), session_id=family)


# -- devices ----------------------------------------------------------------------------------

async def put_device(session: AsyncSession, user_id: uuid.UUID, device_id: str,
                     data: PushDeviceIn) -> PushDeviceOut:
    device = await session.scalar(select(Device).where(Device.user_id == user_id,
                                                       Device.device_id == device_id))
    if device is None:
        device = Device(user_id=user_id, device_id=device_id, platform=data.platform)
        session.add(device)
    for name, value in data.model_dump().items():
        setattr(device, name, value)
    await session.flush()
    await session.refresh(device)
    return _device_out(device)


def _device_out(device: Device) -> PushDeviceOut:
    return PushDeviceOut(device_id=device.device_id, platform=device.platform, name=device.name,
                         app_version=device.app_version, push_enabled=device.push_enabled,
                         has_push_token=bool(device.push_token), updated_at=device.updated_at)


async def list_devices(session: AsyncSession, user_id: uuid.UUID) -> list[PushDeviceOut]:
    rows = await session.scalars(select(Device).where(Device.user_id == user_id)
                                 .order_by(Device.updated_at.desc()))
    return [_device_out(d) for d in rows]


async def delete_device(session: AsyncSession, user_id: uuid.UUID, device_id: str) -> None:
    device = await session.scalar(select(Device).where(Device.user_id == user_id,
                                                       Device.device_id == device_id))
    if device is None:
        raise errors.ItemNotFound("No such device.")
    await session.delete(device)


async def push_targets(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """The push tokens to notify a user on (enabled devices only)."""
    rows = await session.scalars(select(Device.push_token).where(
        Device.user_id == user_id, Device.push_enabled, Device.push_token.is_not(None)))
    return [t for t in rows if t]


# -- addresses --------------------------------------------------------------------------------

async def _own_address(session: AsyncSession, user_id: uuid.UUID,
                       address_id: uuid.UUID) -> Address:
    address = await session.get(Address, address_id)
    if address is None or address.user_id != user_id:
        raise errors.ItemNotFound("No such address.")
    return address


async def _clear_default(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(update(Address).where(Address.user_id == user_id, Address.is_default)
                          .values(is_default=False))


async def add_address(session: AsyncSession, user_id: uuid.UUID, data: AddressIn) -> AddressOut:
    _check_coordinates(data.latitude, data.longitude)
    first = await session.scalar(select(Address.id).where(Address.user_id == user_id)) is None
    if data.is_default or first:
        await _clear_default(session, user_id)
    address = Address(user_id=user_id, **{**data.model_dump(), "is_default": data.is_default or first})
    session.add(address)
    await session.flush()
    return AddressOut.model_validate(address)


def _check_coordinates(lat: float | None, lng: float | None) -> None:
    if (lat is None) != (lng is None):
        raise InvalidInput("Give both latitude and longitude, or neither.",
                           code="invalid_coordinates", field="latitude")


async def update_address(session: AsyncSession, user_id: uuid.UUID, address_id: uuid.UUID,
                         data: AddressIn) -> AddressOut:
    address = await _own_address(session, user_id, address_id)
    _check_coordinates(data.latitude, data.longitude)
    values = data.model_dump()
    if "is_default" not in data.model_fields_set:
        values["is_default"] = address.is_default  # not mentioned: unchanged
    if values["is_default"] and not address.is_default:
        await _clear_default(session, user_id)
    was_default = address.is_default
    for name, value in values.items():
        setattr(address, name, value)
    await session.flush()
    if was_default and not address.is_default:
        await _promote_default(session, user_id, exclude=address.id)
    return AddressOut.model_validate(address)


async def _promote_default(session: AsyncSession, user_id: uuid.UUID,
                           exclude: uuid.UUID | None = None) -> None:
    """Someone with addresses always has a default one: the newest other one takes over."""
    query = select(Address).where(Address.user_id == user_id).order_by(Address.created_at.desc())
    if exclude is not None:
        query = query.where(Address.id != exclude)
    other = await session.scalar(query.limit(1))
    if other is not None:
        other.is_default = True
        await session.flush()


async def list_addresses(session: AsyncSession, user_id: uuid.UUID) -> list[AddressOut]:
    rows = await session.scalars(select(Address).where(Address.user_id == user_id)
                                 .order_by(Address.is_default.desc(), Address.created_at))
    return [AddressOut.model_validate(a) for a in rows]


async def delete_address(session: AsyncSession, user_id: uuid.UUID, address_id: uuid.UUID) -> None:
    address = await _own_address(session, user_id, address_id)
    was_default = address.is_default
    await session.delete(address)
    await session.flush()
    if was_default:
        await _promote_default(session, user_id)


# -- social accounts --------------------------------------------------------------------------

async def link_social(session: AsyncSession, user_id: uuid.UUID, provider: str, token: str,
                      verifiers: dict[str, Verifier]) -> SocialAccountOut:
    identity = await verifiers[provider].verify(token)
    existing = await session.scalar(select(SocialAccount).where(
        SocialAccount.provider == provider, SocialAccount.provider_subject == identity.subject))
    if existing is not None:
        if existing.user_id != user_id:
            raise errors.Taken("This identity is linked to another account.", field="token")
        return SocialAccountOut.model_validate(existing)
    account = SocialAccount(user_id=user_id, provider=provider,
                            provider_subject=identity.subject, email=identity.email)
    session.add(account)
    await session.flush()
    await session.refresh(account)
    return SocialAccountOut.model_validate(account)


async def list_social(session: AsyncSession, user_id: uuid.UUID) -> list[SocialAccountOut]:
    rows = await session.scalars(select(SocialAccount).where(SocialAccount.user_id == user_id))
    return [SocialAccountOut.model_validate(a) for a in rows]


async def unlink_social(session: AsyncSession, user_id: uuid.UUID, account_id: uuid.UUID) -> None:
    account = await session.get(SocialAccount, account_id)
    if account is None or account.user_id != user_id:
        raise errors.ItemNotFound("No such linked account.")
    await session.delete(account)


# -- KYC --------------------------------------------------------------------------------------

_DOCUMENT_FORMATS = {
    "aadhaar": re.compile(r"^[2-9]\d{11}$"),
    "pan": re.compile(r"^[A-Z]{5}\d{4}[A-Z]$"),
    "passport": re.compile(r"^[A-Z]\d{7}$"),
    "driving_licence": re.compile(r"^[A-Z]{2}\d{2}[ -]?\d{11}$"),
    "voter_id": re.compile(r"^[A-Z]{3}\d{7}$"),
}
_PAN = _DOCUMENT_FORMATS["pan"]


async def submit_kyc(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                     data: KycIn) -> KycOut:
    number = data.document_number.replace(" ", "").upper()
    if not _DOCUMENT_FORMATS[data.document_type.value].match(number):
        raise InvalidInput(f"Not a valid {data.document_type.value} number.",
                           code="invalid_document_number", field="document_number")
    pan = data.pan.upper() if data.pan else None
    if pan is not None and not _PAN.match(pan):
        raise InvalidInput("Not a valid PAN.", code="invalid_pan", field="pan")
    if (data.bank_account is None) != (data.ifsc is None):
        raise InvalidInput("A bank account needs its IFSC, and an IFSC its account.",
                           code="invalid_bank_account", field="ifsc")
    pending = await session.scalar(select(KycRecord.id).where(
        KycRecord.user_id == user_id, KycRecord.status.in_(("pending", "verified"))))
    if pending is not None:
        raise errors.Taken("A KYC record is already pending or verified.", code="kyc_exists")
    ring = keyring(settings)
    record = KycRecord(
        user_id=user_id, document_type=data.document_type.value,
        document_number=ring.seal(number, context="kyc.document_number"),
        document_last4=number[-4:],
        pan=ring.seal(pan, context="kyc.pan") if pan else None,
        pan_last4=pan[-4:] if pan else None,
        bank_account=(ring.seal(data.bank_account, context="kyc.bank_account")
                      if data.bank_account else None),
        bank_account_last4=data.bank_account[-4:] if data.bank_account else None,
        ifsc=data.ifsc, upi_id=data.upi_id)
    session.add(record)
    await session.flush()
    await session.refresh(record)
    return kyc_out(record)


def kyc_out(record: KycRecord) -> KycOut:
    """Numbers are shown masked; only the last four characters are kept in clear."""
    return KycOut(
        id=record.id, user_id=record.user_id, document_type=record.document_type,
        document_number=mask("X" * 8 + record.document_last4),
        pan=mask("X" * 6 + record.pan_last4) if record.pan_last4 else None,
        bank_account=(mask("X" * 8 + record.bank_account_last4)
                      if record.bank_account_last4 else None),
        ifsc=record.ifsc, upi_id=record.upi_id, status=record.status, reason=record.reason,
        reviewed_at=record.reviewed_at, created_at=record.created_at)


async def my_kyc(session: AsyncSession, user_id: uuid.UUID) -> list[KycOut]:
    rows = await session.scalars(select(KycRecord).where(KycRecord.user_id == user_id)
                                 .order_by(KycRecord.created_at.desc()))
    return [kyc_out(r) for r in rows]


async def review_kyc(session: AsyncSession, record_id: uuid.UUID, reviewer: uuid.UUID,
                     verified: bool, reason: str | None) -> tuple[KycOut, KycOut]:
    """pending -> verified or rejected (with a reason); returns (before, after)."""
    record = await session.get(KycRecord, record_id, with_for_update=True)
    if record is None:
        raise errors.ItemNotFound("No such KYC record.")
    if record.status != "pending":
        raise errors.Taken(f"This record is already {record.status}.", code="kyc_reviewed")
    if not verified and not reason:
        raise InvalidInput("A rejection needs a reason.", field="reason")
    before = kyc_out(record)
    record.status = "verified" if verified else "rejected"
    record.reason, record.reviewed_by, record.reviewed_at = reason, reviewer, clock.now()
    await session.flush()
    return before, kyc_out(record)


async def list_kyc(session: AsyncSession, status: str | None, limit: int = 50) -> list[KycOut]:
    query = select(KycRecord).order_by(KycRecord.created_at).limit(limit)
    if status:
        query = query.where(KycRecord.status == status)
    return [kyc_out(r) for r in await session.scalars(query)]


# -- wallet -----------------------------------------------------------------------------------

async def wallet(session: AsyncSession, user_id: uuid.UUID) -> list[WalletBalanceOut]:
    """Every asset the user holds an account in, with posted, held and available."""
    ids = (await session.scalars(text(
        "SELECT id FROM ledger_accounts WHERE owner_type = 'user' AND owner_id = :u"
        " ORDER BY asset_code"), {"u": user_id})).all()
    out = []
    for account_id in ids:
        b = await ledger.balance(session, account_id)
        out.append(WalletBalanceOut(asset_code=b.asset_code, account_id=account_id,
                                    posted=b.posted, held=b.held, available=b.available,
                                    expiring_soon=b.expiring_soon))
    return out


async def wallet_account(session: AsyncSession, user_id: uuid.UUID, asset_code: str) -> uuid.UUID:
    account_id = await session.scalar(text(
        "SELECT id FROM ledger_accounts WHERE owner_type = 'user' AND owner_id = :u"
        " AND asset_code = :a AND purpose = 'main'"), {"u": user_id, "a": asset_code})
    if account_id is None:
        raise errors.ItemNotFound("No wallet in this asset.")
    return uuid.UUID(str(account_id))


# -- back office ------------------------------------------------------------------------------

async def find_users(session: AsyncSession, query: str | None, limit: int = 50) -> list[UserOut]:
    stmt = select(User).where(User.deleted_at.is_(None)).order_by(User.created_at.desc()).limit(limit)
    if query:
        q = query.strip()
        try:
            phone = normalize_phone(q)
        except errors.InvalidPhone:
            phone = None
        stmt = stmt.where((User.phone == phone) | (func.lower(User.email) == q.lower())
                          | (func.lower(User.username) == q.lower())
                          | (User.referral_code == q.upper()))
    return [UserOut.model_validate(u) for u in await session.scalars(stmt)]


async def adjust_wallet(session: AsyncSession, user_id: uuid.UUID, asset_code: str, amount: int,
                        reason: str, idempotency_key: str) -> Any:
    """An admin's correction of a user's wallet: a ledger transfer with the platform's
    issuance account, in either direction, carrying the reason."""
    from gullak.ledger.schemas import TransferIn

    if amount == 0:
        raise InvalidInput("An adjustment moves something.", code="invalid_amount",
                           field="amount")
    await get_user(session, user_id)
    wallet_ = await ledger.user_account(session, user_id, asset_code)
    issuance = await ledger.platform_account(session, asset_code, "issuance")
    source, target = (issuance, wallet_) if amount > 0 else (wallet_, issuance)
    return await ledger.transfer(session, TransferIn(
        debit_account_id=source.id, credit_account_id=target.id, asset_code=asset_code,
        amount=abs(amount), kind="adjust", reference_type="user", reference_id=str(user_id),
        metadata={"reason": reason}), idempotency_key=idempotency_key)
