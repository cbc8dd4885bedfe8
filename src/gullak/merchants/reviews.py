"""User reviews of merchants: one per user per order, a merchant's response, flags by users
and moderation by admins. The merchant's rating aggregate counts visible reviews only and is
changed in the same transaction as the review, by one UPDATE (safe under concurrency)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import Numeric, and_, cast, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit, clock, events
from gullak.kit.errors import Conflict, InvalidInput
from gullak.kit.security import Subject
from gullak.merchants import errors
from gullak.merchants.models import Merchant, Outlet, Review, ReviewFlag
from gullak.merchants.schemas import PublicReviewOut, ReviewPage, UserReviewIn, UserReviewOut

MAX_SUB_RATINGS = 10

# Whether a user bought what an order id names: registered by the domain that owns orders.
# (session, user_id, merchant_id, order_id) -> bool
PurchaseCheck = Callable[[AsyncSession, uuid.UUID, uuid.UUID, str], Awaitable[bool]]
PURCHASE_CHECKS: list[PurchaseCheck] = []


def review_out(review: Review) -> UserReviewOut:
    return UserReviewOut.model_validate(review)


async def _bump_rating(session: AsyncSession, merchant_id: uuid.UUID, rating: int,
                       sign: int) -> None:
    """Add (sign 1) or remove (sign -1) one visible rating from the merchant's aggregate."""
    new_sum = Merchant.rating_sum + sign * rating
    new_count = Merchant.rating_count + sign
    await session.execute(update(Merchant).where(Merchant.id == merchant_id).values(
        rating_sum=new_sum, rating_count=new_count,
        rating_avg=func.coalesce(
            func.round(cast(new_sum, Numeric) / func.nullif(new_count, 0), 2), 0)))


async def _verified_purchase(session: AsyncSession, user_id: uuid.UUID,
                             merchant_id: uuid.UUID, order_id: str) -> bool:
    for check in PURCHASE_CHECKS:
        if await check(session, user_id, merchant_id, order_id):
            return True
    return False


async def create_review(session: AsyncSession, user_id: uuid.UUID, merchant_id: uuid.UUID,
                        data: UserReviewIn) -> UserReviewOut:
    """A user's review of a live merchant for one order."""
    for aspect, value in data.sub_ratings.items():
        if not aspect.strip() or len(aspect) > 40 or not 1 <= value <= 5:
            raise InvalidInput("Sub-ratings are named aspects rated 1 to 5.",
                               code="invalid_sub_rating", field="sub_ratings")
    merchant = await session.get(Merchant, merchant_id)
    if merchant is None or merchant.status != "live":
        raise errors.MerchantNotFound()
    if data.outlet_id is not None:
        outlet = await session.get(Outlet, data.outlet_id)
        if outlet is None or outlet.merchant_id != merchant_id:
            raise errors.OutletNotFound(field="outlet_id")
    order_id = data.order_id.strip()
    exists = await session.scalar(select(Review.id).where(Review.user_id == user_id,
                                                          Review.order_id == order_id))
    if exists is not None:
        raise errors.ReviewExists(field="order_id")
    review = Review(
        merchant_id=merchant_id, outlet_id=data.outlet_id, user_id=user_id, order_id=order_id,
        rating=data.rating, sub_ratings={k.strip().lower(): v for k, v in data.sub_ratings.items()},
        comment=data.comment.strip() if data.comment else None,
        verified_purchase=await _verified_purchase(session, user_id, merchant_id, order_id))
    try:
        async with session.begin_nested():
            session.add(review)
            await session.flush()
    except IntegrityError as exc:  # the same order reviewed at the same moment
        raise errors.ReviewExists(field="order_id") from exc
    await _bump_rating(session, merchant_id, review.rating, 1)
    await session.refresh(review)
    await session.refresh(merchant)  # the update expired its rating; handlers below read it
    await events.publish(session, "review.written", {  # rewards may pay for it
        "review_id": str(review.id), "user_id": str(user_id), "merchant_id": str(merchant_id),
        "order_id": order_id, "rating": review.rating,
        "verified_purchase": review.verified_purchase})
    return review_out(review)


async def _review(session: AsyncSession, review_id: uuid.UUID, *,
                  lock: bool = False) -> Review:
    review = await session.get(Review, review_id, with_for_update=lock or None,
                               populate_existing=lock)
    if review is None:
        raise errors.ReviewNotFound()
    return review


