"""Merchants commands and queries: onboarding, outlets, merchant users and their sign-in,
documents, bank accounts, commissions, affiliate tracking. Services never commit; every write
is audited in the caller's transaction. Reviews live in reviews.py, pages and redirects in
content.py, search in search.py (re-exported here for the search contract)."""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true, update
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.identity import service as identity
from gullak.identity.schemas import DeviceIn, TokensOut
from gullak.kit import audit, clock
from gullak.kit.crypto import mask
from gullak.kit.errors import Forbidden, InvalidInput
from gullak.kit.passwords import hash_password, verify_password
from gullak.kit.security import Subject
from gullak.merchants import banking, errors, rules
from gullak.merchants.models import (
    BankAccount,
    Commission,
    Document,
    Merchant,
    MerchantUser,
    Outlet,
)
from gullak.merchants.schemas import (
    MERCHANT_SELF_FIELDS,
    BankAccountIn,
    BankAccountOut,
    CommissionIn,
    CommissionOut,
    DocumentIn,
    DocumentOut,
    MerchantIn,
    MerchantOut,
    MerchantPage,
    MerchantPatch,
    MerchantUserIn,
    MerchantUserOut,
    OutletIn,
    OutletOut,
    Role,
    Status,
)
from gullak.merchants.search import (  # noqa: F401  (the search contract)
    SEARCH_TERMS,
    autocomplete,
    nearby,
    open_now_clause,
    search,
)
from gullak.settings import Settings
from gullak.system import service as system

LOGIN_LIMIT = (10, dt.timedelta(minutes=15))
MIN_PASSWORD = 10

# Onboarding: where each status may go next. Rejected merchants may apply again.
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"documents_submitted", "rejected"}),
    "documents_submitted": frozenset({"pending", "verified", "rejected"}),
    "verified": frozenset({"live", "rejected"}),
    "live": frozenset({"suspended"}),
    "suspended": frozenset({"live", "rejected"}),
    "rejected": frozenset({"pending"}),
}
NEEDS_REASON = frozenset({"rejected", "suspended"})

DOCUMENT_TYPES = frozenset({"gstin", "pan", "fssai", "shop_license", "cancelled_cheque",
                            "incorporation", "address_proof", "other"})

# What each merchant role may do; every merchant user also holds `merchant:<id>`.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "staff": frozenset({"merchant.read", "merchant.reviews.respond",
                        "merchant.redemptions.manage"}),
}
ROLE_PERMISSIONS["manager"] = ROLE_PERMISSIONS["staff"] | {
    "merchant.profile.manage", "merchant.outlets.manage", "merchant.documents.manage",
    "merchant.offers.manage", "merchant.catalog.manage"}
ROLE_PERMISSIONS["owner"] = ROLE_PERMISSIONS["manager"] | {
    "merchant.users.manage", "merchant.bank.manage"}


def _dump(value: Any) -> Any:
    return value.model_dump(mode="json") if value is not None else None


# -- merchants --------------------------------------------------------------------------------

async def _merchant(session: AsyncSession, merchant_id: uuid.UUID, *,
                    lock: bool = False) -> Merchant:
    merchant = await session.get(Merchant, merchant_id, with_for_update=lock or None,
                                 populate_existing=lock)
    if merchant is None:
        raise errors.MerchantNotFound()
    return merchant


def merchant_out(merchant: Merchant) -> MerchantOut:
    return MerchantOut.model_validate(merchant)


def _check_business(values: dict[str, Any]) -> dict[str, Any]:
    """Normalise and validate the fields that have format rules (only those present)."""
    out = dict(values)
    for name, normalize in (("gstin", rules.normalize_gstin), ("pan", rules.normalize_pan),
                            ("fssai", rules.normalize_fssai)):
        if out.get(name):
            out[name] = normalize(out[name])
    if out.get("tracking_url_template"):
        out["tracking_url_template"] = rules.check_tracking_template(out["tracking_url_template"])
    if "city" in out:
        out["city"] = rules.normalize_city(out["city"])
    if "tags" in out and out["tags"] is not None:
        out["tags"] = rules.normalize_tags(out["tags"])
        out["tags_text"] = " ".join(out["tags"])
    if "email" in out and out["email"]:
        out["email"] = identity.normalize_email(str(out["email"]))
    return out


