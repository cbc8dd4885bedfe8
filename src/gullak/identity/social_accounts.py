"""Identities at other providers (Google, Apple...) linked to a user."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import errors
from gullak.identity.models import SocialAccount
from gullak.identity.schemas import SocialAccountOut
from gullak.identity.social import Verifier


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
