"""Merchants commands and queries, the domain's public face: onboarding and affiliate tracking
here; outlets, merchant users and their sign-in, documents, bank accounts and commissions in
their own modules, reviews in reviews.py, pages and redirects in content.py and search in
search.py, all re-exported here. Services never commit; every write is audited in the caller's
transaction."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from gullak.identity import service as identity
from gullak.kit import audit, clock
from gullak.kit.browse import Browse, Page, page
from gullak.kit.errors import Forbidden, InvalidInput
from gullak.kit.security import Subject
from gullak.merchants import documents, errors, rules
from gullak.merchants.bank_accounts import (
    add_bank_account,
    bank_check,
    bank_out,
    get_bank_account,
    list_bank_accounts,
    PayoutDestination,
    payout_account,
    payout_destination,
    pending_bank_accounts,
    record_verification,
    retry_bank_account,
    verify_bank_account,
)
from gullak.merchants.commissions import (
    add_commission,
    commission_rate,
    delete_commission,
    list_commissions,
)
from gullak.merchants.common import as_json, merchant_out, merchant_row, merchant_view
from gullak.merchants.documents import (
    DOCUMENT_TYPES,
    add_document,
    document_out,
    list_documents,
    review_document,
)
from gullak.merchants.models import Merchant, Outlet
from gullak.merchants.outlets import (
    add_outlet,
    get_outlet,
    list_outlets,
    open_now,
    outlet_out,
    update_outlet,
)
from gullak.merchants.schemas import (
    MERCHANT_SELF_FIELDS,
    MerchantIn,
    MerchantOut,
    MerchantPage,
    MerchantPatch,
    Status,
    UserReviewOut,
)
from gullak.merchants.search import (
    SEARCH_TERMS,
    autocomplete,
    nearby,
    open_now_clause,
    search,
)
from gullak.merchants.users import (
    ROLE_PERMISSIONS,
    create_merchant_user,
    get_merchant_user,
    list_merchant_users,
    merchant_login,
    merchant_of,
    merchant_user_permissions,
    update_merchant_user,
    user_out,
)
from gullak.merchants import reviews
from gullak.merchants.models import Review
from gullak.merchants.reviews import review_out
from gullak.kit.errors import Conflict

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


# -- merchants --------------------------------------------------------------------------------

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
                       after=as_json(out))
    return out


async def get_merchant(session: AsyncSession, merchant_id: uuid.UUID) -> MerchantOut:
    return merchant_out(await merchant_row(session, merchant_id))


async def get_live_merchant(session: AsyncSession, merchant_id: uuid.UUID) -> MerchantOut:
    """A merchant the public may see; any other is not found."""
    merchant = await merchant_row(session, merchant_id)
    if merchant.status != "live":
        raise errors.MerchantNotFound()
    return merchant_out(merchant)


async def is_live(session: AsyncSession, merchant_id: uuid.UUID) -> bool:
    status = await session.scalar(select(Merchant.status).where(Merchant.id == merchant_id))
    return status == "live"


def listed(merchant_id: ColumnElement[Any] | InstrumentedAttribute[Any], *,
           min_rating: float | None = None,
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
    merchant = await merchant_row(session, merchant_id, lock=True)
    before = merchant_out(merchant)
    for name, value in values.items():
        setattr(merchant, name, value)
    _check_pan_in_gstin(merchant)
    await session.flush()
    await session.refresh(merchant)
    after = merchant_out(merchant)
    await audit.record(session, actor, "merchant.update", "merchant", str(merchant_id),
                       before=as_json(before), after=as_json(after))
    return after


async def settlement_schedules(session: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    """(merchant, settlement frequency) of every live merchant, for the settlement job."""
    rows = await session.execute(select(Merchant.id, Merchant.settlement_frequency)
                                 .where(Merchant.status == "live").order_by(Merchant.id))
    return [(merchant_id, frequency) for merchant_id, frequency in rows]


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
    merchant = await merchant_row(session, merchant_id, lock=True)
    if target not in TRANSITIONS[merchant.status]:
        raise errors.IllegalTransition(
            f"A {merchant.status} merchant cannot become {target}.",
            current=merchant.status, requested=target)
    reason = reason.strip() if reason else None
    if target in NEEDS_REASON and not reason:
        raise InvalidInput(f"Say why the merchant is {target}.", code="reason_required",
                           field="reason")
    if target == "documents_submitted" and not await documents.has_documents(session, merchant_id):
        raise errors.IllegalTransition("Upload at least one document first.",
                                       code="documents_missing")
    if target == "verified":
        await documents.check_documents_verified(session, merchant_id)
    before = merchant_out(merchant)
    merchant.status = target
    merchant.status_reason = reason
    if target == "live" and merchant.live_at is None:
        merchant.live_at = clock.now()
    await session.flush()
    await session.refresh(merchant)
    after = merchant_out(merchant)
    await audit.record(session, actor, f"merchant.status.{target}", "merchant",
                       str(merchant_id), before=as_json(before), after=as_json(after))
    return after


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


__all__ = [
    "add_bank_account", "add_commission", "add_document", "add_outlet", "autocomplete",
    "bank_check", "bank_out", "commission_rate", "create_merchant", "create_merchant_user",
    "delete_commission", "document_out", "DOCUMENT_TYPES", "get_bank_account", "get_live_merchant",
    "get_merchant", "get_merchant_user", "get_outlet", "is_live", "list_bank_accounts",
    "list_commissions", "list_documents", "list_merchant_users", "list_merchants", "list_outlets",
    "listed", "merchant_login", "merchant_of", "merchant_out", "merchant_view", "merchant_user_permissions",
    "nearby", "NEEDS_REASON", "open_now", "open_now_clause", "outlet_out", "payout_account",
    "payout_destination", "PayoutDestination",
    "pending_bank_accounts", "record_verification", "retry_bank_account", "settlement_schedules", "review_document",
    "ROLE_PERMISSIONS", "search", "SEARCH_TERMS", "set_status", "tracking_url", "TRANSITIONS",
    "update_merchant", "update_merchant_user", "update_outlet", "user_out", "verify_bank_account",
]


# -- console reads ----------------------------------------------------------------------------

async def browse_merchants(session: AsyncSession, browse: Browse, *, status: str | None = None,
                           city: str | None = None, q: str | None = None) -> Page:
    """A page of merchants for the console's table (kit.browse: sort by name, status or
    created_at), filtered like list_merchants; rows are MerchantOut."""
    query = select(Merchant)
    if status:
        query = query.where(Merchant.status == status)
    if city:
        query = query.where(Merchant.city == rules.normalize_city(city))
    if q:
        query = query.where(func.lower(Merchant.name).contains(q.lower(), autoescape=True))
    found = await page(session, query, browse, Merchant.id, {
        "name": Merchant.name, "status": Merchant.status, "created_at": Merchant.created_at})
    return Page([merchant_out(m) for m in found.rows], found.next_cursor)


async def merchant_names(session: AsyncSession,
                         merchant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Names of the merchants among `merchant_ids` (an unknown id is left out), so that other
    domains' lists can show who a row belongs to."""
    ids = list(dict.fromkeys(merchant_ids))
    if not ids:
        return {}
    rows = await session.execute(select(Merchant.id, Merchant.name).where(Merchant.id.in_(ids)))
    return {merchant_id: name for merchant_id, name in rows}


