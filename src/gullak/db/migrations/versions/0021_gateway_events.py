"""Gateway events partitioned by month of their id (a UUID version 7), as the ledger's
transfers and the audit log are (0016, gullak.db.partitions): from the oldest row's month to
three months ahead, the daily job `system.ensure_partitions` making the months after.

A unique index of a partitioned table must hold the partition key, so the unique
(provider, event_id) that made intake exactly-once moves to a small plain table,
`gateway_event_keys`, whose primary key it is and which names the event row it stands for.
The append-only trigger stays: what was received never changes; only `processed_at` and
`outcome` are written, once.

The table is rebuilt both ways as 0016 rebuilds its tables: the old one renamed, the new one
made like it, its rows copied as they are, the old one dropped, then keys, indexes and
triggers made again. Grants on the old table are given on the new one.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

MONTHS_AHEAD = 3

# The function gateway_events_append_only() of 0017 stays; the triggers are the table's.
GUARDS = [
    ("CREATE TRIGGER gateway_events_append_only BEFORE UPDATE OR DELETE ON gateway_events"
     " FOR EACH ROW EXECUTE FUNCTION gateway_events_append_only()"),
    ("CREATE TRIGGER gateway_events_no_truncate BEFORE TRUNCATE ON gateway_events"
     " FOR EACH STATEMENT EXECUTE FUNCTION gateway_events_append_only()"),
]
UNPROCESSED = ("CREATE INDEX ix_gateway_events_unprocessed ON gateway_events (id)"
               " WHERE processed_at IS NULL")


def rebuild(*, partitioned: bool) -> str:
    """The new gateway_events, rows copied, guards on; returns the old table's name, still
    there for the caller to read from and drop."""
    old = f"gateway_events_{'plain' if partitioned else 'partitioned'}"
    op.execute(f"ALTER TABLE gateway_events RENAME TO {old}")
    op.execute(f"CREATE TABLE gateway_events (LIKE {old} INCLUDING DEFAULTS INCLUDING"
               f" CONSTRAINTS INCLUDING STORAGE){' PARTITION BY RANGE (id)' if partitioned else ''}")
    # Before the rows (no trigger fires on INSERT), so that partitions made meanwhile copy
    # the TRUNCATE one.
    for statement in GUARDS:
        op.execute(statement)
    if partitioned:
        make_months(old)
    copy_grants(old, "gateway_events")
    op.execute(f"INSERT INTO gateway_events SELECT * FROM {old}")
    return old


def make_months(rows: str) -> None:
    """Every month from the oldest row's (or this one) to MONTHS_AHEAD months on; refuses rows
    whose id tells no month."""
    bind = op.get_bind()
    strays, oldest, newest = bind.execute(sa.text(
        f"SELECT count(*) FILTER (WHERE at IS NULL), min(at), max(at)"
        f" FROM (SELECT gullak_uuid7_time(id) AS at FROM {rows}) r")).one()
    if strays:
        raise RuntimeError(f"gateway_events: {strays} rows have an id that is not a UUID"
                           " version 7, so no month holds them; they cannot be partitioned by id")
    bind.execute(sa.text(
        "SELECT gullak_create_partitions('gateway_events', coalesce(:oldest, now()),"
        " greatest(:newest, now() + make_interval(months => :ahead)))"),
        {"oldest": oldest, "newest": newest, "ahead": MONTHS_AHEAD})


def copy_grants(source: str, target: str) -> None:
    rows = op.get_bind().execute(sa.text(
        "SELECT a.privilege_type, a.is_grantable,"
        " CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS grantee"
        " FROM pg_class c CROSS JOIN aclexplode(c.relacl) a"
        " LEFT JOIN pg_roles r ON r.oid = a.grantee"
        " WHERE c.oid = CAST(:t AS regclass) AND a.grantee <> c.relowner"), {"t": source})
    for privilege, grantable, grantee in rows:
        option = " WITH GRANT OPTION" if grantable else ""
        op.execute(f"GRANT {privilege} ON {target} TO {grantee}{option}")


def upgrade() -> None:
    old = rebuild(partitioned=True)
    op.create_table(
        "gateway_event_keys",
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("gateway_event_id", sa.UUID(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "event_id", name=op.f("pk_gateway_event_keys")),
    )
    copy_grants(old, "gateway_event_keys")
    op.execute(f"INSERT INTO gateway_event_keys (provider, event_id, gateway_event_id)"
               f" SELECT provider, event_id, id FROM {old}")
    op.execute(f"DROP TABLE {old}")  # its triggers and its unique key go with it
    op.execute("ALTER TABLE gateway_events ADD CONSTRAINT pk_gateway_events PRIMARY KEY (id)")
    op.execute(UNPROCESSED)
    op.create_foreign_key(op.f("fk_gateway_event_keys_gateway_event_id_gateway_events"),
                          "gateway_event_keys", "gateway_events", ["gateway_event_id"], ["id"])
    op.execute("ANALYZE gateway_events")  # autovacuum never analyzes a partitioned parent


def downgrade() -> None:
    old = rebuild(partitioned=False)
    # The keys held what the plain table's unique key holds again.
    op.drop_table("gateway_event_keys")
    op.execute(f"DROP TABLE {old}")  # with its partitions
    op.execute("ALTER TABLE gateway_events ADD CONSTRAINT pk_gateway_events PRIMARY KEY (id)")
    op.execute("ALTER TABLE gateway_events ADD CONSTRAINT uq_gateway_events_provider_event_id"
               " UNIQUE (provider, event_id)")
    op.execute(UNPROCESSED)
