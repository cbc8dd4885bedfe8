"""Requests whose database work stays inside the test's transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import request_session, transaction
from gullak.settings import Settings


def rolled_back_sessions(connection: AsyncConnection
                         ) -> Callable[[], AsyncIterator[AsyncSession]]:
    """An override of `request_session`: every request's unit of work runs on `connection`,
    its commits savepoint releases of the transaction that the test rolls back."""
    async def test_session() -> AsyncIterator[AsyncSession]:
        async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint",
                                expire_on_commit=False) as s, transaction(s):
            yield s

    return test_session


def rolled_back_app(settings: Settings, db: Database, connection: AsyncConnection) -> FastAPI:
    """The app, every request's unit of work inside the test's rolled-back transaction."""
    application = create_app(settings, db)
    application.dependency_overrides[request_session] = rolled_back_sessions(connection)
    return application