async def merchant_reviews(session: AsyncSession, merchant_id: uuid.UUID, *,
                           limit: int = 50) -> list[UserReviewOut]:
    """Every review of a merchant, hidden ones included, newest first (reviews.py)."""

    return await reviews.merchant_reviews(session, merchant_id, limit=limit)


async def queue_bank_verification(session: AsyncSession, account_id: uuid.UUID) -> None:
    """Enqueue the account's verification in the caller's transaction, as the API does after
    adding or retrying an account (the job runs once the transaction commits)."""
    from gullak.merchants import jobs
    from gullak.worker import enqueue

    await enqueue(session, jobs.verify_bank_account, account_id=str(account_id))


# -- merchant portal: reviews -----------------------------------------------------------------

async def browse_reviews(session: AsyncSession, merchant_id: uuid.UUID, browse: Browse, *,
                         answered: bool | None = None) -> Page:
    """A page of one merchant's reviews, hidden ones included, for its portal (kit.browse:
    sort by created_at or rating); `answered` keeps those with (or without) a response.
    Rows are UserReviewOut."""

    query = select(Review).where(Review.merchant_id == merchant_id)
    if answered is not None:
        query = query.where(Review.response.is_not(None) if answered
                            else Review.response.is_(None))
    found = await page(session, query, browse, Review.id,
                       {"created_at": Review.created_at, "rating": Review.rating})
    return Page([review_out(r) for r in found.rows], found.next_cursor)


