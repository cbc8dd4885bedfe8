"""The unit of work: one transaction per request or job.

Whoever opens the unit commits it when the work returns and rolls it back on any error.
Services receive the session and never commit, so a command happens whole or not at all.

One exception: a refusal that must be remembered (a wrong OTP counts as an attempt, a rate
limit hit counts, a denied admin action is audited) raises an error with `keep_changes`; the
unit commits what was written before the refusal, then the error goes on to the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.kit.errors import GullakError


@asynccontextmanager
async def transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Run the unit on `session`: commit on return, roll back on error (see above)."""
    await session.begin()
    try:
        yield session
    except GullakError as exc:
        if exc.keep_changes:
            await session.commit()
        else:
            await session.rollback()
        raise
    except BaseException:
        await session.rollback()
        raise
    await session.commit()


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[AsyncSession]:
    async with db.sessionmaker() as session, transaction(session):
        yield session


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(request.app.state.db) as session:
        yield session


# scope="function": the commit runs when the endpoint returns and before the response is
# sent, so a failed commit becomes an error response instead of a 200 for lost work.
SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]
