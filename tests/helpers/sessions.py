"""Requests whose database work stays inside the test's transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.db.uow import transaction


def rolled_back_sessions(connection: AsyncConnection
                         ) -> Callable[[], AsyncIterator[AsyncSession]]:
    """An override of `request_session`: every request's unit of work runs on `connection`,
    its commits savepoint releases of the transaction that the test rolls back."""
    async def test_session() -> AsyncIterator[AsyncSession]:
        async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint",
                                expire_on_commit=False) as s, transaction(s):
            yield s

    return test_session
