"""Migrations: every one goes down and up again, and the models agree with them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from gullak.db import embedded, migrate, partitions
from gullak.db.engine import sqlalchemy_url
from gullak.domains import metadata


@pytest.fixture
def empty_url(server_url: str, run_id: str) -> Iterator[str]:
    name = f"gullak_test_{run_id}_migr"
    embedded.drop_database(server_url, name)
    embedded.ensure_database(server_url, name)
    yield embedded.with_database(server_url, name)
    embedded.drop_database(server_url, name)


def tables(url: str) -> set[str]:
    engine = create_engine(sqlalchemy_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_every_migration_downgrades_and_upgrades(empty_url: str) -> None:
    revisions = migrate.revisions()
    assert len(migrate.heads()) == 1, "migrations must form one line"
    migrate.upgrade(empty_url)
    assert migrate.current(empty_url) == migrate.heads()
    at_head = tables(empty_url)
    # Step down one revision at a time to the base, then back up.
    for expected in reversed(revisions[:-1]):
        migrate.downgrade(empty_url, "-1")
        assert migrate.current(empty_url) == {expected}
    migrate.downgrade(empty_url, "base")
    assert migrate.current(empty_url) == set()
    assert tables(empty_url) <= {"alembic_version"}
    migrate.upgrade(empty_url)
    assert tables(empty_url) == at_head


def test_models_match_migrations(database_url: str) -> None:
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"include_name": migrate.include_name,
                            "include_object": partitions.include_object, "compare_type": True,
                            "compare_server_default": True},
            )
            diff = compare_metadata(ctx, metadata())
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"
