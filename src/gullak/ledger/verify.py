"""`gullak ledger verify`: recompute everything the ledger keeps, from its entries.

Each check is one query that returns the offending rows (at most a sample of them) and how
many there are; an empty result means the invariant holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database

CHECKS: dict[str, str] = {
    "balance equals its entries": """
        WITH moves AS (
          SELECT debit_account_id AS account_id, debit_shard AS shard, -amount AS delta
          FROM ledger_transfers
          UNION ALL
          SELECT credit_account_id, credit_shard, amount FROM ledger_transfers
        ), sums AS (SELECT account_id, shard, sum(delta) AS total FROM moves GROUP BY 1, 2)
        SELECT b.account_id, b.shard, b.balance, COALESCE(s.total, 0) AS from_entries
        FROM ledger_balances b
        FULL JOIN sums s ON s.account_id = b.account_id AND s.shard = b.shard
        WHERE b.balance IS DISTINCT FROM COALESCE(s.total, 0) OR b.account_id IS NULL""",
    "every asset sums to zero": """
        SELECT a.asset_code, sum(b.balance) AS total
        FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
        GROUP BY a.asset_code HAVING sum(b.balance) <> 0""",
    "user and merchant balances are not negative": """
        SELECT account_id, shard, balance, held FROM ledger_balances
        WHERE NOT allow_negative AND (balance < 0 OR balance - held < 0)""",
    "held equals pending holds": """
        SELECT b.account_id, b.held, COALESCE(h.pending, 0) AS pending
        FROM (SELECT account_id, sum(held) AS held FROM ledger_balances GROUP BY 1) b
        LEFT JOIN (SELECT account_id, sum(amount) AS pending FROM ledger_holds
                   WHERE status = 'pending' GROUP BY 1) h ON h.account_id = b.account_id
        WHERE b.held <> COALESCE(h.pending, 0)""",
    "balance after each entry follows from the one before": """
        WITH sides AS (
          SELECT debit_account_id AS account_id, debit_shard AS shard, seq, -amount AS delta,
                 debit_balance_after AS after FROM ledger_transfers
          UNION ALL
          SELECT credit_account_id, credit_shard, seq, amount, credit_balance_after
          FROM ledger_transfers
        ), chained AS (
          SELECT *, lag(after, 1, 0::bigint) OVER w AS before
          FROM sides WINDOW w AS (PARTITION BY account_id, shard ORDER BY seq)
        )
        SELECT account_id, shard, seq, before, delta, after FROM chained
        WHERE before + delta <> after""",
    "entry times follow entry order on each balance row": """
        WITH sides AS (
          SELECT debit_account_id AS account_id, debit_shard AS shard, seq, created_at
          FROM ledger_transfers
          UNION ALL
          SELECT credit_account_id, credit_shard, seq, created_at FROM ledger_transfers
        ), chained AS (
          SELECT *, lag(created_at) OVER w AS before
          FROM sides WINDOW w AS (PARTITION BY account_id, shard ORDER BY seq)
        )
        SELECT account_id, shard, seq, before, created_at FROM chained
        WHERE created_at < before""",
    "transfers match their accounts' asset": """
        SELECT t.id, t.asset_code, d.asset_code AS debit_asset, c.asset_code AS credit_asset
        FROM ledger_transfers t
        LEFT JOIN ledger_accounts d ON d.id = t.debit_account_id
        LEFT JOIN ledger_accounts c ON c.id = t.credit_account_id
        WHERE d.asset_code IS DISTINCT FROM t.asset_code
           OR c.asset_code IS DISTINCT FROM t.asset_code""",
    "lots add up to the balance": """
        SELECT a.id, b.balance, COALESCE(l.remaining, 0) AS lots
        FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
        LEFT JOIN (SELECT account_id, sum(remaining) AS remaining FROM ledger_lots GROUP BY 1) l
          ON l.account_id = a.id
        WHERE a.lots AND b.balance <> COALESCE(l.remaining, 0)""",
    "lot reservations equal pending holds' reservations": """
        SELECT l.id, l.reserved, COALESCE(r.pending, 0) AS pending
        FROM ledger_lots l
        LEFT JOIN (SELECT hl.lot_id, sum(hl.amount) AS pending FROM ledger_hold_lots hl
                   JOIN ledger_holds h ON h.id = hl.hold_id AND h.status = 'pending'
                   GROUP BY 1) r ON r.lot_id = l.id
        WHERE l.reserved <> COALESCE(r.pending, 0)""",
    "captured holds match their capture transfers": """
        SELECT h.id, h.captured, COALESCE(t.moved, 0) AS moved
        FROM ledger_holds h
        LEFT JOIN (SELECT hold_id, sum(amount) AS moved FROM ledger_transfers
                   WHERE hold_id IS NOT NULL GROUP BY 1) t ON t.hold_id = h.id
        WHERE h.captured <> COALESCE(t.moved, 0)""",
    "reversals do not exceed what they reverse": """
        SELECT o.id, o.amount, sum(r.amount) AS reversed
        FROM ledger_transfers r JOIN ledger_transfers o ON o.id = r.reverses_id
        GROUP BY o.id, o.amount HAVING sum(r.amount) > o.amount""",
    # No index can hold this since transfers are partitioned by id (0016): one sequence gives
    # every number, and this check is what notices a number given twice.
    "entry numbers are unique": """
        SELECT seq, count(*) FROM ledger_transfers GROUP BY seq HAVING count(*) > 1""",
}
SAMPLE = 5


@dataclass
class CheckResult:
    name: str
    failures: int
    sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failures == 0


@dataclass
class Report:
    checks: list[CheckResult]
    transfers: int
    accounts: int

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


async def verify_database(db: Database) -> Report:
    """Every check on one snapshot, so concurrent posting cannot show a false difference."""
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with AsyncSession(bind=conn) as session, session.begin():
            await session.execute(text("SET TRANSACTION READ ONLY"))
            return await verify(session)


async def verify(session: AsyncSession) -> Report:
    """Every check, within the session's own transaction."""
    results = []
    for name, query in CHECKS.items():
        rows = (await session.execute(text(f"SELECT * FROM ({query}) q"))).mappings().all()
        results.append(CheckResult(name, len(rows), [dict(r) for r in rows[:SAMPLE]]))
    transfers = int(await session.scalar(text("SELECT count(*) FROM ledger_transfers")) or 0)
    accounts = int(await session.scalar(text("SELECT count(*) FROM ledger_accounts")) or 0)
    return Report(results, transfers, accounts)
