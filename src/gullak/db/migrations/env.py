"""Alembic environment: online migrations over one connection, one transaction."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from gullak.db.migrate import include_name
from gullak.db.partitions import include_object
from gullak.domains import metadata


def run() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:  # set by gullak.db.migrate before every command
        raise RuntimeError("sqlalchemy.url is not set")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata(),
            include_name=include_name,
            include_object=include_object,
            compare_type=True,
            compare_server_default=True,
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
