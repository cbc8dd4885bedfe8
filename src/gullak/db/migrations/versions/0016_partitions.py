"""The ledger's transfers and the audit log are partitioned by month of their id (a UUID
version 7), from the oldest row's month to three months ahead; the daily job
`system.ensure_partitions` keeps making months ahead. Entry numbers (seq) stay one sequence
but their index is no longer unique, as a unique index must hold the partition key
(`gullak ledger verify` checks them), and is a BRIN index (see `keys`).

Each table is rebuilt the same way up and down: the old one renamed, the new one made like
it, its rows copied as they are (no posting trigger on the new table yet: ids, seq, times
and balances after stay), the old one dropped, then keys, indexes and triggers made again.
Grants on the old table are given on the new one; nothing else is granted.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gullak.db.migrate import SQL

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

MONTHS_AHEAD = 3

# Made before the rows are copied (none of them fires on INSERT), so that partitions made
# meanwhile copy the TRUNCATE ones.
GUARDS = {
    "ledger_transfers": [
        "CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON ledger_transfers"
        " FOR EACH ROW EXECUTE FUNCTION ledger_immutable()",
        "CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON ledger_transfers"
        " FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable()",
    ],
    "audit_log": [
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log"
        " FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
        " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
    ],
}


def keys(table: str, *, partitioned: bool) -> list[str]:
    """What a table gets once its rows are in: keys, indexes, then the posting trigger."""
    if table == "audit_log":
        return [
            "ALTER TABLE audit_log ADD CONSTRAINT pk_audit_log PRIMARY KEY (id)",
            "CREATE INDEX ix_audit_log_actor ON audit_log (actor_type, actor_id, at)",
            "CREATE INDEX ix_audit_log_at ON audit_log (at)",
            "CREATE INDEX ix_audit_log_entity ON audit_log (entity_type, entity_id, at)",
        ]
    # A unique index of a partitioned table must hold its partition key. Entries are appended
    # in seq order, so a BRIN index finds an entry by number; a btree would also offer the
    # planner seq order in each month, which it takes for an account's history in a month
    # where the account is rare and the cursor is past its entries (a scan of the whole month).
    seq = ("CREATE INDEX ix_ledger_transfers_seq ON ledger_transfers USING brin (seq)"
           if partitioned else
           "CREATE UNIQUE INDEX uq_ledger_transfers_seq ON ledger_transfers (seq)")
    return [
        "ALTER TABLE ledger_transfers ADD CONSTRAINT ledger_transfers_pkey PRIMARY KEY (id)",
        seq,
        "CREATE INDEX ix_ledger_transfers_debit ON ledger_transfers (debit_account_id, seq)",
        "CREATE INDEX ix_ledger_transfers_credit ON ledger_transfers (credit_account_id, seq)",
        "CREATE INDEX ix_ledger_transfers_reference ON ledger_transfers"
        " (reference_type, reference_id) WHERE reference_id IS NOT NULL",
        "CREATE INDEX ix_ledger_transfers_reverses ON ledger_transfers (reverses_id)"
        " WHERE reverses_id IS NOT NULL",
        "ALTER TABLE ledger_transfers ADD CONSTRAINT"
        " fk_ledger_transfers_reverses_id_ledger_transfers"
        " FOREIGN KEY (reverses_id) REFERENCES ledger_transfers (id)",
        "CREATE TRIGGER ledger_transfers_post BEFORE INSERT ON ledger_transfers"
        " FOR EACH ROW EXECUTE FUNCTION ledger_post_transfer()",
    ]


def rebuild(table: str, *, partitioned: bool) -> None:
    old = f"{table}_{'plain' if partitioned else 'partitioned'}"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
               f" INCLUDING STORAGE){' PARTITION BY RANGE (id)' if partitioned else ''}")
    for statement in GUARDS[table]:
        op.execute(statement)
    if partitioned:
        make_months(table, old)
    copy_grants(old, table)
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old}")  # fails, rather than drop them, if other tables refer to it
    for statement in keys(table, partitioned=partitioned):
        op.execute(statement)
    op.execute(f"ANALYZE {table}")  # autovacuum never analyzes a partitioned parent


def make_months(table: str, rows: str) -> None:
    """Every month from the oldest row's (or this one) to MONTHS_AHEAD months on; refuses rows
    whose id tells no month."""
    bind = op.get_bind()
    strays, oldest, newest = bind.execute(sa.text(
        f"SELECT count(*) FILTER (WHERE at IS NULL), min(at), max(at)"
        f" FROM (SELECT gullak_uuid7_time(id) AS at FROM {rows}) r")).one()
    if strays:
        raise RuntimeError(f"{table}: {strays} rows have an id that is not a UUID version 7, so"
                           " no month holds them; they cannot be partitioned by id")
    bind.execute(sa.text(
        "SELECT gullak_create_partitions(:t, coalesce(:oldest, now()),"
        " greatest(:newest, now() + make_interval(months => :ahead)))"),
        {"t": table, "oldest": oldest, "newest": newest, "ahead": MONTHS_AHEAD})


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
    op.execute((SQL / "0016_partitions.sql").read_text())
    for table in ("ledger_transfers", "audit_log"):
        rebuild(table, partitioned=True)


def downgrade() -> None:
    for table in ("ledger_transfers", "audit_log"):
        rebuild(table, partitioned=False)
    op.execute("DROP FUNCTION gullak_create_partitions(text, timestamptz, timestamptz),"
               " gullak_create_partition(text, timestamptz), gullak_uuid7(timestamptz),"
               " gullak_uuid7_time(uuid), gullak_uuid7_floor(timestamptz)")
    op.execute("DROP SCHEMA partitions")