async def respond(session: AsyncSession, merchant_id: uuid.UUID, review_id: uuid.UUID,
                  response: str, actor: Subject) -> UserReviewOut:
    """The merchant's public answer (replacing an earlier one); another merchant's review is
    not found."""
    review = await _review(session, review_id, lock=True)
    if review.merchant_id != merchant_id:
        raise errors.ReviewNotFound()
    before = review_out(review)
    review.response, review.responded_by = response.strip(), actor.id
    review.responded_at = clock.now()
    await session.flush()
    await session.refresh(review)
    after = review_out(review)
    await audit.record(session, actor, "review.respond", "merchant_review", str(review_id),
                       before=before.model_dump(mode="json"), after=after.model_dump(mode="json"))
    return after


async def flag(session: AsyncSession, user_id: uuid.UUID, review_id: uuid.UUID,
               reason: str) -> UserReviewOut:
    """A user reports a visible review (once per user) for the moderators."""
    review = await _review(session, review_id, lock=True)
    if review.status != "visible":
        raise errors.ReviewNotFound()
    exists = await session.scalar(select(ReviewFlag.id).where(
        ReviewFlag.review_id == review_id, ReviewFlag.user_id == user_id))
    if exists is not None:
        raise errors.AlreadyFlagged()
    session.add(ReviewFlag(review_id=review_id, user_id=user_id, reason=reason.strip()))
    review.flag_count += 1
    await session.flush()
    await session.refresh(review)
    return review_out(review)


async def moderate(session: AsyncSession, review_id: uuid.UUID, action: str,
                   reason: str | None, actor: Subject | None) -> UserReviewOut:
    """Hide a visible review or restore a hidden one; the aggregate follows."""
    review = await _review(session, review_id, lock=True)
    wanted = {"hide": ("visible", "hidden"), "restore": ("hidden", "visible")}
    if action not in wanted:
        raise InvalidInput("The action is hide or restore.", field="action")
    current, target = wanted[action]
    if review.status != current:
        raise Conflict(f"The review is already {review.status}.", code="review_status",
                       review_status=review.status)
    reason = reason.strip() if reason else None
    if action == "hide" and not reason:
        raise InvalidInput("Say why the review is hidden.", code="reason_required",
                           field="reason")
    before = review_out(review)
    review.status, review.moderation_reason = target, reason
    review.moderated_by = actor.id if actor else None
    review.moderated_at = clock.now()
    await session.flush()
    await _bump_rating(session, review.merchant_id, review.rating,
                       -1 if target == "hidden" else 1)
    await session.refresh(review)
    after = review_out(review)
    await audit.record(session, actor, f"review.{action}", "merchant_review", str(review_id),
                       before=before.model_dump(mode="json"), after=after.model_dump(mode="json"))
    return after


def _cursor(created_at: dt.datetime, review_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{review_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, review_id = raw.partition("|")
        parsed = dt.datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, uuid.UUID(review_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("Not a cursor of this list.", code="invalid_cursor",
                           field="cursor") from exc


async def list_reviews(session: AsyncSession, merchant_id: uuid.UUID, *, limit: int = 20,
                       cursor: str | None = None) -> ReviewPage:
    """A merchant's visible reviews, newest first, by keyset."""
    query = (select(Review).where(Review.merchant_id == merchant_id, Review.status == "visible")
             .order_by(Review.created_at.desc(), Review.id.desc()).limit(limit + 1))
    if cursor:
        at, last = _read_cursor(cursor)
        query = query.where(or_(Review.created_at < at,
                                and_(Review.created_at == at, Review.id < last)))
    rows = list(await session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return ReviewPage(items=[PublicReviewOut.model_validate(r) for r in rows],
                      next_cursor=_cursor(rows[-1].created_at, rows[-1].id) if more else None)


async def merchant_reviews(session: AsyncSession, merchant_id: uuid.UUID, *,
                           limit: int = 50) -> list[UserReviewOut]:
    """Every review of a merchant, hidden ones included (for the merchant and admins)."""
    if await session.get(Merchant, merchant_id) is None:
        raise errors.MerchantNotFound()
    rows = await session.scalars(select(Review).where(Review.merchant_id == merchant_id)
                                 .order_by(Review.created_at.desc(), Review.id.desc())
                                 .limit(limit))
    return [review_out(r) for r in rows]


async def flagged_reviews(session: AsyncSession, *, limit: int = 50) -> list[UserReviewOut]:
    """Visible reviews that users flagged, most flagged first."""
    rows = await session.scalars(select(Review).where(Review.status == "visible",
                                                      Review.flag_count > 0)
                                 .order_by(Review.flag_count.desc(), Review.id).limit(limit))
    return [review_out(r) for r in rows]