async def respond_to_review(session: AsyncSession, merchant_id: uuid.UUID,
                            review_id: uuid.UUID, response: str,
                            actor: Subject) -> UserReviewOut:
    """The merchant's public answer to one of its reviews (reviews.respond: audited; another
    merchant's review is not found)."""

    return await reviews.respond(session, merchant_id, review_id, response, actor)


# -- console queues: onboarding and flagged reviews -------------------------------------------

# Onboarding waits on the platform in these: documents to check, or verified and not yet live.
ONBOARDING = ("documents_submitted", "verified")


async def browse_onboarding(session: AsyncSession, browse: Browse, *, status: str | None = None,
                            q: str | None = None) -> Page:
    """Merchants waiting on an onboarding decision (`status`: one of ONBOARDING, else both),
    a keyset page sortable by name or updated_at; rows are MerchantOut."""
    query = select(Merchant).where(Merchant.status.in_([status] if status else ONBOARDING))
    if q:
        query = query.where(func.lower(Merchant.name).contains(q.lower(), autoescape=True))
    found = await page(session, query, browse, Merchant.id,
                       {"name": Merchant.name, "updated_at": Merchant.updated_at})
    return Page([merchant_out(m) for m in found.rows], found.next_cursor)


async def count_onboarding(session: AsyncSession) -> int:
    found = await session.scalar(select(func.count()).select_from(Merchant).where(
        Merchant.status.in_(ONBOARDING)))
    return int(found or 0)


async def browse_flagged_reviews(session: AsyncSession, browse: Browse) -> Page:
    """Visible reviews users flagged since their last moderation, a keyset page sortable by
    flags or created_at; rows are UserReviewOut."""

    query = select(Review).where(Review.status == "visible", Review.flag_count > 0)
    found = await page(session, query, browse, Review.id,
                       {"flags": Review.flag_count, "created_at": Review.created_at})
    return Page([review_out(r) for r in found.rows], found.next_cursor)


async def count_flagged_reviews(session: AsyncSession) -> int:

    found = await session.scalar(select(func.count()).select_from(Review).where(
        Review.status == "visible", Review.flag_count > 0))
    return int(found or 0)


async def get_review(session: AsyncSession, review_id: uuid.UUID) -> UserReviewOut:

    return reviews.review_out(await reviews._review(session, review_id))


async def moderate_review(session: AsyncSession, review_id: uuid.UUID, action: str,
                          reason: str | None, actor: Subject | None) -> UserReviewOut:
    """Hide a visible review (with a reason) or restore a hidden one (reviews.moderate)."""

    return await reviews.moderate(session, review_id, action, reason, actor)


async def keep_review(session: AsyncSession, review_id: uuid.UUID, reason: str | None,
                      actor: Subject | None) -> UserReviewOut:
    """A moderator read the flags of a visible review and keeps it: its flag count starts
    again from zero (the flags themselves stay), so it leaves the flagged list. Audited."""

    review = await reviews._review(session, review_id, lock=True)
    if review.status != "visible" or review.flag_count == 0:
        raise Conflict("The review is not flagged.", code="review_status",
                       review_status=review.status)
    before = reviews.review_out(review)
    review.flag_count = 0
    review.moderation_reason = reason.strip() if reason else None
    review.moderated_by = actor.id if actor else None
    review.moderated_at = clock.now()
    await session.flush()
    await session.refresh(review)
    after = reviews.review_out(review)
    await audit.record(session, actor, "review.keep", "merchant_review", str(review_id),
                       before=before.model_dump(mode="json"), after=after.model_dump(mode="json"))
    return after
