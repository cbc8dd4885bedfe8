"""Follows between users; friends are mutual follows."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.engagement import errors
from gullak.engagement.models import Follow
from gullak.engagement.schemas import FollowsOut, PersonOut
from gullak.engagement.scores import names
from gullak.identity import errors as identity_errors
from gullak.identity import service as identity
from gullak.kit import clock


async def follow(session: AsyncSession, user_id: uuid.UUID, other_id: uuid.UUID) -> None:
    """Idempotent: following someone already followed changes nothing."""
    if other_id == user_id:
        raise errors.CannotFollowSelf(field="user_id")
    try:
        await identity.get_user(session, other_id)
    except identity_errors.UserNotFound:
        raise errors.UserNotFound(field="user_id") from None
    await session.execute(insert(Follow).values(
        follower_id=user_id, followee_id=other_id, created_at=clock.now()).on_conflict_do_nothing())


async def unfollow(session: AsyncSession, user_id: uuid.UUID, other_id: uuid.UUID) -> None:
    await session.execute(delete(Follow).where(Follow.follower_id == user_id,
                                               Follow.followee_id == other_id))


async def friends(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    back = select(Follow.follower_id).where(Follow.followee_id == user_id)
    return list(await session.scalars(select(Follow.followee_id).where(
        Follow.follower_id == user_id, Follow.followee_id.in_(back))))


async def my_follows(session: AsyncSession, user_id: uuid.UUID, limit: int = 50) -> FollowsOut:
    following = (await session.execute(
        select(Follow.followee_id, Follow.created_at).where(Follow.follower_id == user_id)
        .order_by(Follow.created_at.desc(), Follow.followee_id).limit(limit))).all()
    followers = (await session.execute(
        select(Follow.follower_id, Follow.created_at).where(Follow.followee_id == user_id)
        .order_by(Follow.created_at.desc(), Follow.follower_id).limit(limit))).all()
    counts = {
        "following": select(func.count()).where(Follow.follower_id == user_id),
        "followers": select(func.count()).where(Follow.followee_id == user_id),
    }
    following_count = int(await session.scalar(counts["following"]) or 0)
    followers_count = int(await session.scalar(counts["followers"]) or 0)
    mutual = set(await friends(session, user_id))
    shown = await names(session, [u for u, _ in following] + [u for u, _ in followers])
    return FollowsOut(
        following_count=following_count, followers_count=followers_count,
        friends_count=len(mutual),
        following=[PersonOut(user_id=u, name=shown[u], since=t, friend=u in mutual)
                   for u, t in following],
        followers=[PersonOut(user_id=u, name=shown[u], since=t, friend=u in mutual)
                   for u, t in followers])