def _check_pan_in_gstin(merchant: Merchant) -> None:
    # A GSTIN embeds the PAN of the business it belongs to (characters 3-12).
    if merchant.gstin and merchant.pan and merchant.gstin[2:12] != merchant.pan:
        raise errors.InvalidGstin("The GSTIN does not contain the merchant's PAN.",
                                  field="gstin")


async def _unique_slug(session: AsyncSession, name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "merchant"
    taken = set(await session.scalars(select(Merchant.slug).where(
        or_(Merchant.slug == base, Merchant.slug.like(f"{base}-%")))))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


async def create_merchant(session: AsyncSession, data: MerchantIn,
                          actor: Subject | None) -> MerchantOut:
    """A new merchant, pending onboarding."""
    values = _check_business(data.model_dump())
    merchant = Merchant(**values, slug=await _unique_slug(session, data.name), status="pending")
    _check_pan_in_gstin(merchant)
    session.add(merchant)
    await session.flush()
    await session.refresh(merchant)
    out = merchant_out(merchant)
    await audit.record(session, actor, "merchant.create", "merchant", str(merchant.id),
                       after=_dump(out))
    return out


async def get_merchant(session: AsyncSession, merchant_id: uuid.UUID) -> MerchantOut:
    return merchant_out(await _merchant(session, merchant_id))


async def get_live_merchant(session: AsyncSession, merchant_id: uuid.UUID) -> MerchantOut:
    """A merchant the public may see; any other is not found."""
    merchant = await _merchant(session, merchant_id)
    if merchant.status != "live":
        raise errors.MerchantNotFound()
    return merchant_out(merchant)


async def is_live(session: AsyncSession, merchant_id: uuid.UUID) -> bool:
    status = await session.scalar(select(Merchant.status).where(Merchant.id == merchant_id))
    return status == "live"


def listed(merchant_id: ColumnElement[Any] | InstrumentedAttribute[Any], *, min_rating: float | None = None,
           open_at: dt.datetime | None = None) -> ColumnElement[bool]:
    """For other domains' queries: whether the merchant of their `merchant_id` column is one
    the public sees (live), rated at least `min_rating`, and, with `open_at`, has an active
    outlet open then (the test the merchants' own open-now search makes)."""
    conditions = [Merchant.id == merchant_id, Merchant.status == "live"]
    if min_rating is not None:
        conditions.append(Merchant.rating_avg >= min_rating)
    if open_at is not None:
        conditions.append(select(Outlet.id).where(
            Outlet.merchant_id == Merchant.id, open_now_clause(open_at)).exists())
    return select(Merchant.id).where(*conditions).exists()


async def update_merchant(session: AsyncSession, merchant_id: uuid.UUID, patch: MerchantPatch,
                          actor: Subject | None, *, own: bool = False) -> MerchantOut:
    """Change the fields sent. `own`: a merchant's user editing its own profile, who may
    change only the public face of it (description, logo, contact, tags)."""
    sent = patch.model_dump(exclude_unset=True)
    if own and set(sent) - MERCHANT_SELF_FIELDS:
        field = sorted(set(sent) - MERCHANT_SELF_FIELDS)[0]
        raise Forbidden(f"Only the platform may change {field}.", code="field_not_allowed",
                        field=field)
    for required in ("name", "package_tier", "settlement_frequency", "commission_bps", "tags"):
        if required in sent and sent[required] is None:
            raise InvalidInput(f"{required} cannot be empty.", field=required)
    values = _check_business(sent)
    merchant = await _merchant(session, merchant_id, lock=True)
    before = merchant_out(merchant)
    for name, value in values.items():
        setattr(merchant, name, value)
    _check_pan_in_gstin(merchant)
    await session.flush()
    await session.refresh(merchant)
    after = merchant_out(merchant)
    await audit.record(session, actor, "merchant.update", "merchant", str(merchant_id),
                       before=_dump(before), after=_dump(after))
    return after


async def list_merchants(session: AsyncSession, *, status: str | None = None,
                         city: str | None = None, q: str | None = None, limit: int = 50,
                         cursor: uuid.UUID | None = None) -> MerchantPage:
    """Newest first (ids are time-ordered), `cursor` being the last id of the previous page."""
    query = select(Merchant).order_by(Merchant.id.desc()).limit(limit + 1)
    if status:
        query = query.where(Merchant.status == status)
    if city:
        query = query.where(Merchant.city == rules.normalize_city(city))
    if q:
        query = query.where(func.lower(Merchant.name).contains(q.lower(), autoescape=True))
    if cursor:
        query = query.where(Merchant.id < cursor)
    rows = list(await session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return MerchantPage(items=[merchant_out(m) for m in rows],
                        next_cursor=str(rows[-1].id) if more else None)


async def set_status(session: AsyncSession, merchant_id: uuid.UUID, status: Status | str,
                     reason: str | None, actor: Subject | None) -> MerchantOut:
    """One step of onboarding (see TRANSITIONS); rejecting and suspending need a reason."""
    target = Status(status).value
    merchant = await _merchant(session, merchant_id, lock=True)
    if target not in TRANSITIONS[merchant.status]:
        raise errors.IllegalTransition(
            f"A {merchant.status} merchant cannot become {target}.",
            current=merchant.status, requested=target)
    reason = reason.strip() if reason else None
    if target in NEEDS_REASON and not reason:
        raise InvalidInput(f"Say why the merchant is {target}.", code="reason_required",
                           field="reason")
    if target == "documents_submitted" and not await _has_documents(session, merchant_id):
        raise errors.IllegalTransition("Upload at least one document first.",
                                       code="documents_missing")
    if target == "verified":
        await _check_documents_verified(session, merchant_id)
    before = merchant_out(merchant)
    merchant.status = target
    merchant.status_reason = reason
    if target == "live" and merchant.live_at is None:
        merchant.live_at = clock.now()
    await session.flush()
    await session.refresh(merchant)
    after = merchant_out(merchant)
    await audit.record(session, actor, f"merchant.status.{target}", "merchant",
                       str(merchant_id), before=_dump(before), after=_dump(after))
    return after


async def _has_documents(session: AsyncSession, merchant_id: uuid.UUID) -> bool:
    found = await session.scalar(select(Document.id).where(
        Document.merchant_id == merchant_id, Document.status != "rejected").limit(1))
    return found is not None


async def _check_documents_verified(session: AsyncSession, merchant_id: uuid.UUID) -> None:
    rows = (await session.execute(select(Document.status, func.count()).where(
        Document.merchant_id == merchant_id).group_by(Document.status))).all()
    counts = {status: int(n) for status, n in rows}
    if counts.get("pending"):
        raise errors.IllegalTransition("Review every pending document first.",
                                       code="documents_pending")
    if not counts.get("verified"):
        raise errors.IllegalTransition("No document of this merchant is verified.",
                                       code="documents_missing")


def tracking_url(merchant: MerchantOut, click_id: str, user_id: uuid.UUID | str | None,
                 offer_id: uuid.UUID | str | None) -> str:
    """The merchant's affiliate link for one click, placeholders filled in and URL-encoded;
    the merchant's website when it has no template."""
    if not merchant.tracking_url_template:
        if merchant.website:
            return merchant.website
        raise errors.InvalidTrackingUrl("This merchant has no tracking URL or website.",
                                        code="no_tracking_url")
    return rules.fill_template(merchant.tracking_url_template, {
        "click_id": click_id, "user_id": str(user_id or ""), "offer_id": str(offer_id or ""),
        "merchant_id": str(merchant.id), "affiliate_id": merchant.affiliate_id or ""})


# -- outlets ----------------------------------------------------------------------------------

def outlet_out(outlet: Outlet) -> OutletOut:
    return OutletOut.model_validate(outlet)


def open_now(outlet: OutletOut | Outlet, at: dt.datetime | None = None) -> bool:
    """Whether the outlet is open at `at` (now by default) on its own wall clock."""
    if not outlet.active:
        return False
    hours = {day: [r if isinstance(r, dict) else r.model_dump() for r in ranges]
             for day, ranges in outlet.hours.items()}
    return rules.open_at(hours, outlet.timezone, at or clock.now())


def _outlet_values(data: OutletIn) -> dict[str, Any]:
    rules.check_coordinates(data.latitude, data.longitude)
    rules.zone(data.timezone)
    hours = rules.normalize_hours(data.hours)
    values = data.model_dump()
    values.update(
        hours=hours, city=rules.normalize_city(data.city),
        features=rules.normalize_tags(data.features),
        open_minutes=[Range(a, b, bounds="[)") for a, b in rules.week_intervals(hours)])
    return values


async def add_outlet(session: AsyncSession, merchant_id: uuid.UUID, data: OutletIn,
                     actor: Subject | None) -> OutletOut:
    values = _outlet_values(data)
    await _merchant(session, merchant_id)
    outlet = Outlet(merchant_id=merchant_id, **values)
    session.add(outlet)
    await session.flush()
    await session.refresh(outlet)
    out = outlet_out(outlet)
    await audit.record(session, actor, "outlet.create", "merchant_outlet", str(outlet.id),
                       after=_dump(out))
    return out


async def _outlet(session: AsyncSession, outlet_id: uuid.UUID,
                  merchant_id: uuid.UUID | None = None, *, lock: bool = False) -> Outlet:
    outlet = await session.get(Outlet, outlet_id, with_for_update=lock or None,
                               populate_existing=lock)
    if outlet is None or (merchant_id is not None and outlet.merchant_id != merchant_id):
        raise errors.OutletNotFound()
    return outlet


async def get_outlet(session: AsyncSession, outlet_id: uuid.UUID) -> OutletOut:
    return outlet_out(await _outlet(session, outlet_id))


async def update_outlet(session: AsyncSession, merchant_id: uuid.UUID, outlet_id: uuid.UUID,
                        data: OutletIn, actor: Subject | None) -> OutletOut:
    """Replace the outlet's details (an outlet of another merchant is not found)."""
    values = _outlet_values(data)
    outlet = await _outlet(session, outlet_id, merchant_id, lock=True)
    before = outlet_out(outlet)
    for name, value in values.items():
        setattr(outlet, name, value)
    await session.flush()
    await session.refresh(outlet)
    after = outlet_out(outlet)
    await audit.record(session, actor, "outlet.update", "merchant_outlet", str(outlet_id),
                       before=_dump(before), after=_dump(after))
    return after


async def list_outlets(session: AsyncSession, merchant_id: uuid.UUID, *,
                       active_only: bool = False) -> list[OutletOut]:
    await _merchant(session, merchant_id)
    query = select(Outlet).where(Outlet.merchant_id == merchant_id).order_by(Outlet.id)
    if active_only:
        query = query.where(Outlet.active)
    return [outlet_out(o) for o in await session.scalars(query)]


# -- merchant users ---------------------------------------------------------------------------

def merchant_of(subject: Subject) -> uuid.UUID | None:
    """The merchant a merchant user acts for (from its `merchant:<uuid>` permission)."""
    if subject.kind != "merchant_user":
        return None
    for permission in subject.permissions:
        if permission.startswith("merchant:"):
            try:
                return uuid.UUID(permission.removeprefix("merchant:"))
            except ValueError:
                return None
    return None


async def merchant_user_permissions(session: AsyncSession,
                                    merchant_user_id: uuid.UUID) -> set[str] | None:
    """The permissions of an active merchant user (None if it cannot act): its merchant as
    `merchant:<id>`, its role as `merchant.role:<role>`, and what the role allows."""
    row = (await session.execute(select(MerchantUser.merchant_id, MerchantUser.role).where(
        MerchantUser.id == merchant_user_id, MerchantUser.status == "active"))).first()
    if row is None:
        return None
    merchant_id, role = row
    return {f"merchant:{merchant_id}", f"merchant.role:{role}", *ROLE_PERMISSIONS[role]}


def user_out(user: MerchantUser) -> MerchantUserOut:
    return MerchantUserOut.model_validate(user)


async def create_merchant_user(session: AsyncSession, merchant_id: uuid.UUID,
                               data: MerchantUserIn, actor: Subject | None) -> MerchantUserOut:
    email = identity.normalize_email(str(data.email))
    if len(data.password) < MIN_PASSWORD:
        raise InvalidInput(f"Passwords need at least {MIN_PASSWORD} characters.",
                           code="weak_password", field="password")
    await _merchant(session, merchant_id)
    taken = await session.scalar(select(MerchantUser.id).where(
        func.lower(MerchantUser.email) == email.lower()))
    if taken is not None:
        raise errors.EmailTaken(field="email")
    user = MerchantUser(merchant_id=merchant_id, email=email, name=data.name.strip(),
                        role=data.role.value, password_hash=hash_password(data.password))
    session.add(user)
    await session.flush()
    await session.refresh(user)
    out = user_out(user)
    await audit.record(session, actor, "merchant_user.create", "merchant_user", str(user.id),
                       after=_dump(out))
    return out


async def list_merchant_users(session: AsyncSession,
                              merchant_id: uuid.UUID) -> list[MerchantUserOut]:
    await _merchant(session, merchant_id)
    rows = await session.scalars(select(MerchantUser).where(
        MerchantUser.merchant_id == merchant_id).order_by(MerchantUser.id))
    return [user_out(u) for u in rows]


async def get_merchant_user(session: AsyncSession, user_id: uuid.UUID) -> MerchantUserOut:
    user = await session.get(MerchantUser, user_id)
    if user is None:
        raise errors.MerchantUserNotFound()
    return user_out(user)


async def update_merchant_user(session: AsyncSession, merchant_id: uuid.UUID,
                               user_id: uuid.UUID, *, role: Role | None, status: str | None,
                               actor: Subject | None) -> MerchantUserOut:
    """Change a user's role or status; a merchant keeps at least one active owner, and a
    disabled user's sessions end."""
    await _merchant(session, merchant_id, lock=True)  # one change of owners at a time
    user = await session.get(MerchantUser, user_id, with_for_update=True)
    if user is None or user.merchant_id != merchant_id:
        raise errors.MerchantUserNotFound()
    before = user_out(user)
    new_role = role.value if role else user.role
    new_status = status or user.status
    if user.role == "owner" and user.status == "active" and (
            new_role != "owner" or new_status != "active"):
        owners = await session.scalar(select(func.count()).where(
            MerchantUser.merchant_id == merchant_id, MerchantUser.role == "owner",
            MerchantUser.status == "active"))
        if (owners or 0) <= 1:
            raise errors.LastOwner()
    user.role, user.status = new_role, new_status
    if new_status != "active" and before.status == "active":
        await identity.revoke_all(session, "merchant_user", user_id, reason="disabled")
    await session.flush()
    await session.refresh(user)
    after = user_out(user)
    await audit.record(session, actor, "merchant_user.update", "merchant_user", str(user_id),
                       before=_dump(before), after=_dump(after))
    return after


async def merchant_login(session: AsyncSession, settings: Settings, email: str, password: str,
                         device: DeviceIn, client: identity.Client) -> TokensOut:
    """Email and password; one vague refusal for any mistake, and attempts are limited."""
    key = email.strip().lower()
    await system.hit(session, f"merchant-login:{key}", limit=LOGIN_LIMIT[0],
                     window=LOGIN_LIMIT[1])
    user = await session.scalar(select(MerchantUser).where(
        func.lower(MerchantUser.email) == key))
    if user is None:
        # Spend the same work as a real check, so timing does not reveal who exists.
        verify_password(_dummy_hash(), password)
        raise errors.LoginFailed()
    ok, rehashed = verify_password(user.password_hash, password)
    if not ok:
        raise errors.LoginFailed()
    if user.status != "active":
        raise errors.LoginFailed("This account is disabled.", keep_changes=False)
    if rehashed:
        user.password_hash = rehashed
    user.last_login_at = clock.now()
    return await identity.start_session(session, settings, "merchant_user", user.id, device,
                                        client)


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not the password of anyone")


# -- documents --------------------------------------------------------------------------------

def document_out(document: Document) -> DocumentOut:
    return DocumentOut.model_validate(document)


async def add_document(session: AsyncSession, merchant_id: uuid.UUID, data: DocumentIn,
                       actor: Subject | None) -> DocumentOut:
    kind = data.document_type.strip().lower()
    if kind not in DOCUMENT_TYPES:
        raise InvalidInput(f"Document types: {', '.join(sorted(DOCUMENT_TYPES))}.",
                           code="invalid_document_type", field="document_type")
    number = data.number.strip() if data.number else None
    checks = {"gstin": rules.normalize_gstin, "pan": rules.normalize_pan,
              "fssai": rules.normalize_fssai}
    if kind in checks:
        if not number:
            raise InvalidInput("This document needs its number.", field="number")
        try:
            number = checks[kind](number)
        except InvalidInput as exc:
            exc.field = "number"
            raise
    await _merchant(session, merchant_id)
    document = Document(merchant_id=merchant_id, document_type=kind, number=number,
                        file_url=data.file_url.strip())
    session.add(document)
    await session.flush()
    await session.refresh(document)
    out = document_out(document)
    await audit.record(session, actor, "merchant_document.create", "merchant_document",
                       str(document.id), after=_dump(out))
    return out


async def list_documents(session: AsyncSession, merchant_id: uuid.UUID) -> list[DocumentOut]:
    await _merchant(session, merchant_id)
    rows = await session.scalars(select(Document).where(Document.merchant_id == merchant_id)
                                 .order_by(Document.id))
    return [document_out(d) for d in rows]


async def review_document(session: AsyncSession, merchant_id: uuid.UUID,
                          document_id: uuid.UUID, verified: bool, reason: str | None,
                          actor: Subject | None) -> DocumentOut:
    """pending -> verified, or rejected with a reason."""
    document = await session.get(Document, document_id, with_for_update=True)
    if document is None or document.merchant_id != merchant_id:
        raise errors.DocumentNotFound()
    if document.status != "pending":
        raise errors.AlreadyReviewed(f"This document is already {document.status}.")
    reason = reason.strip() if reason else None
    if not verified and not reason:
        raise InvalidInput("A rejection needs a reason.", code="reason_required",
                           field="reason")
    before = document_out(document)
    document.status = "verified" if verified else "rejected"
    document.reason = reason
    document.reviewed_by = actor.id if actor else None
    document.reviewed_at = clock.now()
    await session.flush()
    await session.refresh(document)
    after = document_out(document)
    await audit.record(session, actor, f"merchant_document.{document.status}",
                       "merchant_document", str(document_id), before=_dump(before),
                       after=_dump(after))
    return after


# -- bank accounts ----------------------------------------------------------------------------

_SEAL_CONTEXT = "merchant_bank_accounts.account_number"


def bank_out(account: BankAccount) -> BankAccountOut:
    """The account number masked; only its last four digits are kept in clear."""
    return BankAccountOut(
        id=account.id, merchant_id=account.merchant_id, account_holder=account.account_holder,
        account_number=mask("X" * 8 + account.account_last4), ifsc=account.ifsc,
        bank_name=account.bank_name, primary=account.is_primary, status=account.status,
        verified_name=account.verified_name, failure_reason=account.failure_reason,
        provider=account.provider, verified_at=account.verified_at,
        created_at=account.created_at)


async def add_bank_account(session: AsyncSession, settings: Settings, merchant_id: uuid.UUID,
                           data: BankAccountIn, actor: Subject | None) -> BankAccountOut:
    """A pending account; the caller enqueues its verification (see jobs.verify_bank_account).
    A primary account replaces the previous primary one."""
    number = rules.normalize_account_number(data.account_number)
    ifsc = rules.normalize_ifsc(data.ifsc)
    await _merchant(session, merchant_id, lock=True)
    if data.primary:
        await session.execute(update(BankAccount).where(
            BankAccount.merchant_id == merchant_id, BankAccount.is_primary)
            .values(is_primary=False))
    account = BankAccount(
        merchant_id=merchant_id, account_holder=data.account_holder.strip(),
        account_number=identity.keyring(settings).seal(number, context=_SEAL_CONTEXT),
        account_last4=number[-4:], ifsc=ifsc,
        bank_name=data.bank_name.strip() if data.bank_name else None,
        is_primary=data.primary)
    session.add(account)
    await session.flush()
    await session.refresh(account)
    out = bank_out(account)
    await audit.record(session, actor, "merchant_bank_account.create", "merchant_bank_account",
                       str(account.id), after=_dump(out))
    return out


async def _bank_account(session: AsyncSession, account_id: uuid.UUID,
                        merchant_id: uuid.UUID | None = None, *,
                        lock: bool = False) -> BankAccount:
    account = await session.get(BankAccount, account_id, with_for_update=lock or None,
                                populate_existing=lock)
    if account is None or (merchant_id is not None and account.merchant_id != merchant_id):
        raise errors.BankAccountNotFound()
    return account


async def get_bank_account(session: AsyncSession, account_id: uuid.UUID,
                           merchant_id: uuid.UUID | None = None) -> BankAccountOut:
    return bank_out(await _bank_account(session, account_id, merchant_id))


async def list_bank_accounts(session: AsyncSession,
                             merchant_id: uuid.UUID) -> list[BankAccountOut]:
    await _merchant(session, merchant_id)
    rows = await session.scalars(select(BankAccount).where(
        BankAccount.merchant_id == merchant_id).order_by(BankAccount.id.desc()))
    return [bank_out(a) for a in rows]


async def payout_account(session: AsyncSession, merchant_id: uuid.UUID) -> BankAccountOut | None:
    """The account settlements go to: the primary one, once verified."""
    account = await session.scalar(select(BankAccount).where(
        BankAccount.merchant_id == merchant_id, BankAccount.is_primary,
        BankAccount.status == "verified"))
    return bank_out(account) if account else None


async def bank_check(session: AsyncSession, settings: Settings,
                     account_id: uuid.UUID) -> banking.Check | None:
    """What the verifier needs, for a pending account (None once it is decided)."""
    account = await _bank_account(session, account_id)
    if account.status != "pending":
        return None
    number = identity.keyring(settings).open(account.account_number, context=_SEAL_CONTEXT)
    merchant = await _merchant(session, account.merchant_id)
    return banking.Check(account_number=number, ifsc=account.ifsc,
                         holder=account.account_holder, phone=merchant.phone)


async def record_verification(session: AsyncSession, account_id: uuid.UUID,
                              result: banking.Result) -> BankAccountOut:
    """Store the verifier's answer on a still-pending account (a later answer is ignored)."""
    account = await _bank_account(session, account_id, lock=True)
    if account.status != "pending":
        return bank_out(account)
    before = bank_out(account)
    account.provider, account.provider_ref = result.provider, result.reference
    account.verified_name = result.name_at_bank
    if result.outcome == "verified":
        account.status, account.verified_at, account.failure_reason = "verified", clock.now(), None
    elif result.outcome == "failed":
        account.status, account.failure_reason = "failed", result.reason
    else:
        account.failure_reason = result.reason
    await session.flush()
    await session.refresh(account)
    after = bank_out(account)
    if after.status != before.status:
        await audit.record(session, None, f"merchant_bank_account.{after.status}",
                           "merchant_bank_account", str(account_id), before=_dump(before),
                           after=_dump(after))
    return after


async def verify_bank_account(db: Database, settings: Settings, account_id: uuid.UUID,
                              verifier: banking.Verifier) -> BankAccountOut | None:
    """Ask the provider with no transaction open (it may take seconds), then record."""
    async with unit_of_work(db) as session:
        check = await bank_check(session, settings, account_id)
    if check is None:
        return None
    result = await verifier.verify(check)
    async with unit_of_work(db) as session:
        return await record_verification(session, account_id, result)


async def retry_bank_account(session: AsyncSession, merchant_id: uuid.UUID,
                             account_id: uuid.UUID, actor: Subject | None) -> BankAccountOut:
    """A failed account back to pending, for another verification attempt."""
    account = await _bank_account(session, account_id, merchant_id, lock=True)
    before = bank_out(account)
    if account.status == "failed":
        account.status, account.failure_reason = "pending", None
        await session.flush()
        await session.refresh(account)
    after = bank_out(account)
    await audit.record(session, actor, "merchant_bank_account.reverify",
                       "merchant_bank_account", str(account_id), before=_dump(before),
                       after=_dump(after))
    return after


async def pending_bank_accounts(session: AsyncSession, *, older_than: dt.timedelta,
                                limit: int = 100) -> list[uuid.UUID]:
    rows = await session.scalars(select(BankAccount.id).where(
        BankAccount.status == "pending",
        BankAccount.updated_at < clock.now() - older_than).order_by(BankAccount.id).limit(limit))
    return list(rows)


# -- commissions ------------------------------------------------------------------------------

async def add_commission(session: AsyncSession, merchant_id: uuid.UUID, data: CommissionIn,
                         actor: Subject | None) -> CommissionOut:
    """A rate for a window; windows of one merchant and category never overlap."""
    if data.valid_from.tzinfo is None or (data.valid_until and data.valid_until.tzinfo is None):
        raise InvalidInput("Give times with their UTC offset.", field="valid_from")
    if data.valid_until is not None and data.valid_until <= data.valid_from:
        raise InvalidInput("The window must end after it starts.", code="invalid_window",
                           field="valid_until")
    # The merchant row lock serialises commission changes, so the overlap check holds.
    await _merchant(session, merchant_id, lock=True)
    same_category = (Commission.category_id == data.category_id if data.category_id
                     else Commission.category_id.is_(None))
    overlapping = await session.scalar(select(Commission.id).where(
        Commission.merchant_id == merchant_id, same_category,
        or_(Commission.valid_until.is_(None), Commission.valid_until > data.valid_from),
        Commission.valid_from < data.valid_until if data.valid_until else true()).limit(1))
    if overlapping is not None:
        raise errors.CommissionOverlap(overlapping=str(overlapping))
    commission = Commission(merchant_id=merchant_id, **data.model_dump())
    session.add(commission)
    await session.flush()
    await session.refresh(commission)
    out = CommissionOut.model_validate(commission)
    await audit.record(session, actor, "merchant_commission.create", "merchant_commission",
                       str(commission.id), after=_dump(out))
    return out


async def list_commissions(session: AsyncSession, merchant_id: uuid.UUID) -> list[CommissionOut]:
    await _merchant(session, merchant_id)
    rows = await session.scalars(select(Commission).where(
        Commission.merchant_id == merchant_id).order_by(Commission.valid_from.desc()))
    return [CommissionOut.model_validate(c) for c in rows]


async def delete_commission(session: AsyncSession, merchant_id: uuid.UUID,
                            commission_id: uuid.UUID, actor: Subject | None) -> None:
    commission = await session.get(Commission, commission_id)
    if commission is None or commission.merchant_id != merchant_id:
        raise errors.CommissionNotFound()
    before = CommissionOut.model_validate(commission)
    await session.delete(commission)
    await session.flush()
    await audit.record(session, actor, "merchant_commission.delete", "merchant_commission",
                       str(commission_id), before=_dump(before))


async def commission_rate(session: AsyncSession, merchant_id: uuid.UUID,
                          category_id: uuid.UUID | None, at: dt.datetime | None = None) -> int:
    """The commission in basis points at `at`: the category's own rate, else the merchant's
    rate for all categories in force then, else the merchant's standing rate."""
    at = at or clock.now()
    in_force = and_(Commission.merchant_id == merchant_id, Commission.valid_from <= at,
                    or_(Commission.valid_until.is_(None), Commission.valid_until > at))
    for category in ([category_id] if category_id else []) + [None]:
        same = (Commission.category_id == category if category
                else Commission.category_id.is_(None))
        rate = await session.scalar(select(Commission.rate_bps).where(in_force, same).limit(1))
        if rate is not None:
            return int(rate)
    return (await _merchant(session, merchant_id)).commission_bps
