"""Orders: a placement's idempotency key claimed and its number drawn in one call.

`orders_claim(user, key)` takes the key's advisory lock (concurrent placements with one key
queue there), draws the next order number, and finds the order the key already made: three
round trips of every keyed placement in one. The order is looked for by a statement of its
own after the lock, so under READ COMMITTED it sees an order committed while it waited.

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE FUNCTION orders_claim(p_user uuid, p_key text, OUT serial bigint, OUT order_id uuid,
                             OUT request_hash text)
LANGUAGE plpgsql AS $$
BEGIN
  -- The lock kit.sql.xact_lock takes for the same name.
  PERFORM pg_advisory_xact_lock(hashtextextended('orders.place:' || p_user || ':' || p_key, 0));
  serial := nextval('order_numbers');
  SELECT o.id, o.request_hash INTO order_id, request_hash
    FROM orders o WHERE o.user_id = p_user AND o.idempotency_key = p_key;
END $$
""")


def downgrade() -> None:
    op.execute("DROP FUNCTION orders_claim(uuid, text)")
