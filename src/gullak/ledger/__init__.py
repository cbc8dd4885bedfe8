"""The ledger: multi-asset double-entry transfers, holds, expiring lots and balances.

Only this package writes balances; every other domain moves value through `ledger.service`.
The database enforces the rules too (see migrations/sql/0003_ledger.sql): balances change
only through transfers and holds, user balances never go negative, entries never change.
"""
